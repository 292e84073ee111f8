"""Commission payouts: /payout by a leader or referrer, approved or refused by staff from a
card that carries the requester's statement."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.payout import (
    PayoutAction,
    PayoutCallback,
    amount_and_currency,
    close_card,
    payout_card,
    payout_keyboard,
    send_staff_cards,
)
from handlers.views.product import amount_error
from handlers.views.staff_card import audit_decision
from handlers.views.text import (
    N_,
    BackgroundSender,
    CommitHook,
    HandlerSettings,
    format_amounts,
    format_money,
)
from models.base import Clock
from models.payout import PAYOUT_PAID
from services.cash import CashError
from services.member import MemberView, get_member
from services.money import InvalidAmount
from services.payout import (
    PayoutError,
    PayoutRefusal,
    PayoutView,
    decide_payout,
    earner_statement,
    request_payout,
)
from services.role import Role

router = Router(name="payout")

PAYOUT_ERRORS: dict[str, str] = {
    PayoutRefusal.NOTHING_RELEASED: N_(
        "You have no released commission to pay out yet. Commission is released once the "
        "refund window of its order has passed; /wallet shows what is pending."
    ),
    PayoutRefusal.WHICH_CURRENCY: N_(
        "Your commission is in several currencies. Name one: /payout AMOUNT CURRENCY, "
        "for example /payout 50.00 CNY."
    ),
    PayoutRefusal.BAD_AMOUNT: N_("The amount must be more than zero."),
    PayoutRefusal.OVER_BALANCE: N_("That is more than your released commission: {released}."),
    PayoutRefusal.BELOW_MINIMUM: N_(
        "The least you can ask to be paid out is {minimum}. Your released commission: {released}."
    ),
    PayoutRefusal.ALREADY_OPEN: N_(
        "Your earlier payout request is still waiting for staff. Once they decide, ask again."
    ),
    PayoutRefusal.SUSPENDED: N_(
        "Your leader role is suspended while the brand reviews it, so payouts wait until you "
        "are reinstated. Staff will tell you what happens next."
    ),
    PayoutRefusal.REQUESTER_SUSPENDED: N_(
        "Nothing was paid: this leader is suspended. Reinstate them first (/leader_reinstate), "
        "or refuse the request."
    ),
    PayoutRefusal.NOT_FOUND: N_("There is no such payout request."),
    PayoutRefusal.ALREADY_DECIDED: N_("That payout request was already decided."),
    PayoutRefusal.OWN_PAYOUT: N_("You cannot approve your own payout: another staff member must."),
    "balance_changed": N_(
        "The requester's released commission is now less than the request (a refund took "
        "some back). Nothing was paid; refuse it and let them ask again."
    ),
    "more_than_owed": N_("Nothing was paid: their cash owed changed meanwhile. Please try again."),
}


@router.message(Command("payout"), PRIVATE)
async def payout(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Clock,
) -> None:
    """Asks staff to pay out released commission (/payout [AMOUNT] [CURRENCY]: all by default)."""
    locale = member.locale
    statement = await earner_statement(session, member.id)
    released = {c: v for c, v in statement.released.items() if v > 0}
    try:
        amount, currency = amount_and_currency(
            command.args, held=released, locale=locale, settings=settings
        )
    except InvalidAmount as exc:
        await message.answer(amount_error(exc.reason))
        return
    try:
        request = await request_payout(
            session,
            member_id=member.id,
            amount=amount,
            currency=currency,
            minimum=settings.payout_min_amount,
            now=clock(),
        )
    except PayoutError as exc:
        minimum_in = currency or (next(iter(released)) if released else settings.tier_currency)
        await message.answer(
            _(PAYOUT_ERRORS.get(exc.reason, PAYOUT_ERRORS[PayoutRefusal.BAD_AMOUNT])).format(
                released=format_amounts(released, locale),
                minimum=format_money(settings.payout_min_amount, minimum_in, locale),
            )
        )
        return
    await send_staff_cards(
        session,
        settings,
        i18n,
        notifier,
        member.id,
        lambda staff_locale: (
            payout_card(request, member.display_name, statement, staff_locale),
            payout_keyboard(request, statement, staff_locale),
        ),
    )
    await message.answer(
        _(
            "Payout request #{id} for {amount} sent to staff. I will tell you when they decide."
        ).format(id=request.id, amount=format_money(request.amount, request.currency, locale))
    )


@router.callback_query(PayoutCallback.filter(), RoleFilter(Role.STAFF, "payout.decide"))
async def payout_button(
    query: CallbackQuery,
    callback_data: PayoutCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    clock: Clock,
) -> None:
    """Pays (booked once, with the chosen netting) or refuses a payout request; audited, the
    requester told, the card updated in place."""
    approve = callback_data.action in (PayoutAction.PAY, PayoutAction.NET)
    try:
        async with session.begin_nested():
            decided = await decide_payout(
                session,
                payout_id=callback_data.payout_id,
                staff_id=member.id,
                approve=approve,
                net=callback_data.action == PayoutAction.NET,
                now=clock(),
            )
    except PayoutError as exc:
        reason = "balance_changed" if exc.reason == PayoutRefusal.OVER_BALANCE else exc.reason
        await query.answer(
            _(PAYOUT_ERRORS.get(reason, PAYOUT_ERRORS[PayoutRefusal.NOT_FOUND])), show_alert=True
        )
        return
    except CashError:  # the cash owed shrank between the card and the netting
        await query.answer(_(PAYOUT_ERRORS["more_than_owed"]), show_alert=True)
        return
    await audit_decision(
        session,
        query,
        member,
        action="payout.pay" if approve else "payout.refuse",
        now=clock(),
        detail=f"payout {decided.id} of {decided.member_id}: {decided.amount} "
        f"{decided.currency} {decided.status}, netted {decided.netted}",
    )
    earner = await get_member(session, decided.member_id)
    if earner is not None and earner.started:
        with i18n.use_locale(earner.locale):
            notifier.send(earner.id, decision_text(decided, earner.locale))
    locale = member.locale
    if not approve:
        verdict = _("Refused.")
    elif decided.netted:
        verdict = _("Paid: {cash} to hand over, {netted} kept against cash owed.").format(
            cash=format_money(decided.paid_cash, decided.currency, locale),
            netted=format_money(decided.netted, decided.currency, locale),
        )
    else:
        verdict = _("Paid: {cash} to hand over.").format(
            cash=format_money(decided.paid_cash, decided.currency, locale)
        )
    close_card(query, bot, after_commit, verdict)


def decision_text(decided: PayoutView, locale: str) -> str:
    """What the requester reads about staff's decision."""
    if decided.status != PAYOUT_PAID:
        return _(
            "Staff did not approve your payout request #{id}. Your commission stays in your "
            "wallet; please ask them why."
        ).format(id=decided.id)
    cash = format_money(decided.paid_cash, decided.currency, locale)
    if not decided.netted:
        return _("Your payout #{id} is approved: {cash} is paid to you.").format(
            id=decided.id, cash=cash
        )
    return _(
        "Your payout #{id} is approved: {netted} of it settled the cash you owed the brand, "
        "and {cash} is paid to you."
    ).format(
        id=decided.id, cash=cash, netted=format_money(decided.netted, decided.currency, locale)
    )
