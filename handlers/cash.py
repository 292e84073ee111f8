"""Cash leaders collected: /handover by the holder, confirmed by staff from a card, and
/leader_cash for staff (who owes what, since when, and what waits for a decision)."""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, OpenGroup, RoleFilter
from handlers.views.paging import PAGE_SIZE, PageCallback, send_footer, turn_card_page
from handlers.views.payout import (
    amount_and_currency,
    close_card,
    payout_card,
    payout_keyboard,
    send_staff_cards,
)
from handlers.views.product import amount_error
from handlers.views.staff_card import audit_decision, decision_keyboard
from handlers.views.text import (
    N_,
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    counted,
    esc,
    format_amounts,
    format_money,
)
from models.base import Clock
from services.cash import (
    CashError,
    CashRefusal,
    HandoverView,
    cash_holders,
    cash_owed,
    decide_handover,
    get_handover,
    hand_back_refund,
    open_handovers,
    refund_owed_on_order,
    request_handover,
)
from services.community import CommunityView
from services.ledger import STARS
from services.member import MemberView, get_member
from services.money import InvalidAmount
from services.order import get_order
from services.payout import earner_statement, open_payouts
from services.role import Role
from services.validation import number
from services.zones import staff_zone

router = Router(name="cash")

CASH_ERRORS: dict[str, str] = {
    CashRefusal.NOTHING_OWED: N_("You hold no cash for the brand: there is nothing to hand over."),
    CashRefusal.WHICH_CURRENCY: N_(
        "You hold cash in several currencies. Name one: /handover AMOUNT CURRENCY, "
        "for example /handover 120.00 CNY."
    ),
    CashRefusal.BAD_AMOUNT: N_("The amount must be more than zero."),
    CashRefusal.MORE_THAN_OWED: N_("That is more than the cash you owe the brand: {owed}."),
    CashRefusal.ALREADY_OPEN: N_(
        "Your earlier hand-over is still waiting for staff. Once they confirm it, send the next."
    ),
    CashRefusal.NOT_FOUND: N_("There is no such hand-over."),
    CashRefusal.ALREADY_DECIDED: N_("That hand-over was already decided."),
    CashRefusal.OWN_HANDOVER: N_(
        "You cannot confirm your own hand-over: another staff member must."
    ),
}


class HandoverAction(StrEnum):
    CONFIRM = "confirm"
    REFUSE = "refuse"


class HandoverCallback(CallbackData, prefix="ho"):
    """A staff button under a hand-over card."""

    action: HandoverAction
    handover_id: CallbackId


def handover_keyboard(handover_id: int) -> InlineKeyboardMarkup:
    return decision_keyboard(
        _("✅ Received"),
        HandoverCallback(action=HandoverAction.CONFIRM, handover_id=handover_id),
        _("❌ Not received"),
        HandoverCallback(action=HandoverAction.REFUSE, handover_id=handover_id),
    )


def handover_card(handover: HandoverView, holder: str, owed: dict[str, int], locale: str) -> str:
    return _(
        "💵 Hand-over #{id}: {holder} says they handed over {amount}. They owe {owed} in all. "
        "Confirm once the money is with you."
    ).format(
        id=handover.id,
        holder=esc(holder),
        amount=format_money(handover.amount, handover.currency, locale),
        owed=format_amounts(owed, locale),
    )


@router.message(Command("handover"), PRIVATE)
async def handover(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Clock,
) -> None:
    """Records that the member handed cash over (/handover [AMOUNT] [CURRENCY]); staff get a
    card to confirm it."""
    owed = await cash_owed(session, member.id)
    try:
        amount, currency = amount_and_currency(
            command.args, held=owed, locale=member.locale, settings=settings
        )
    except InvalidAmount as exc:
        await message.answer(amount_error(exc.reason))
        return
    try:
        request = await request_handover(
            session, holder_id=member.id, amount=amount, currency=currency, now=clock()
        )
    except CashError as exc:
        await message.answer(
            _(CASH_ERRORS.get(exc.reason, CASH_ERRORS[CashRefusal.BAD_AMOUNT])).format(
                owed=format_amounts(owed, member.locale)
            )
        )
        return
    await send_staff_cards(
        session,
        settings,
        i18n,
        notifier,
        member.id,
        lambda locale: (
            handover_card(request, member.display_name, owed, locale),
            handover_keyboard(request.id),
        ),
    )
    await message.answer(
        _(
            "Hand-over #{id} of {amount} recorded. Staff will confirm it once they have the "
            "money; until then it stays owed by you."
        ).format(
            id=request.id, amount=format_money(request.amount, request.currency, member.locale)
        )
    )


