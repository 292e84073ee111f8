"""Date ranges typed by people ("2026-11-01 2026-11-30", "2026-11-01..2026-11-30", "7d",
"11月1日至11月30日", "7天"), read in a time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.errors import Refused
from services.parsing import Unreadable, normalize, parse_duration, parse_moment
from services.validation import MAX_YEAR, MIN_YEAR, sane_date

MAX_DAYS = 3660  # ten years: anything longer is a typo
DEFAULT_DAYS = 30
_DAYS = re.compile(r"^(\d{1,4})d$", re.IGNORECASE)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMERIC_DAY = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")


class InvalidPeriod(Refused):
    """The text is not a date range the bot understands (reason "period"); `detail` says
    why, in English, and is the whole message: the export command prints it."""

    def __init__(self, detail: str) -> None:
        super().__init__("period", detail)

    def __str__(self) -> str:
        return self.detail


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


_YEAR = re.compile(r"\d{4}|年")
# between the two ends of a range: '..', '~', 至 / 到 (a hyphen belongs to ISO dates)
_RANGE = re.compile(r"\s*(?:\.\.|~|至|到|\bto\b)\s*", re.IGNORECASE)


def _date(text: str, *, timezone: str, today: date) -> date:
    """An ISO date, or a day as people type it (`11月1日`, `昨天`, `Nov 1`) read by
    services.parsing; a day without a year is the last one that came, not the next."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    numeric = _NUMERIC_DAY.fullmatch(text)
    if numeric:  # year, month, day in this order only: '2026-13-01' is no day at all
        try:
            return date(*(int(part) for part in numeric.groups()))
        except ValueError:
            raise InvalidPeriod(f"{text!r} is not a date like 2026-11-30") from None
    if parse_duration(text) is not None:  # '1d12h', '3天后': a span, not a day
        raise InvalidPeriod(f"{text!r} is not a date like 2026-11-30")
    noon = datetime.combine(today, time(12), ZoneInfo(timezone))
    try:
        day = parse_moment(text, now=noon, timezone=timezone).astimezone(ZoneInfo(timezone)).date()
    except Unreadable:
        raise InvalidPeriod(f"{text!r} is not a date like 2026-11-30") from None
    if day > today and not _YEAR.search(text):
        day = _year_later(day, -1)  # '11月1日' on 2026-11-24 means the one just gone
    return day


def _year_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _days(text: str) -> int | None:
    """'7d', '7天', '7 days': the last N days; None when the text is not a number of days."""
    match = _DAYS.match(text)
    if match:
        return int(match.group(1))
    span = parse_duration(text)
    if span is None or span % timedelta(days=1) or "后" in text or "後" in text:
        return None
    return span // timedelta(days=1)


def parse_period(text: str, *, timezone: str, today: date) -> Period:
    """A range from '' (the last 30 days), 'Nd' or '7天' (the last N days), one date, or two
    dates (apart, or joined by '..', '~', 至, 到 or 'to'); dates in ISO or as people type them
    (`11月1日`, `昨天`, `Nov 1`, see services.parsing)."""
    cleaned = normalize(text)
    if not cleaned:
        return _period(today - timedelta(days=DEFAULT_DAYS - 1), today, timezone)
    ends = _RANGE.split(cleaned)
    if not all(ends):
        raise InvalidPeriod("a range needs a first and a last day")
    if len(ends) == 1:
        words = ends[0].split()
        if len(words) == 2 and all(_ISO_DAY.match(word) for word in words):
            ends = words  # two ISO dates apart: '2026-11-01 2026-11-30'
    if len(ends) == 1:
        days = _days(ends[0])
        if days is not None:
            if days < 1:
                raise InvalidPeriod("the number of days must be at least 1")
            if days > MAX_DAYS:
                raise InvalidPeriod("the range is too long")
            return _period(today - timedelta(days=days - 1), today, timezone)
        day = _date(ends[0], timezone=timezone, today=today)
        return _period(day, day, timezone)
    if len(ends) == 2:
        first = _date(ends[0], timezone=timezone, today=today)
        last = _date(ends[1], timezone=timezone, today=today)
        if last < first and not _YEAR.search(ends[1]):
            last = _year_later(last, 1)  # '11月1日至11月30日' on the 24th: this November's 30th
        return _period(first, last, timezone)
    raise InvalidPeriod("too many words")
