"""Leaders' side of orders in a group: the pickup list (/orders) with its buttons, marking
a member's orders paid or picked up (/paid, /pickedup), and staff's refunds (/refund)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, OpenGroup, RoleFilter
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.labels import ORDER_STATUS, label
from handlers.views.member import ambiguous_text
from handlers.views.order import (
    REFUND_BOOKED,
    Marking,
    order_error_text,
    refund_part,
)
from handlers.views.pickup import for_whom_text
from handlers.views.reservation import (
    local_moment,
)
from handlers.views.text import (
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    RefundWaker,
    esc,
    esc_name,
    format_money,
    later,
)
from models.order import (
    ORDER_AWAITING_PAYMENT,
    ORDER_PAID,
    ORDER_RESERVED,
)
from models.product import PAYMENT_TELEGRAM
from services.community import CommunityView
from services.member import AmbiguousMember, MemberView, find_member, get_member
from services.order import (
    OrderError,
    OrderView,
    get_order,
    orders_of_member_in_chat,
    pickup_page,
)
from services.refund import refund_now
from services.reservation import recently_expired
from services.role import Role
from services.validation import number

router = Router(name="order_admin")


class OrderAction(StrEnum):
    PAID = "paid"
    PICKED = "picked"
    DONE = "done"  # nothing to do


class OrderCallback(CallbackData, prefix="ord"):
    """A button on the group's pickup list."""

    action: OrderAction
    order_id: CallbackId


class OrderPageCallback(CallbackData, prefix="ordp"):
    """A page button of the group's pickup list: go to `page`, from page `at` shown now."""

    page: int
    at: int


def order_line(order: OrderView, locale: str, i18n: I18n, name: str) -> str:
    status = label(ORDER_STATUS, order.status)
    return (
        f"#{order.id} {esc_name(name)} · {esc_name(order.title)} ×{order.quantity} · "
        f"{format_money(order.total, order.currency, locale)} · {status}"
        + for_whom_text(order.for_whom)
    )


PICKUP_PAGE = 10  # orders per page of the group's list


def order_row_button(order: OrderView, name: str) -> InlineKeyboardButton:
    """The one button of an order's row: what the order needs next, naming the member and the
    order, so a tap never lands on a neighbour's order."""
    if order.status in (ORDER_RESERVED, ORDER_AWAITING_PAYMENT):
        if order.payment_mode == PAYMENT_TELEGRAM:  # the member pays it with the invoice
            text, action = _("⏳ Pays by invoice · {name} #{id}"), OrderAction.DONE
        else:
            text, action = _("✅ Paid · {name} #{id}"), OrderAction.PAID
    elif order.status == ORDER_PAID:
        text, action = _("📦 Picked up · {name} #{id}"), OrderAction.PICKED
    else:
        text, action = _("✔️ Done · {name} #{id}"), OrderAction.DONE
    return InlineKeyboardButton(
        text=text.format(name=name[:24], id=order.id),
        callback_data=OrderCallback(action=action, order_id=order.id).pack(),
    )


