"""After-sales tickets (售后) in private chat: a member opens one from My orders or with
/ticket_open, members, staff and the group's leader talk on it with /ticket_say (a photo with
that caption too), staff and leaders see the queue with /tickets and one ticket with /ticket,
and close it: /ticket_refund, /ticket_coupon (staff), /ticket_reship, /ticket_decline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter, refusal_text
from handlers.views.myorders import MyOrderAction, MyOrderCallback
from handlers.views.order import REFUND_BOOKED
from handlers.views.product import amount_error
from handlers.views.text import (
    BackgroundSender,
    CommitHook,
    HandlerSettings,
    RefundWaker,
    format_money,
    later,
)
from handlers.views.ticket import (
    TicketAction,
    TicketCallback,
    closed_text,
    hours_text,
    kinds_keyboard,
    new_ticket_text,
    queue_text,
    said_text,
    ticket_error_text,
    ticket_text,
)
from models.ticket import RESOLVED_DECLINED, RESOLVED_RESHIP, TICKET_KINDS
from services.audit import record_action
from services.member import MemberView, get_member
from services.order import get_order
from services.parsing import InvalidAmount, parse_amount
from services.role import Role, is_staff, led_communities, staff_locales
from services.ticket import (
    AS_LEADER,
    AS_MEMBER,
    AS_STAFF,
    Resolved,
    TicketError,
    TicketView,
    add_message,
    get_ticket,
    member_tickets,
    open_ticket,
    resolve_coupon,
    resolve_plain,
    resolve_refund,
    ticket_messages,
    ticket_queue,
    ticket_role,
)
from services.validation import number

router = Router(name="ticket")


async def _tell_handlers(
    session: AsyncSession,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    ticket: TicketView,
    render: Callable[[str], str],
    *,
    skip: int,
) -> None:
    """Tell every staff member and the order's leader, in their language, once committed (the
    update's notifier sends after the commit)."""
    recipients = dict(
        await staff_locales(
            session, owner_ids=settings.owner_ids, default_locale=settings.default_locale
        )
    )
    if ticket.leader_id is not None and ticket.leader_id not in recipients:
        leader = await get_member(session, ticket.leader_id)
        if leader is not None and leader.started:
            recipients[leader.id] = leader.locale
    for chat_id, locale in recipients.items():
        if chat_id == skip:
            continue
        with i18n.use_locale(locale):
            text = render(locale)
        notifier.send(chat_id, text)


async def _tell_member(
    session: AsyncSession,
    i18n: I18n,
    notifier: BackgroundSender,
    ticket: TicketView,
    render: Callable[[str], str],
) -> None:
    """Tell the ticket's member, in their language, once committed."""
    member = await get_member(session, ticket.member_id)
    if member is None or not member.started:
        return
    with i18n.use_locale(member.locale):
        text = render(member.locale)
    notifier.send(member.id, text)


async def _opened(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    now: datetime,
    *,
    order_id: int,
    kind: str,
    description: str,
) -> None:
    """Open the ticket, answer the member, and tell staff and the leader."""
    try:
        ticket = await open_ticket(
            session,
            order_id=order_id,
            member_id=member.id,
            kind=kind,
            description=description,
            now=now,
            answer_within=timedelta(hours=settings.ticket_answer_hours),
            resolve_within=timedelta(hours=settings.ticket_resolve_hours),
        )
    except TicketError as exc:
        await message.answer(ticket_error_text(exc))
        return
    order = await get_order(session, order_id)
    assert order is not None
    await _tell_handlers(
        session,
        settings,
        i18n,
        notifier,
        ticket,
        lambda locale: new_ticket_text(ticket, order, member, locale, settings.default_timezone),
        skip=member.id,
    )
    await message.answer(
        _(
            "🛟 Ticket #{id} opened on order #{order}. Staff or your leader answer within "
            "{hours}. Tell us more with /ticket_say {id} and your words; for damage, send "
            "photos with /ticket_say {id} as their caption."
        ).format(id=ticket.id, order=order_id, hours=hours_text(settings.ticket_answer_hours))
    )


