"""Reading dates and times: durations, ISO forms, Chinese days and times (a table-driven
layer) and English (dateparser), in a time zone at a given now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.parsing._common import (
    _CN_NUMBER,
    _EN_NUMBER,
    END_OF_DAY,
    Unreadable,
    _number,
    normalize,
)
from services.validation import sane_date

# ------------------------------------------------------------------ durations --------------

_UNITS: dict[str, timedelta] = {}
for _names, _unit in (
    ("m min mins minute minutes 分钟 分鐘", timedelta(minutes=1)),
    ("h hr hrs hour hours 小时 小時 个小时 個小時 钟头 鐘頭 个钟头 個鐘頭", timedelta(hours=1)),
    ("d day days 天", timedelta(days=1)),
    ("w wk wks week weeks 周 週 星期 个星期 個星期 礼拜 禮拜 个礼拜 個禮拜", timedelta(weeks=1)),
):
    _UNITS |= dict.fromkeys(_names.split(), _unit)
_UNIT = "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
_PIECE = rf"(\d+(?:\.\d+)?|{_CN_NUMBER}|半|{_EN_NUMBER})\s*({_UNIT})(?![a-z])"
_LATER = r"后|後|以后|以後|之后|之後|later|from now"
_DURATION = re.compile(
    rf"^(?:in\s+)?((?:{_PIECE}\s*(?:and\s+|,\s*)?)+)(?:\s*(?:{_LATER}))?$", re.IGNORECASE
)
_ONE_PIECE = re.compile(_PIECE, re.IGNORECASE)


def parse_duration(text: str) -> timedelta | None:
    """'3d', '1d12h', 'in 2 hours', '3天', '半小时', '两周后' -> the span; None if not one."""
    match = _DURATION.match(normalize(text))
    if not match:
        return None
    total = timedelta()
    for amount, unit in _ONE_PIECE.findall(match.group(1)):
        total += _UNITS[unit.lower()] * float(_number(amount))
    return total


# ------------------------------------------------------------------ Chinese days and times --

_REL_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "後天": 2}
_REL_DAYS |= {"大后天": 3, "大後天": 3, "今晚": 0, "明晚": 1}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAYS |= {str(n): n - 1 for n in range(1, 8)}
# part of the day -> (hours added to a clock below 12, the time it means on its own or None)
_PERIODS: dict[str, tuple[int, time | None]] = {
    "凌晨": (0, None),
    "早上": (0, None),
    "早晨": (0, None),
    "清晨": (0, None),
    "上午": (0, None),
    "中午": (12, time(12, 0)),  # 中午1点 is 13:00; 中午 alone is noon
    "午后": (12, None),
    "午後": (12, None),
    "下午": (12, None),
    "傍晚": (12, None),
    "晚上": (12, None),
    "夜里": (12, None),
    "夜裡": (12, None),
    "晚": (12, None),
    "午夜": (0, time(0, 0)),  # the midnight that ends the day
    "半夜": (0, time(0, 0)),
}
_REL = "|".join(sorted(_REL_DAYS, key=len, reverse=True))
_WEEK = r"(?P<wprefix>下下|下|这|這|本|今)?(?:个|個)?(?:周|週|星期|礼拜|禮拜)"
_PERIOD = "|".join(sorted(_PERIODS, key=len, reverse=True))
_CHINESE = re.compile(
    rf"""
    (?:
        (?P<rel>{_REL})
      | {_WEEK}(?P<wd>[一二三四五六日天1-7])
      | (?:(?P<year>\d{{4}})年)?(?P<month>\d{{1,2}})月(?P<day>\d{{1,2}})(?:日|号|號)?
      | (?:(?P<year2>\d{{4}})[-/.])?(?P<month2>\d{{1,2}})[-/.](?P<day2>\d{{1,2}})
      | (?P<dom>\d{{1,2}})(?:日|号|號)
    )?
    \s*(?P<period>{_PERIOD})?
    \s*(?:
        (?P<hour>\d{{1,2}}|{_CN_NUMBER})(?:点|點|时|時)
            (?:(?P<half>半)|(?P<quarter>一刻|三刻)|(?P<minute>\d{{1,2}}|{_CN_NUMBER})分?)?
      | (?P<hour2>\d{{1,2}}):(?P<minute2>\d{{2}})
    )?
    \s*(?:前|之前|以前|截止|为止|為止)?
    """,
    re.VERBOSE,
)
_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class _Found:
    moment: datetime | None  # None: the text is not for this reader at all
    stopped: str = ""  # the part it could not read


class _Stopped(Exception):
    """Reading a Chinese phrase stopped at `part`."""

    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


def _chinese(text: str, today: datetime) -> _Found:
    """The moment a Chinese phrase names, local and naive, or where it stopped reading."""
    compact = text.replace(" ", "")
    match = _CHINESE.match(compact)
    assert match is not None  # every part is optional
    if match.end() < len(compact) or match.end() == 0:
        return _Found(None, compact[match.end() :] or compact)
    try:
        clock, period = _chinese_clock(match, compact)
        day = _chinese_day(match, compact, today, clock)
    except _Stopped as stopped:
        return _Found(None, stopped.part)
    midnight_next = clock == time(0, 0) and period in ("午夜", "半夜")
    if day is None and clock is None:
        return _Found(None, compact)
    if day is None:
        assert clock is not None
        day = today.date()
        if datetime.combine(day, clock) <= today or midnight_next:
            day += timedelta(days=1)
    elif midnight_next:
        day += timedelta(days=1)  # 明天午夜: the midnight at the end of tomorrow
    return _Found(datetime.combine(day, clock or END_OF_DAY))


def _chinese_clock(match: re.Match[str], compact: str) -> tuple[time | None, str | None]:
    """The clock a Chinese phrase names (None: none) and its part of the day."""
    g = match.groupdict()
    period = g["period"] or ("晚" if g["rel"] in ("今晚", "明晚") else None)
    clock: time | None = None
    hour_text, minute_text = g["hour"] or g["hour2"], g["minute"] or g["minute2"]
    if hour_text:
        hour = int(_number(hour_text))
        minute = 30 if g["half"] else int(_number(minute_text)) if minute_text else 0
        if g["quarter"]:
            minute = 15 if g["quarter"] == "一刻" else 45
        if period:
            shift, _alone = _PERIODS[period]
            if shift and hour < 12 and not (period == "中午" and hour >= 11):
                hour += shift
        if hour == 24 and minute == 0:
            hour, period = 0, "午夜"
        if hour > 23 or minute > 59:
            raise _Stopped(compact[match.start("hour") if g["hour"] else match.start("hour2") :])
        clock = time(hour, minute)
    elif period:
        clock = _PERIODS[period][1]
        if clock is None:  # 晚上 with no hour: ask rather than guess
            raise _Stopped(period)
    return clock, period


def _chinese_day(
    match: re.Match[str], compact: str, today: datetime, clock: time | None
) -> date | None:
    """The day a Chinese phrase names (None: none), the next to come when it could be two."""
    g = match.groupdict()
    day: date | None = None
    base = today.date()
    if g["rel"]:
        day = base + timedelta(days=_REL_DAYS[g["rel"]])
    elif g["wd"]:
        weekday = _WEEKDAYS[g["wd"]]
        monday = base - timedelta(days=base.weekday())
        prefix = g["wprefix"] or ""
        if prefix in ("下", "下下"):
            day = monday + timedelta(weeks=len(prefix), days=weekday)
        elif prefix:
            day = monday + timedelta(days=weekday)  # this week's, even if it has passed
        else:
            day = base + timedelta(days=(weekday - base.weekday()) % 7)
            if datetime.combine(day, clock or END_OF_DAY) <= today:
                day += timedelta(weeks=1)
    elif g["month"] or g["month2"]:
        year_text = g["year"] or g["year2"]
        month, dom = int(g["month"] or g["month2"]), int(g["day"] or g["day2"])
        try:
            day = date(int(year_text) if year_text else base.year, month, dom)
            if not year_text and datetime.combine(day, clock or END_OF_DAY) <= today:
                day = date(base.year + 1, month, dom)
        except ValueError:
            raise _Stopped(
                compact[: match.end("day") if g["month"] else match.end("day2")]
            ) from None
    elif g["dom"]:
        dom, year, month = int(g["dom"]), base.year, base.month
        for _step in range(3):  # this month's, else the next month that has that day
            try:
                candidate = date(year, month, dom)
            except ValueError:
                candidate = None
            if candidate and datetime.combine(candidate, clock or END_OF_DAY) > today:
                day = candidate
                break
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if day is None:
            raise _Stopped(compact[: match.end("dom") + 1])
    return day


# ------------------------------------------------------------------ English (dateparser) ---


_DATEPARSER_PERIODS = ("time", "day", "week")  # 'month' and 'year' are too vague a deadline
_CLOCK_WORD = re.compile(r"\d\s*(?:am|pm)\b|\d:\d", re.IGNORECASE)


def _english(text: str, today: datetime) -> datetime | None:
    if re.fullmatch(r"[\d.]+", text):  # '20' is a typo, not the 20th of the month
        return None
    from dateparser.date import DateDataParser  # imported on first use: it takes 0.4 s

    settings = {"RELATIVE_BASE": today, "PREFER_DATES_FROM": "future"}
    settings |= {"RETURN_TIME_AS_PERIOD": True, "PREFER_DAY_OF_MONTH": "first"}
    data = DateDataParser(languages=["en"], settings=settings).get_date_data(text)
    if data.date_obj is None or data.period not in _DATEPARSER_PERIODS:
        return None
    if data.period != "time" and _CLOCK_WORD.search(text):  # 'tomorrow 25pm': clock dropped
        return None
    found: datetime = data.date_obj.replace(tzinfo=None)
    if data.period == "day" and found.time() in (time(0, 0), today.time()):
        found = datetime.combine(found.date(), END_OF_DAY)  # 'saturday': until its end
    return found


def _english_stop(text: str, today: datetime) -> str:
    """The words the English reader stumbles on: what follows the longest readable start."""
    words = text.split()
    for end in range(len(words) - 1, 0, -1):
        if _english(" ".join(words[:end]), today) is not None:
            return " ".join(words[end:])
    return text


# ------------------------------------------------------------------ moments ----------------


def _iso(text: str) -> datetime | None:
    try:
        found = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text.replace("/", "-")):
        return datetime.combine(found.date(), END_OF_DAY)  # a day alone: until its end
    return found


def parse_moment(
    text: str, *, now: datetime, timezone: str, since: datetime | None = None
) -> datetime:
    """The aware moment typed as a duration (from `since`, default `now`), an ISO time, or a
    day and time in English or Chinese read in `timezone` at `now`; Unreadable('when')."""
    cleaned = normalize(text)
    if not cleaned:
        raise Unreadable("when", text.strip())
    try:
        span = parse_duration(cleaned)
        if span is not None:
            moment = (since or now) + span
            if not sane_date(moment.date()):
                raise OverflowError(moment)
            return moment
    except OverflowError:  # '99999999d': beyond any date the bot deals with
        raise Unreadable("when", cleaned) from None
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).replace(tzinfo=None, microsecond=0)
    found = _iso(cleaned)
    if found is None and _HAN.search(cleaned):
        chinese = _chinese(cleaned, today)
        if chinese.moment is None:
            raise Unreadable("when", chinese.stopped)
        found = chinese.moment
    if found is None:
        found = _english(cleaned, today)
        if found is None:
            raise Unreadable("when", _english_stop(cleaned, today))
    if not sane_date(found.date()):  # '9999-12-31 23:59': no later arithmetic would hold
        raise Unreadable("when", cleaned)
    if found.tzinfo is None:
        found = found.replace(tzinfo=zone)
    return found