async def pickup_list(
    session: AsyncSession,
    i18n: I18n,
    community: CommunityView,
    page: int = 0,
    order_ids: list[int] | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the group's pickup list: a line and a row of buttons per order.

    `order_ids`: the orders the page showed (after a tap), shown again in the same rows
    whatever happened to them meanwhile, so no button changes the order it names."""
    listing = await pickup_page(
        session, chat_id=community.id, offset=page * PICKUP_PAGE, limit=PICKUP_PAGE, ids=order_ids
    )
    pages = max(1, -(-listing.total // PICKUP_PAGE))
    if not listing.orders and page > 0 and not order_ids:  # fewer pages than when it was shown
        return await pickup_list(session, i18n, community, pages - 1)
    if not listing.orders:
        return _("No open orders in this group."), None
    page = min(page, pages - 1)
    lines = [_("<b>Orders in {title}</b>").format(title=esc_name(community.title))]
    if pages > 1:
        lines.append(
            _("Open orders: {count} · page {page} of {pages}").format(
                count=listing.total, page=page + 1, pages=pages
            )
        )
    builder = InlineKeyboardBuilder()
    for order in listing.orders:
        name = listing.names.get(order.member_id, str(order.member_id))
        lines.append(order_line(order, community.locale, i18n, name))
        builder.row(order_row_button(order, name))
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=_("◀ Back"), callback_data=OrderPageCallback(page=page - 1, at=page).pack()
            )
        )
    if page + 1 < pages:
        nav.append(
            InlineKeyboardButton(
                text=_("More ▶ {page} of {pages}").format(page=page + 2, pages=pages),
                callback_data=OrderPageCallback(page=page + 1, at=page).pack(),
            )
        )
    if nav:
        builder.row(*nav)
    return "\n".join(lines), builder.as_markup()


def listed_orders(markup: InlineKeyboardMarkup | None) -> tuple[list[int], int]:
    """The orders a pickup list's message shows, in its rows' order, and its page (read from
    its buttons)."""
    found: list[int] = []
    page = 0
    for row in markup.inline_keyboard if markup else []:
        for button in row:
            data = button.callback_data or ""
            if data.startswith(OrderCallback.__prefix__ + ":"):
                order_id = OrderCallback.unpack(data).order_id
                if order_id not in found:
                    found.append(order_id)
            elif data.startswith(OrderPageCallback.__prefix__ + ":"):
                page = OrderPageCallback.unpack(data).at
    return found, page


@router.message(Command("orders"), GROUP, RoleFilter(Role.LEADER, "order.list"))
async def orders_command(
    message: Message, session: AsyncSession, i18n: I18n, community: CommunityView
) -> None:
    """Shows the group's open orders with buttons to mark them paid and picked up."""
    text, keyboard = await pickup_list(session, i18n, community)
    await message.answer(text, reply_markup=keyboard)


async def _redraw_list(
    listing: Message,
    bot: Bot,
    session: AsyncSession,
    i18n: I18n,
    community: CommunityView,
    after_commit: CommitHook,
    page: int,
    order_ids: list[int] | None = None,
) -> None:
    """Edits the pickup list message in place with this page (of these orders), once the
    update commits."""
    text, keyboard = await pickup_list(session, i18n, community, page, order_ids)
    after_commit.add(
        partial(
            bot.edit_message_text,
            text=text,
            chat_id=community.id,
            message_id=listing.message_id,
            reply_markup=keyboard,
        )
    )


@router.callback_query(
    OrderCallback.filter(),
    F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
    OpenGroup(settling=True),
    RoleFilter(Role.LEADER, "order.mark"),
)
async def order_button(
    query: CallbackQuery,
    callback_data: OrderCallback,
    bot: Bot,
    session: AsyncSession,
    i18n: I18n,
    community: CommunityView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
    after_commit: CommitHook,
) -> None:
    """Marks the order a button names paid or picked up, then edits the list in place with
    the same orders in the same rows.

    The toast and the list's edit are carried out after the commit, each on its own: one that
    Telegram fails is counted and never stops the other, nor the member's notice."""
    if callback_data.action not in (OrderAction.PAID, OrderAction.PICKED):
        await query.answer(_("Nothing to do for this order."))
        return
    order = await get_order(session, callback_data.order_id)
    if order is None or order.chat_id != community.id:
        await query.answer(_("There is no such order in this group."), show_alert=True)
        return
    marking = Marking(settings, notifier, i18n, clock(), bot, after_commit)
    try:
        await marking.mark_one(session, callback_data.action, order.id, query.from_user.id)
    except OrderError as exc:
        await query.answer(order_error_text(exc.reason, exc.detail), show_alert=True)
        return
    after_commit.add(partial(query.answer, _("Done.")))
    if isinstance(query.message, Message):
        shown, page = listed_orders(query.message.reply_markup)
        await _redraw_list(
            query.message, bot, session, i18n, community, after_commit, page, shown or None
        )


@router.callback_query(
    OrderPageCallback.filter(),
    F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
    OpenGroup(settling=True),
    RoleFilter(Role.LEADER, "order.list"),
)
async def order_page(
    query: CallbackQuery,
    callback_data: OrderPageCallback,
    bot: Bot,
    session: AsyncSession,
    i18n: I18n,
    community: CommunityView,
    after_commit: CommitHook,
) -> None:
    """Turns the group's pickup list to another page, in place."""
    after_commit.add(partial(query.answer))
    if isinstance(query.message, Message):
        await _redraw_list(
            query.message, bot, session, i18n, community, after_commit, max(callback_data.page, 0)
        )


async def _mark_member(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    action: str,
    marking: Marking,
) -> MemberView | None:
    """Marks the member's orders here; the member, or None when nothing was marked. The
    leader's confirmation follows the commit through the notifier, so a passing failure of
    Telegram delays it instead of losing it."""
    target = await _whose_orders(message, command, session)
    if target is None:
        return None
    actor = message.from_user.id if message.from_user else 0
    if target.id == actor:
        await message.reply(order_error_text("own_order" if action == "paid" else "own_pickup"))
        return None
    statuses = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT) if action == "paid" else (ORDER_PAID,)
    orders = await orders_of_member_in_chat(
        session, chat_id=community.id, member_id=target.id, statuses=statuses
    )
    if action == "paid":  # Telegram orders are paid with their invoice, never by hand
        orders = [order for order in orders if order.payment_mode != PAYMENT_TELEGRAM]
    if not orders:
        await _reply_nothing_to_mark(message, session, community, target, action, marking.now)
        return None
    done: list[OrderView] = []
    for order in orders:
        try:
            done.append(await marking.mark(session, action, order.id, actor))
        except OrderError as exc:  # a limit on the leader: what was marked before it stays
            await message.reply(order_error_text(exc.reason, exc.detail))
            if not done:
                return None
            break
    if action == "picked":
        await marking.picked_up(session, target, done)
    ids = ", ".join(f"#{order.id}" for order in done)
    text = (
        _("Marked paid for {name}: {orders}.")
        if action == "paid"
        else _("Marked picked up for {name}: {orders}.")
    )
    marking.notifier.send(
        message.chat.id,
        text.format(name=esc(target.display_name), orders=ids),
        reply_parameters=ReplyParameters(
            message_id=message.message_id, allow_sending_without_reply=True
        ),
    )
    return target


