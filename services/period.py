"""Date ranges typed by people ("2026-11-01 2026-11-30", "2026-11-01..2026-11-30", "7d"),
read in a time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.validation import MAX_YEAR, MIN_YEAR, sane_date

MAX_DAYS = 3660  # ten years: anything longer is a typo
DEFAULT_DAYS = 30
_DAYS = re.compile(r"^(\d{1,4})d$", re.IGNORECASE)


class InvalidPeriod(ValueError):
    """The text is not a date range the bot understands."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days [first, last] in a time zone, with their UTC bounds [start, end)."""

    first: date
    last: date
    start: datetime
    end: datetime


def _period(first: date, last: date, timezone: str) -> Period:
    if not (sane_date(first) and sane_date(last)):  # 9999-12-31 has no next day to end on
        raise InvalidPeriod(f"dates are between {MIN_YEAR} and {MAX_YEAR}")
    if last < first:
        raise InvalidPeriod("the end is before the start")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidPeriod("the range is too long")
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time.min, zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
    return Period(first=first, last=last, start=start, end=end)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidPeriod(f"{text!r} is not a date like 2026-11-30") from None


def parse_period(text: str, *, timezone: str, today: date) -> Period:
    """A range from '' (the last 30 days), 'Nd' (the last N days), one date, or two dates
    (apart, or joined by '..')."""
    words = text.split()
    if len(words) == 1 and ".." in words[0]:
        words = words[0].split("..", 1)
    if not words:
        return _period(today - timedelta(days=DEFAULT_DAYS - 1), today, timezone)
    if len(words) == 1:
        match = _DAYS.match(words[0])
        if match:
            days = int(match.group(1))
            if days < 1:
                raise InvalidPeriod("the number of days must be at least 1")
            if days > MAX_DAYS:
                raise InvalidPeriod("the range is too long")
            return _period(today - timedelta(days=days - 1), today, timezone)
        day = _date(words[0])
        return _period(day, day, timezone)
    if len(words) == 2:
        return _period(_date(words[0]), _date(words[1]), timezone)
    raise InvalidPeriod("too many words")
