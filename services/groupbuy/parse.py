"""Reading what staff and leaders type when they open a group-buy: price tiers, counts, the
minimum to form, and the deadline (at most MAX_DAYS_OPEN ahead).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from models.groupbuy import MIN_PEOPLE, MIN_UNITS
from services.groupbuy.values import GroupBuyError, GroupBuyRefusal
from services.money import InvalidAmount
from services.parsing import Unreadable, normalize, parse_amount, parse_moment

MAX_DAYS_OPEN = 30
# '10件:35.90': the word people add after a number of units
_UNIT_WORDS = re.compile(r"\s*(?:件|个|個|份|盒|瓶|袋|u|units?|pcs)$", re.IGNORECASE)


def parse_tiers(
    text: str, *, currency: str, locale: str, base_price: int, ceiling: int
) -> tuple[tuple[int, int], ...]:
    """'10:35.90, 30:32.90' -> ((10, 3590), (30, 3290)); more units must always cost less.
    Full-width '１０：３５．９０，３０：３２．９０', '10件:35.9元', '10 -> ¥35.90' read the same."""
    tiers: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", normalize(text)))):
        units_text, sep, price_text = part.replace("->", ":").replace("=", ":").partition(":")
        units_text = _UNIT_WORDS.sub("", units_text.strip())
        if not sep or not units_text.isdigit() or len(units_text) > 7:
            raise GroupBuyError(GroupBuyRefusal.BAD_TIERS, part)
        try:
            price = parse_amount(price_text, currency, locale=locale, ceiling=ceiling)
        except InvalidAmount:
            raise GroupBuyError(GroupBuyRefusal.BAD_TIERS, part) from None
        tiers.append((int(units_text), price))
    previous_units, previous_price = 0, base_price
    for units, price in tiers:
        if units <= previous_units or price >= previous_price:
            raise GroupBuyError(GroupBuyRefusal.TIERS_NOT_DECREASING, f"{units}:{price}")
        previous_units, previous_price = units, price
    return tuple(tiers)


def parse_count(text: str) -> int:
    """'50' -> 50: a whole number of at most 7 digits (zero passes; the caller decides)."""
    cleaned = text.strip()
    if not cleaned.isdecimal() or len(cleaned) > 7:
        raise GroupBuyError(GroupBuyRefusal.NOT_POSITIVE, cleaned)
    return int(cleaned)


def parse_minimum(text: str) -> tuple[str, int]:
    """'5' or '5人' -> (people, 5); '20u' or '20件' -> (units, 20): how many a group-buy needs
    to form."""
    cleaned = text.strip().lower()
    if cleaned.endswith(("u", "件")):
        return MIN_UNITS, parse_count(cleaned[:-1])
    return MIN_PEOPLE, parse_count(cleaned.removesuffix("人").removesuffix("位"))


def parse_deadline(
    text: str, *, now: datetime, timezone: str, since: datetime | None = None
) -> datetime:
    """'24h', '3d', '明天晚上8点', 'tomorrow 8pm' or '2026-11-25 20:00' in the group's time zone
    (services/parsing/ reads it; a duration counts from `since`, default `now`), later than
    `since` and at most MAX_DAYS_OPEN after it. The refusal's detail is the unreadable part."""
    base = since or now
    try:
        deadline = parse_moment(text, now=now, timezone=timezone, since=base)
    except Unreadable as exc:
        raise GroupBuyError(GroupBuyRefusal.BAD_DEADLINE, exc.part) from None
    cleaned = normalize(text)
    if deadline <= base:
        raise GroupBuyError(GroupBuyRefusal.DEADLINE_PAST, cleaned)
    if deadline - base > timedelta(days=MAX_DAYS_OPEN):
        raise GroupBuyError(GroupBuyRefusal.DEADLINE_TOO_FAR, cleaned)
    return deadline
