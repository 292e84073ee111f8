"""Money typed by people: amounts in a locale's format, turned into exact minor units."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from babel.numbers import NumberFormatError, get_currency_precision, parse_decimal

from models.ledger import POINTS
from services.ledger import STARS, known_asset

# digits with the group and decimal separators locales use (comma, dot, apostrophe, spaces)
_PLAIN_NUMBER = re.compile(r"^-?[0-9][0-9.,'\u00a0\u202f ]*$")


class InvalidAmount(ValueError):
    """An amount or currency people typed that cannot be used; `reason` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # not_a_number, not_positive, too_precise, too_large, currency


def currency_digits(currency: str) -> int:
    """How many decimal places the currency's minor unit has (Stars: none)."""
    if currency == STARS:
        return 0
    return int(get_currency_precision(currency))


def parse_currency(text: str) -> str:
    """An upper-case ISO 4217 code or XTR; InvalidAmount('currency') otherwise."""
    code = text.strip().upper()
    if code == POINTS or len(code) != 3 or not code.isalpha() or not known_asset(code):
        raise InvalidAmount("currency")
    return code


def parse_amount(text: str, currency: str, *, locale: str, ceiling: int) -> int:
    """Minor units for '35.90', '35,90' (de), '1,234.5' or '¥35.9'; never a float on the way."""
    cleaned = text.strip().lstrip("¥$€£⭐").strip()
    if not _PLAIN_NUMBER.match(cleaned):  # no exponents, words or other signs
        raise InvalidAmount("not_a_number")
    try:
        # strict: "35,90" in English is a typo for 35.90 or 3,590, never silently 3590
        value = parse_decimal(cleaned, locale=locale, strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        raise InvalidAmount("not_a_number") from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidAmount("not_a_number")
    if value <= 0:
        raise InvalidAmount("not_positive")
    minor = value.scaleb(currency_digits(currency))
    if minor != minor.to_integral_value():
        raise InvalidAmount("too_precise")
    amount = int(minor)
    if amount > ceiling:
        raise InvalidAmount("too_large")
    return amount