async def _whose_orders(
    message: Message, command: CommandObject, session: AsyncSession
) -> MemberView | None:
    """The member named after the command or replied to; None once the refusal is replied."""
    reference = (command.args or "").split()
    reply = message.reply_to_message
    target = None
    if reference:
        try:
            target = await find_member(session, reference[0])
        except AmbiguousMember as exc:
            await message.reply(ambiguous_text(exc))
            return None
    elif reply is not None and reply.from_user is not None:
        target = await get_member(session, reply.from_user.id)
    if target is None:
        await message.reply(
            _("Tell me whose orders: /{command} @username, or reply to their message.").format(
                command=command.command
            )
        )
        return None
    return target


async def _reply_nothing_to_mark(
    message: Message,
    session: AsyncSession,
    community: CommunityView,
    target: MemberView,
    action: str,
    now: datetime,
) -> None:
    """Nothing of the member's waits for that mark: say so, naming a reservation that expired
    unpaid (its stock went back on sale) when there is one."""
    expired = (
        await recently_expired(session, chat_id=community.id, member_id=target.id, now=now)
        if action == "paid"
        else []
    )
    if expired and expired[0].expires_at is not None:
        await message.reply(
            _(
                "{name}'s reservation #{id} expired unpaid at {time}, and its stock went "
                "back on sale. If they pay now, they order again with /buy and you mark the "
                "new order paid."
            ).format(
                name=esc(target.display_name),
                id=expired[0].id,
                time=local_moment(expired[0].expires_at, community.timezone),
            )
        )
        return
    await message.reply(
        _("{name} has no orders here waiting for that.").format(name=esc(target.display_name))
    )


@router.message(
    Command("paid", "pickedup"),
    GROUP,
    OpenGroup(settling=True),
    RoleFilter(Role.LEADER, "order.mark"),
)
async def mark_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Callable[[], datetime],
    bot: Bot,
    after_commit: CommitHook,
) -> None:
    """Marks every unpaid order of a member in this group as paid (/paid: offline payment),
    or every paid one as picked up (/pickedup)."""
    marking = Marking(settings, notifier, i18n, clock(), bot, after_commit)
    mark = "paid" if command.command == "paid" else "picked"
    await _mark_member(message, command, session, community, mark, marking)


@router.message(Command("refund"), PRIVATE, RoleFilter(Role.STAFF, "order.refund"))
async def refund_command(
    message: Message,
    command: CommandObject,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    notifier: BackgroundSender,
    refunder: RefundWaker,
    after_commit: CommitHook,
    clock: Callable[[], datetime],
) -> None:
    """Refunds an order fully, or partly with an amount: /refund ID [AMOUNT]."""
    words = (command.args or "").split()
    order_id = number(words[0]) if 1 <= len(words) <= 2 else None
    if order_id is None:
        await message.answer(
            _(
                "Send /refund ORDER_ID for a full refund, or /refund ORDER_ID "
                "AMOUNT for part of it, for example /refund 12 10.50."
            )
        )
        return
    order = await get_order(session, order_id)
    if order is None:
        await message.answer(_("There is no such order."))
        return
    given, amount = await refund_part(
        message, words, order.currency, locale=locale, ceiling=settings.max_order_amount
    )
    if not given:
        return
    try:
        outcome = await refund_now(
            session,
            order_id=order.id,
            actor_id=member.id,
            amount=amount,
            tier_currency=settings.tier_measure,
            now=clock(),
        )
    except OrderError as exc:
        await message.answer(order_error_text(exc.reason))
        return
    money = format_money(outcome.amount, order.currency, locale)
    if outcome.star_charge_id is not None:
        # the refunder sends the Stars back once this commits, and tells the member
        after_commit.add(later(refunder.wake))
        await message.answer(
            _(
                "Refund of {amount} for order #{id} booked; Telegram is sending the Stars back "
                "to the member now."
            ).format(amount=money, id=order.id)
        )
        return
    buyer = await get_member(session, order.member_id)
    if buyer is not None and buyer.started:
        # the money goes back by hand: the member hears again once it has (/refund_paid)
        text = i18n.gettext(REFUND_BOOKED, locale=buyer.locale).format(
            order=order.id, amount=format_money(outcome.amount, order.currency, buyer.locale)
        )
        notifier.send(buyer.id, text)
    await message.answer(
        _(
            "Refund of {amount} for order #{id} booked; the ledger shows it as owed to the "
            "member. Once they have their money back, send /refund_paid {id}. The group's "
            "leader may pay it from the cash they hold and send /refund_paid {id} in the group."
        ).format(amount=money, id=order.id)
    )
