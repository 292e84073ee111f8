"""A commission payout as staff see it: its card, the buttons under it (approve, approve keeping
cash owed, refuse) and the amount a leader or referrer asks for (handlers/payout.py and the
cash hand-over in handlers/cash.py). Also how a request's card reaches every staff member and
how a decided card is closed, which payouts and hand-overs share."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import partial

from aiogram import Bot
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import (
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    esc,
    esc_name,
    format_amounts,
    format_money,
)
from services.ledger import known_asset
from services.money import AmountRefusal, InvalidAmount
from services.parsing import parse_amount
from services.payout import EarnerStatement, PayoutView
from services.role import staff_locales

MAX_AMOUNT = 10**12  # a typo's ceiling: far above any commission


class PayoutAction(StrEnum):
    PAY = "pay"
    NET = "net"  # pay, keeping cash owed
    REFUSE = "refuse"


class PayoutCallback(CallbackData, prefix="po"):
    """A staff button under a payout card."""

    action: PayoutAction
    payout_id: CallbackId


def amount_and_currency(
    args: str | None, *, held: dict[str, int], locale: str, settings: HandlerSettings
) -> tuple[int | None, str | None]:
    """`[AMOUNT] [CURRENCY]` as minor units and a code (None: all of it / the one held).

    Raises InvalidAmount for anything else."""
    words = (args or "").split()
    if len(words) > 2:
        raise InvalidAmount(AmountRefusal.NOT_A_NUMBER)
    currency = None
    if len(words) == 2:
        currency = words[1].upper()
        if not known_asset(currency):
            raise InvalidAmount(AmountRefusal.NOT_A_NUMBER)
    if not words:
        return None, currency
    parse_in = currency or (next(iter(held)) if len(held) == 1 else settings.tier_currency)
    amount = parse_amount(words[0], parse_in, locale=locale, ceiling=MAX_AMOUNT)
    return amount, parse_in


def payout_card(payout: PayoutView, name: str, statement: EarnerStatement, locale: str) -> str:
    """The card staff decide from: the request and the requester's short statement."""
    return "\n".join(
        [
            _("💸 Payout request #{id}: {name} asks for {amount}.").format(
                id=payout.id,
                name=esc_name(name),
                amount=format_money(payout.amount, payout.currency, locale),
            ),
            _(
                "Released: {released} · pending: {pending} · paid out so far: {paid} · "
                "cash owed: {owed}"
            ).format(
                released=format_amounts(statement.released, locale),
                pending=format_amounts(statement.pending, locale),
                paid=format_amounts(statement.paid_out, locale),
                owed=format_amounts(statement.cash_owed, locale),
            ),
        ]
    )


def payout_keyboard(
    payout: PayoutView, statement: EarnerStatement, locale: str
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    owed = statement.cash_owed.get(payout.currency, 0)
    if owed > 0:
        keep = min(owed, payout.amount)
        builder.button(
            text=_("✅ Pay, keeping {amount} of cash owed").format(
                amount=format_money(keep, payout.currency, locale)
            ),
            callback_data=PayoutCallback(action=PayoutAction.NET, payout_id=payout.id),
        )
        builder.button(
            text=_("✅ Pay in full"),
            callback_data=PayoutCallback(action=PayoutAction.PAY, payout_id=payout.id),
        )
    else:
        builder.button(
            text=_("✅ Approve and pay"),
            callback_data=PayoutCallback(action=PayoutAction.PAY, payout_id=payout.id),
        )
    builder.button(
        text=_("❌ Refuse"),
        callback_data=PayoutCallback(action=PayoutAction.REFUSE, payout_id=payout.id),
    )
    builder.adjust(1)
    return builder.as_markup()


async def send_staff_cards(
    session: AsyncSession,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    requester_id: int,
    card: Callable[[str], tuple[str, InlineKeyboardMarkup]],
) -> None:
    """Sends every staff member but the requester the request's card and its buttons (`card`,
    given their locale), in their language."""
    staff = await staff_locales(
        session, owner_ids=settings.owner_ids, default_locale=settings.default_locale
    )
    for staff_id, locale in staff:
        if staff_id == requester_id:
            continue
        with i18n.use_locale(locale):
            text, markup = card(locale)
            notifier.send(staff_id, text, reply_markup=markup)


def close_card(query: CallbackQuery, bot: Bot, after_commit: CommitHook, verdict: str) -> None:
    """Once the decision commits: the verdict as the button's answer and under the card, whose
    buttons go."""
    after_commit.add(partial(query.answer, verdict))
    if isinstance(query.message, Message):
        after_commit.add(
            partial(
                bot.edit_message_text,
                text=f"{query.message.html_text}\n<b>{esc(verdict)}</b>",
                chat_id=query.message.chat.id,
                message_id=query.message.message_id,
                reply_markup=None,
            )
        )
