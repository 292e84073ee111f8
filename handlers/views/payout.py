"""A commission payout as staff see it: its card, the buttons under it (approve, approve keeping
cash owed, refuse) and the amount a leader or referrer asks for (handlers/payout.py and the
cash hand-over in handlers/cash.py)."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.views.text import CallbackId, HandlerSettings, esc_name, format_amounts, format_money
from services.ledger import known_asset
from services.money import AmountRefusal, InvalidAmount
from services.parsing import parse_amount
from services.payout import EarnerStatement, PayoutView

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