async def _handles_tickets(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    action: str,
    now: datetime,
) -> tuple[bool, frozenset[int] | None]:
    """Whether the member works on tickets (staff, or a leader of a group now), audited, with
    the groups whose tickets they see (None: every group, for staff); anyone else is told the
    polite refusal."""
    staff = member.id in settings.owner_ids or await is_staff(session, member.id)
    groups = None if staff else await led_communities(session, member_id=member.id)
    allowed = staff or bool(groups)
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action=action,
        allowed=allowed,
        now=now,
        required_role=Role.LEADER.name.lower(),
    )
    if not allowed:
        await message.reply(
            refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
    return allowed, groups


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.TICKET))
async def ticket_button(
    query: CallbackQuery, callback_data: MyOrderCallback, session: AsyncSession, member: MemberView
) -> None:
    """Asks the member what is wrong with the order, a button per kind of problem."""
    order = await get_order(session, callback_data.id)
    if order is None or order.member_id != member.id:
        await query.answer(_("That is not one of your orders."), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            _("🛟 What is wrong with order #{id}?").format(id=order.id),
            reply_markup=kinds_keyboard(order.id),
        )


@router.callback_query(TicketCallback.filter(F.action == TicketAction.OPEN))
async def kind_button(
    query: CallbackQuery,
    callback_data: TicketCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Opens a ticket of the tapped kind on the order."""
    if not isinstance(query.message, Message):
        await query.answer()
        return
    await query.answer()
    await _opened(
        query.message,
        session,
        member,
        settings,
        i18n,
        notifier,
        clock(),
        order_id=callback_data.id,
        kind=callback_data.kind,
        description="",
    )


@router.message(Command("ticket_open"), PRIVATE)
async def open_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Opens a ticket: /ticket_open ORDER_ID KIND [what happened]."""
    words = (command.args or "").split(maxsplit=2)
    order_id = number(words[0]) if words else None
    if order_id is None or len(words) < 2 or words[1].lower() not in TICKET_KINDS:
        await message.answer(
            _(
                "Send /ticket_open ORDER_ID KIND and what happened, for example "
                "/ticket_open 12 damaged the box was crushed. KIND is one of: {kinds}."
            ).format(kinds=", ".join(TICKET_KINDS))
        )
        return
    await _opened(
        message,
        session,
        member,
        settings,
        i18n,
        notifier,
        clock(),
        order_id=order_id,
        kind=words[1].lower(),
        description=words[2] if len(words) > 2 else "",
    )


async def _ticket_for(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    word: str,
    action: str,
    now: datetime,
) -> tuple[TicketView, str] | None:
    """The ticket named by `word` and how the member may act on it; refused and audited when
    they may not (None)."""
    ticket_id = number(word)
    ticket = await get_ticket(session, ticket_id) if ticket_id is not None else None
    if ticket is None:
        await message.answer(_("There is no such ticket."))
        return None
    role = await ticket_role(
        session, ticket=ticket, member_id=member.id, owner_ids=settings.owner_ids
    )
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action=action,
        allowed=role is not None,
        now=now,
        detail=f"ticket #{ticket.id}",
    )
    if role is None:
        await message.answer(_("That ticket is not yours to see."))
        return None
    return ticket, role


@router.message(Command("ticket"), PRIVATE)
async def show_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    clock: Callable[[], datetime],
) -> None:
    """Shows a ticket with its messages (/ticket ID), or the member's own tickets (/ticket)."""
    words = (command.args or "").split()
    zone = member.timezone or settings.default_timezone
    if not words:
        mine = await member_tickets(session, member.id)
        await message.answer(
            queue_text(mine, locale, zone, clock(), own=True, reader=member.timezone)
        )
        return
    found = await _ticket_for(message, session, member, settings, words[0], "ticket.view", clock())
    if found is None:
        return
    ticket, _role = found
    order = await get_order(session, ticket.order_id)
    assert order is not None
    messages = await ticket_messages(session, ticket.id)
    names: dict[int, str] = {}
    for said in messages:
        if said.author_id not in names:
            author = await get_member(session, said.author_id)
            names[said.author_id] = author.display_name if author else str(said.author_id)
    await message.answer(
        ticket_text(ticket, order, messages, names, locale, zone, clock(), member.timezone)
    )
    for said in messages:
        if said.photo_file_id:
            await message.answer_photo(said.photo_file_id)


