"""Reading amounts of money as people type them, and a one-line product's variants with
their prices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import NumberFormatError, parse_decimal

from services.money import AmountRefusal, InvalidAmount, currency_digits
from services.parsing._common import Unreadable, normalize
from services.validation import NumberRefused, number

# ------------------------------------------------------------------ amounts ----------------

# digits with the group and decimal separators locales use (comma, dot, apostrophe, spaces)
_PLAIN_NUMBER = re.compile(r"^-?[0-9][0-9.,'\u00a0\u202f ]*$")
_SYMBOLS = ("CN¥", "HK$", "NT$", "US$", "¥", "$", "€", "£", "⭐")
# a currency code before or after the number: 'CNY 35.90', '35.90RMB' (not 'NaN')
_CODE = re.compile(r"^([A-Za-z]{3})\s*(?=[\d¥$€£])|(?<=\d)\s*([A-Za-z]{3})$")
_CODE_ALIASES = {"RMB": "CNY"}
# 35块9 / 35元9角 / 35块9毛: the digit after the unit is tenths (角), as people say it
_YUAN_JIAO = re.compile(r"^(\d+)\s*(?:块|塊|元|圆|圓)\s*(\d)\s*(?:毛|角)?$")
_YUAN = re.compile(r"\s*(?:块钱|塊錢|块|塊|元|圆|圓)$")


def parse_amount(text: str, currency: str, *, locale: str, ceiling: int) -> int:
    """Minor units for '35.90', '35,90' (de), '1,234.5', '¥35.9', '35.9元', '35块9' or
    'CNY 35.90'; never a float on the way. InvalidAmount with a stable reason otherwise."""
    cleaned = normalize(text)
    code = _CODE.search(cleaned)
    if code:
        typed = (code.group(1) or code.group(2)).upper()
        if _CODE_ALIASES.get(typed, typed) != currency:
            raise InvalidAmount(AmountRefusal.CURRENCY)
        cleaned = _CODE.sub("", cleaned, count=1)
    for symbol in _SYMBOLS:
        if cleaned.startswith(symbol):
            cleaned = cleaned.removeprefix(symbol).strip()
            break
    yuan_jiao = _YUAN_JIAO.match(cleaned)
    if yuan_jiao:
        cleaned = f"{yuan_jiao.group(1)}.{yuan_jiao.group(2)}"
    cleaned = _YUAN.sub("", cleaned)
    if not _PLAIN_NUMBER.match(cleaned):  # no exponents, words or other signs
        raise InvalidAmount(AmountRefusal.NOT_A_NUMBER)
    try:
        # strict: "35,90" in English is a typo for 35.90 or 3,590, never silently 3590
        value = parse_decimal(cleaned, locale=locale, strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        raise InvalidAmount(AmountRefusal.NOT_A_NUMBER) from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidAmount(AmountRefusal.NOT_A_NUMBER)
    if value <= 0:
        raise InvalidAmount(AmountRefusal.NOT_POSITIVE)
    minor = value.scaleb(currency_digits(currency))
    if minor != minor.to_integral_value():
        raise InvalidAmount(AmountRefusal.TOO_PRECISE)
    amount = int(minor)
    if amount > ceiling:
        raise InvalidAmount(AmountRefusal.TOO_LARGE)
    return amount


# ------------------------------------------------------------------ variants ---------------

# what introduces the variants in a one-line product: `variants 100g=35.90:50, ...`, `规格 ...`
VARIANT_WORDS = ("variants", "variant", "规格", "規格")
_VARIANT_SEPARATORS = re.compile(r"[,;]")


@dataclass(frozen=True, slots=True)
class TypedVariant:
    """A variant as typed: its name, price in minor units and stock."""

    name: str
    price: int
    stock: int


class VariantUnreadable(Unreadable):
    """A variant the bot could not read: `part` is the item as typed; `kind` is shape (not
    NAME=PRICE:STOCK), price (with the amount's `reason`) or stock (missing or no number)."""

    def __init__(self, kind: str, part: str, reason: str = "") -> None:
        super().__init__(kind, part)
        self.reason = reason


def variants_text(option: str) -> str | None:
    """What follows the word `variants` (or 规格) in an option of a one-line product, or None
    when the option is not about variants."""
    cleaned = normalize(option)
    for word in VARIANT_WORDS:
        if cleaned.lower().startswith(word):
            return cleaned[len(word) :].strip().lstrip(":").strip()
    return None


def parse_variants(
    text: str, currency: str, *, locale: str, ceiling: int, max_stock: int
) -> list[TypedVariant]:
    """`100g=35.90:50, 250g=79.00:20` (full-width `＝` `：` `，` `、` too) as variants, in the
    order typed: NAME=PRICE:STOCK, the price read like parse_amount, the stock a whole number.
    VariantUnreadable names the item it stopped at; nothing typed is an empty list."""
    found: list[TypedVariant] = []
    for item in _VARIANT_SEPARATORS.split(normalize(text)):
        item = item.strip()
        if not item:
            continue
        name, equals, rest = item.partition("=")
        if not equals or not name.strip() or not rest.strip():
            raise VariantUnreadable("shape", item)
        price_text, colon, stock_text = rest.rpartition(":")
        if not colon or not stock_text.strip():
            raise VariantUnreadable("stock", item)
        try:
            price = parse_amount(price_text, currency, locale=locale, ceiling=ceiling)
        except InvalidAmount as exc:
            raise VariantUnreadable("price", item, exc.reason) from None
        try:
            stock = number(stock_text, prefix="", maximum=max_stock)
        except NumberRefused:
            stock = None
        if stock is None:
            raise VariantUnreadable("stock", item)
        found.append(TypedVariant(name.strip(), price, stock))
    return found
