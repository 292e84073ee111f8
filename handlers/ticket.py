"""After-sales tickets (售后) in private chat: a member opens one from My orders or with
/ticket_open, members, staff and the group's leader talk on it with /ticket_say (a photo with
that caption too), staff and leaders see the queue with /tickets and one ticket with /ticket,
and close it (handlers/ticket_resolve.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.myorders import MyOrderAction, MyOrderCallback
from handlers.views.text import (
    BackgroundSender,
    HandlerSettings,
)
from handlers.views.ticket import (
    TicketAction,
    TicketCallback,
    handles_tickets,
    hours_text,
    kinds_keyboard,
    new_ticket_text,
    queue_text,
    said_text,
    tell_member,
    ticket_error_text,
    ticket_for,
    ticket_text,
)
from models.ticket import TICKET_KINDS
from services.member import MemberView, get_member
from services.order import get_order
from services.role import staff_locales
from services.ticket import (
    AS_MEMBER,
    TicketError,
    TicketView,
    add_message,
    member_tickets,
    open_ticket,
    ticket_messages,
    ticket_queue,
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
    found = await ticket_for(message, session, member, settings, words[0], "ticket.view", clock())
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
    allowed, groups = await handles_tickets(
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
    found = await ticket_for(message, session, member, settings, words[0], "ticket.say", clock())
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
    await tell_member(session, i18n, notifier, said.ticket, render)
    await message.answer(_("Sent to the member on ticket #{id}.").format(id=ticket.id))
