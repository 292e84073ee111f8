"""Money: currencies and their minor units (amounts people type are read by services/parsing/)."""

from __future__ import annotations

from enum import StrEnum

from babel.numbers import get_currency_precision

from models.ledger import POINTS
from services.errors import Refused
from services.ledger import STARS, known_asset


class InvalidAmount(Refused):
    """An amount or currency people typed that cannot be used; `reason` is a stable code:
    not_a_number, not_positive, too_precise, too_large or currency."""


class AmountRefusal(StrEnum):
    """The reasons an InvalidAmount gives (its `reason`); the handlers map each to a message."""

    NOT_A_NUMBER = "not_a_number"
    NOT_POSITIVE = "not_positive"
    TOO_PRECISE = "too_precise"
    TOO_LARGE = "too_large"
    CURRENCY = "currency"


def currency_digits(currency: str) -> int:
    """How many decimal places the currency's minor unit has (Stars: none)."""
    if currency == STARS:
        return 0
    return int(get_currency_precision(currency))


def parse_currency(text: str) -> str:
    """An upper-case ISO 4217 code or XTR; InvalidAmount('currency') otherwise."""
    code = text.strip().upper()
    if code == POINTS or len(code) != 3 or not code.isalpha() or not known_asset(code):
        raise InvalidAmount(AmountRefusal.CURRENCY)
    return code