@router.message(Command("tickets"), PRIVATE)
async def queue_command(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    clock: Callable[[], datetime],
) -> None:
    """The queue of open tickets, the most urgent first: every group's for staff, their
    groups' for a leader."""
    allowed, groups = await _handles_tickets(
        message, session, member, settings, "ticket.queue", clock()
    )
    if not allowed:
        return
    tickets = await ticket_queue(session, communities=groups)
    zone = member.timezone or settings.default_timezone
    await message.answer(
        queue_text(tickets, locale, zone, clock(), own=False, reader=member.timezone)
    )


@router.message(Command("ticket_say"), PRIVATE)
async def say_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Adds a message (a photo with this caption too) to a ticket: /ticket_say ID TEXT."""
    words = (command.args or "").split(maxsplit=1)
    photo = message.photo[-1].file_id if message.photo else ""
    if not words or (len(words) < 2 and not photo):
        await message.answer(
            _(
                "Send /ticket_say TICKET_ID and your message, for example /ticket_say 3 the "
                "lid was broken; or send a photo with /ticket_say 3 as its caption."
            )
        )
        return
    found = await _ticket_for(message, session, member, settings, words[0], "ticket.say", clock())
    if found is None:
        return
    ticket, role = found
    try:
        said = await add_message(
            session,
            ticket_id=ticket.id,
            author_id=member.id,
            role=role,
            text=words[1] if len(words) > 1 else "",
            photo_file_id=photo,
            now=clock(),
        )
    except TicketError as exc:
        await message.answer(ticket_error_text(exc))
        return

    def render(locale: str) -> str:
        return said_text(said.ticket, member.display_name, said.message, role)

    if role == AS_MEMBER:
        await _tell_handlers(session, settings, i18n, notifier, said.ticket, render, skip=member.id)
        await message.answer(
            _("Added to ticket #{id}; staff and your leader are told.").format(id=ticket.id)
        )
        return
    await _tell_member(session, i18n, notifier, said.ticket, render)
    await message.answer(_("Sent to the member on ticket #{id}.").format(id=ticket.id))


async def _resolved(
    message: Message,
    session: AsyncSession,
    i18n: I18n,
    notifier: BackgroundSender,
    resolved: Resolved,
    currency: str,
) -> None:
    """Tell the member how their ticket ended, and the staff member or leader who closed it;
    a refund owed (paid back by hand) says so to both, as /refund does."""
    ticket = resolved.ticket
    owed = resolved.refund is not None and resolved.refund.star_charge_id is None

    def member_text(locale: str) -> str:
        text = closed_text(ticket, currency, locale)
        if owed:
            text += "\n" + _(REFUND_BOOKED).format(
                order=ticket.order_id, amount=format_money(ticket.amount, currency, locale)
            )
        return text

    await _tell_member(session, i18n, notifier, ticket, member_text)
    reply = (
        _("Ticket #{id} closed; the member is told:").format(id=ticket.id)
        + "\n"
        + closed_text(ticket, currency, i18n.current_locale)
    )
    if owed:
        reply += "\n" + _(
            "Refund of {amount} for order #{id} booked; the ledger shows it as owed to the "
            "member. Once they have their money back, send /refund_paid {id}. The group's "
            "leader may pay it from the cash they hold and send /refund_paid {id} in the group."
        ).format(
            amount=format_money(ticket.amount, currency, i18n.current_locale), id=ticket.order_id
        )
    await message.answer(reply)


async def _staff_ticket(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    word: str,
    action: str,
    now: datetime,
    *,
    leaders_too: bool,
) -> TicketView | None:
    found = await _ticket_for(message, session, member, settings, word, action, now)
    if found is None:
        return None
    ticket, role = found
    if role == AS_STAFF or (leaders_too and role == AS_LEADER):
        return ticket
    if role == AS_LEADER:
        await message.answer(_("Only the brand's staff can give money or coupons back."))
    else:
        await message.answer(_("Only the brand's staff or your leader can close a ticket."))
    return None


@router.message(Command("ticket_refund"), PRIVATE, RoleFilter(Role.STAFF, "ticket.refund"))
async def refund_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    i18n: I18n,
    notifier: BackgroundSender,
    refunder: RefundWaker,
    after_commit: CommitHook,
    clock: Callable[[], datetime],
) -> None:
    """Closes a ticket with a refund: /ticket_refund ID [AMOUNT] (the rest of the order when
    no amount)."""
    words = (command.args or "").split()
    if not words or len(words) > 2 or number(words[0]) is None:
        await message.answer(
            _(
                "Send /ticket_refund TICKET_ID for a refund of what is left paid on the order, "
                "or /ticket_refund TICKET_ID AMOUNT for part of it, for example "
                "/ticket_refund 3 10.50."
            )
        )
        return
    ticket = await _staff_ticket(
        message, session, member, settings, words[0], "ticket.refund", clock(), leaders_too=False
    )
    if ticket is None:
        return
    order = await get_order(session, ticket.order_id)
    assert order is not None
    amount = None
    if len(words) == 2:
        try:
            amount = parse_amount(
                words[1], order.currency, locale=locale, ceiling=settings.max_order_amount
            )
        except InvalidAmount as exc:
            await message.answer(amount_error(exc.reason))
            return
    try:
        resolved = await resolve_refund(
            session,
            ticket_id=ticket.id,
            actor_id=member.id,
            amount=amount,
            tier_currency=settings.tier_measure,
            now=clock(),
        )
    except TicketError as exc:
        await message.answer(ticket_error_text(exc))
        return
    refund = resolved.refund
    assert refund is not None
    if refund.star_charge_id is not None:  # the refunder sends the Stars back once committed
        after_commit.add(later(refunder.wake))
    await _resolved(message, session, i18n, notifier, resolved, order.currency)


@router.message(Command("ticket_coupon"), PRIVATE, RoleFilter(Role.STAFF, "ticket.coupon"))
async def coupon_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Closes a ticket with a coupon as compensation (先行赔付): /ticket_coupon ID CODE."""
    words = (command.args or "").split()
    if len(words) != 2 or number(words[0]) is None:
        await message.answer(
            _(
                "Send /ticket_coupon TICKET_ID COUPON_CODE, for example /ticket_coupon 3 SORRY10; "
                "staff make coupons with /coupon_new."
            )
        )
        return
    ticket = await _staff_ticket(
        message, session, member, settings, words[0], "ticket.coupon", clock(), leaders_too=False
    )
    if ticket is None:
        return
    try:
        resolved = await resolve_coupon(
            session, ticket_id=ticket.id, actor_id=member.id, code=words[1], now=clock()
        )
    except TicketError as exc:
        await message.answer(ticket_error_text(exc))
        return
    await _resolved(message, session, i18n, notifier, resolved, "")