@router.callback_query(HandoverCallback.filter(), RoleFilter(Role.STAFF, "cash.handover"))
async def handover_button(
    query: CallbackQuery,
    callback_data: HandoverCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    clock: Clock,
) -> None:
    """Confirms (booked once) or refuses a hand-over; audited, the holder told, the card
    updated in place."""
    confirm = callback_data.action == HandoverAction.CONFIRM
    try:
        async with session.begin_nested():
            decided = await decide_handover(
                session,
                handover_id=callback_data.handover_id,
                staff_id=member.id,
                confirm=confirm,
                now=clock(),
            )
    except CashError as exc:
        found = await get_handover(session, callback_data.handover_id)
        owed = await cash_owed(session, found.holder_id) if found else {}
        await query.answer(
            _(CASH_ERRORS.get(exc.reason, CASH_ERRORS[CashRefusal.NOT_FOUND])).format(
                owed=format_amounts(owed, member.locale)
            ),
            show_alert=True,
        )
        return
    await audit_decision(
        session,
        query,
        member,
        action="cash.handover.confirm" if confirm else "cash.handover.refuse",
        now=clock(),
        detail=f"hand-over {decided.id} of {decided.holder_id}: {decided.amount} "
        f"{decided.currency} {decided.status}",
    )
    holder = await get_member(session, decided.holder_id)
    if holder is not None and holder.started:
        with i18n.use_locale(holder.locale):
            money = format_money(decided.amount, decided.currency, holder.locale)
            text = (
                _("Staff confirmed your hand-over #{id}: {amount} is settled.")
                if confirm
                else _(
                    "Staff have not received your hand-over #{id} of {amount}; it stays owed "
                    "by you. Please talk to them."
                )
            ).format(id=decided.id, amount=money)
            notifier.send(holder.id, text)
    verdict = _("Confirmed received.") if confirm else _("Marked not received.")
    close_card(query, bot, after_commit, verdict)


@router.message(Command("leader_cash"), PRIVATE, RoleFilter(Role.STAFF, "cash.list"))
async def leader_cash(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Who owes the brand cash, since when (overdue marked), and the hand-overs and payout
    requests waiting for a decision, each with its buttons."""
    now = clock()
    locale = member.locale
    zone = ZoneInfo(staff_zone(member.timezone, settings.default_timezone))
    holders = await cash_holders(session, now=now, overdue_days=settings.cash_overdue_days)
    lines = [_("<b>Cash leaders owe the brand</b>")]
    if not holders:
        lines.append(_("Nobody owes the brand cash."))
    for holder in holders:
        who = await get_member(session, holder.holder_id)
        line = _("{name}: {amount}, oldest since {date}").format(
            name=esc(who.display_name if who else holder.holder_id),
            amount=format_money(holder.owed, holder.currency, locale),
            date=holder.oldest_at.astimezone(zone).strftime("%Y-%m-%d"),
        )
        if holder.overdue:
            line = (
                "⚠️ "
                + line
                + " · "
                + _("overdue (more than {days})").format(
                    days=counted("day", settings.cash_overdue_days)
                )
            )
        lines.append(line)
    await message.answer("\n".join(lines))
    await send_handover_cards(message, session, locale, 0)
    await send_payout_cards(message, session, locale, 0)


async def send_handover_cards(
    target: Message, session: AsyncSession, locale: str, offset: int
) -> None:
    """A page of the hand-overs waiting for staff, a card each; when more wait, a line that
    counts them with More."""
    page = await open_handovers(session, limit=PAGE_SIZE, offset=offset)
    for request in page.items:
        who = await get_member(session, request.holder_id)
        owed = await cash_owed(session, request.holder_id)
        await target.answer(
            handover_card(
                request, who.display_name if who else str(request.holder_id), owed, locale
            ),
            reply_markup=handover_keyboard(request.id),
        )
    await send_footer(target, _("Hand-overs waiting: {counter}"), "handovers", page)


async def send_payout_cards(
    target: Message, session: AsyncSession, locale: str, offset: int
) -> None:
    """A page of the payout requests waiting for staff, a card each; when more wait, a line
    that counts them with More."""
    page = await open_payouts(session, limit=PAGE_SIZE, offset=offset)
    for payout in page.items:
        who = await get_member(session, payout.member_id)
        statement = await earner_statement(session, payout.member_id)
        await target.answer(
            payout_card(
                payout, who.display_name if who else str(payout.member_id), statement, locale
            ),
            reply_markup=payout_keyboard(payout, statement, locale),
        )
    await send_footer(target, _("Payout requests waiting: {counter}"), "payouts", page)


@router.callback_query(
    PageCallback.filter(F.name.in_({"handovers", "payouts"})),
    RoleFilter(Role.STAFF, "cash.list"),
)
async def leader_cash_more(
    query: CallbackQuery, callback_data: PageCallback, session: AsyncSession, member: MemberView
) -> None:
    """More (or Back) under /leader_cash: the next cards come as new messages."""
    await query.answer()
    if not await turn_card_page(query.message):
        return
    assert isinstance(query.message, Message)
    send = send_handover_cards if callback_data.name == "handovers" else send_payout_cards
    await send(query.message, session, member.locale, callback_data.offset)


REFUND_PAID_ERRORS: dict[str, str] = {
    "usage": N_(
        "Once the member has their money back, send /refund_paid ORDER_ID, for example "
        "/refund_paid 12."
    ),
    CashRefusal.NOT_FOUND: N_("There is no such order here."),
    "stars": N_(
        "Order #{order} was paid in Telegram Stars: Telegram sends its refunds back, there is "
        "nothing to pay by hand."
    ),
    "own_order": N_("You cannot record a refund paid to yourself: staff must."),
    CashRefusal.NOTHING_OWED: N_("No refund of order #{order} is waiting to be paid back."),
    CashRefusal.MORE_THAN_HELD: N_(
        "You hold {held} of the brand's cash, less than this refund ({amount}): staff pay it "
        "back instead."
    ),
}


@router.message(Command("refund_paid"), PRIVATE, RoleFilter(Role.STAFF, "order.refund_paid"))
async def refund_paid_by_staff(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
    notifier: BackgroundSender,
    clock: Clock,
) -> None:
    """Records that the brand paid an owed refund back to the member (/refund_paid ORDER_ID)."""
    await _refund_paid(
        message, command, session, member, i18n, locale, notifier, clock, None, Role.STAFF
    )


@router.message(
    Command("refund_paid"),
    GROUP,
    OpenGroup(settling=True),
    RoleFilter(Role.LEADER, "order.refund_paid"),
)
async def refund_paid_by_leader(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    i18n: I18n,
    locale: str,
    notifier: BackgroundSender,
    clock: Clock,
    role: Role,
) -> None:
    """Records that the leader paid an owed refund of an order of this group back to its
    member, out of the cash they hold for the brand (staff acting here pay from the brand's)."""
    await _refund_paid(
        message, command, session, member, i18n, locale, notifier, clock, community, role
    )


async def _refund_paid(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    payer: MemberView,
    i18n: I18n,
    locale: str,
    notifier: BackgroundSender,
    clock: Clock,
    community: CommunityView | None,
    role: Role,  # the payer's, as the role filter found it
) -> None:
    words = (command.args or "").split()
    order_id = number(words[0]) if len(words) == 1 else None
    if order_id is None:
        await message.answer(_(REFUND_PAID_ERRORS["usage"]))
        return
    order = await get_order(session, order_id)
    if order is None or (community is not None and order.chat_id != community.id):
        await message.answer(_(REFUND_PAID_ERRORS[CashRefusal.NOT_FOUND]))
        return
    if order.currency == STARS:
        await message.answer(_(REFUND_PAID_ERRORS["stars"]).format(order=order.id))
        return
    if order.member_id == payer.id:
        await message.answer(_(REFUND_PAID_ERRORS["own_order"]))
        return
    from_cash = role < Role.STAFF
    try:
        async with session.begin_nested():
            paid = await hand_back_refund(
                session,
                order_id=order.id,
                member_id=order.member_id,
                payer_id=payer.id,
                from_leader_cash=from_cash,
                at=clock(),
            )
    except CashError as exc:
        held = (await cash_owed(session, payer.id)).get(order.currency, 0)
        owed = (await refund_owed_on_order(session, order.id)).get(order.currency, 0)
        await message.answer(
            _(REFUND_PAID_ERRORS[exc.reason]).format(
                order=order.id,
                held=format_money(held, order.currency, locale),
                amount=format_money(owed, order.currency, locale),
            )
        )
        return
    buyer = await get_member(session, order.member_id)
    money = format_money(paid.amount, paid.currency, locale)
    lines = [
        _("Recorded: the refund of {amount} for order #{order} was paid back to {member}.").format(
            amount=money, order=order.id, member=esc(buyer.display_name if buyer else "?")
        )
    ]
    if paid.from_leader_cash:
        still = await cash_owed(session, payer.id)
        lines.append(
            _("It came out of the cash you hold for the brand: you now owe {owed}.").format(
                owed=format_amounts(still, locale)
            )
            if still
            else _("It came out of the cash you held for the brand: you owe the brand nothing now.")
        )
    await message.answer("\n".join(lines))
    if paid.booked and buyer is not None and buyer.started:
        with i18n.use_locale(buyer.locale):
            notifier.send(
                buyer.id,
                _("{payer} paid your refund of {amount} for order #{order} back to you.").format(
                    payer=esc(payer.display_name),
                    amount=format_money(paid.amount, paid.currency, buyer.locale),
                    order=order.id,
                ),
            )