async def _plain(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    now: datetime,
    resolution: str,
    usage: str,
) -> None:
    words = (command.args or "").split(maxsplit=1)
    if (
        not words
        or number(words[0]) is None
        or (resolution == RESOLVED_DECLINED and len(words) < 2)
    ):
        allowed, _groups = await _handles_tickets(
            message, session, member, settings, f"ticket.{resolution}", now
        )
        if allowed:
            await message.answer(usage)
        return
    ticket = await _staff_ticket(
        message, session, member, settings, words[0], f"ticket.{resolution}", now, leaders_too=True
    )
    if ticket is None:
        return
    role = await ticket_role(
        session, ticket=ticket, member_id=member.id, owner_ids=settings.owner_ids
    )
    try:
        resolved = await resolve_plain(
            session,
            ticket_id=ticket.id,
            actor_id=member.id,
            role=role or AS_STAFF,
            resolution=resolution,
            note=words[1] if len(words) > 1 else "",
            now=now,
        )
    except TicketError as exc:
        await message.answer(ticket_error_text(exc))
        return
    await _resolved(message, session, i18n, notifier, resolved, "")


@router.message(Command("ticket_reship"), PRIVATE)
async def reship_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Closes a ticket by sending the item again: /ticket_reship ID [NOTE]."""
    await _plain(
        message,
        command,
        session,
        member,
        settings,
        i18n,
        notifier,
        clock(),
        RESOLVED_RESHIP,
        _(
            "Send /ticket_reship TICKET_ID and, if you like, a note for the member, for "
            "example /ticket_reship 3 a new box is at Shop A from Friday."
        ),
    )


@router.message(Command("ticket_decline"), PRIVATE)
async def decline_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Closes a ticket with nothing owed, and the reason: /ticket_decline ID REASON."""
    await _plain(
        message,
        command,
        session,
        member,
        settings,
        i18n,
        notifier,
        clock(),
        RESOLVED_DECLINED,
        _(
            "Send /ticket_decline TICKET_ID and the reason the member reads, for example "
            "/ticket_decline 3 the seal is intact and the tea is as described."
        ),
    )
