"""What people type, read the way they type it: dates and times, durations, amounts of money
and time zones, in English and Chinese.

Every reader starts with `normalize`: full-width digits and punctuation typed by a Chinese
IME (`１０：３５．９０`, `，`, `：`, `－`, the ideographic space) become their ASCII forms.

Dates and times (`parse_moment`), in the reader's or group's time zone at a given `now`:
- durations: `3d`, `24h`, `90m`, `1w`, `1d12h`, `1.5h`, `in 3 days`, `2 hours`, `3天`,
  `2小时`, `半小时`, `两周`, `3天后` -> `now` plus that much (from `since`, when given);
- ISO forms: `2026-11-25 20:00`, `2026-11-25T20:00+08:00`, `2026/11/25 20:00`;
- Chinese days and times, by a small table-driven layer (dateparser does not read them):
  `今天` `明天` `后天` `大后天`, `周六` `星期六` `礼拜六`, `下周一` (next calendar week),
  `12月31日` `2026年12月31日` `31号` `12-31`, then `凌晨` `早上` `上午` `中午` `下午` `傍晚`
  `晚上` `今晚` `明晚` and a clock `8点` `8点半` `8点15分` `八点` `20:00`;
- English by `dateparser` (a maintained library): `tomorrow 8pm`, `saturday 10am`,
  `next monday`, `Dec 31 8pm`, `12/31 20:00`, `noon`, `in 3 days at 8pm`.
A time without a day is the next time the clock shows it (today, else tomorrow); a day without
a time is the end of that day (23:59): "until Saturday" includes Saturday. A day named without
a year is the next one to come (`12月31日` in January is this year's). `晚上` with no hour is
refused, asking for the hour, rather than guessed.

Amounts (`parse_amount`): `35.9`, `35.90元`, `¥35.90`, `￥35.9`, `35块`, `35块9` (35.90: the
digit after 块 is 角, tenths, as it is said), `35块9毛`, `CNY 35.90`, `35.90 RMB`, in the
reader's locale (`35,90` in German). A currency code or RMB that is not the product's currency
is refused.

Time zones (`parse_zone`): an IANA name in any case (`asia/shanghai`); a city or country in
English or Chinese (`Beijing`, `北京`, `上海`, `香港`, `台北`, `新加坡`, `东京`, `China`,
`Singapore`, `北京时间`), or any IANA city (`Kolkata`, `los angeles`); an offset `UTC+8`,
`GMT+8`, `+08:00`, `东八区`. A whole-hour offset becomes the fixed zone `Etc/GMT-8` (what was
typed: no daylight saving; shown as UTC+8 by `zone_label`), a half-hour one the city that
keeps it all year (`UTC+5:30` -> Asia/Kolkata).

Each refusal is an `Unreadable` naming the part the reader stopped at, for the caller to put
in a localized message with an example.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.numbers import NumberFormatError, parse_decimal

from services.money import AmountRefusal, InvalidAmount, currency_digits
from services.validation import NumberRefused, number, sane_date

END_OF_DAY = time(23, 59)


class Unreadable(ValueError):
    """Text the bot could not read: `part` is where it stopped, `kind` what it wanted there."""

    def __init__(self, kind: str, part: str) -> None:
        super().__init__(f"{kind}: {part}")
        self.kind = kind  # when, zone
        self.part = part


# ------------------------------------------------------------------ normalising ------------

# what NFKC leaves alone but a Chinese IME types for ASCII punctuation
_IME = str.maketrans({"。": ".", "、": ",", "～": "~", "—": "-", "–": "-", "\u200b": None})


def normalize(text: str) -> str:
    """Full-width digits, letters and punctuation as ASCII, runs of spaces as one, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_IME).split())


# ------------------------------------------------------------------ numbers -----------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4}
_CN_DIGITS |= {"五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMBER = "[零〇一二两兩三四五六七八九十]+"


_EN_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_EN_NUMBERS |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_EN_NUMBER = "(?:" + "|".join(sorted(_EN_NUMBERS, key=len, reverse=True)) + r")(?=\s)"


def _number(text: str) -> Decimal:
    """'12', '1.5', '半' (a half), '八', '十二', '二十四', 'three' -> the number."""
    if text == "半":
        return Decimal("0.5")
    if text.lower() in _EN_NUMBERS:
        return Decimal(_EN_NUMBERS[text.lower()])
    if text[0].isdigit():
        return Decimal(text)
    tens, sep, ones = text.partition("十")
    if not sep:
        value = 0
        for char in text:  # '二四' is not a number people type; digit by digit anyway
            value = value * 10 + _CN_DIGITS[char]
        return Decimal(value)
    return Decimal((_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0))


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


def _chinese(text: str, today: datetime) -> _Found:
    """The moment a Chinese phrase names, local and naive, or where it stopped reading."""
    compact = text.replace(" ", "")
    match = _CHINESE.match(compact)
    assert match is not None  # every part is optional
    if match.end() < len(compact) or match.end() == 0:
        return _Found(None, compact[match.end() :] or compact)
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
            return _Found(
                None, compact[match.start("hour") if g["hour"] else match.start("hour2") :]
            )
        clock = time(hour, minute)
    elif period:
        clock = _PERIODS[period][1]
        if clock is None:  # 晚上 with no hour: ask rather than guess
            return _Found(None, period)
    midnight_next = clock == time(0, 0) and period in ("午夜", "半夜")

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
            return _Found(None, compact[: match.end("day") if g["month"] else match.end("day2")])
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
            return _Found(None, compact[: match.end("dom") + 1])
    if day is None and clock is None:
        return _Found(None, compact)
    if day is None:
        assert clock is not None
        day = base
        if datetime.combine(day, clock) <= today or midnight_next:
            day += timedelta(days=1)
    elif midnight_next:
        day += timedelta(days=1)  # 明天午夜: the midnight at the end of tomorrow
    return _Found(datetime.combine(day, clock or END_OF_DAY))


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


# ------------------------------------------------------------------ time zones -------------

_PLACES: dict[str, str] = {}
for _zone, _names in (
    (
        "Asia/Shanghai",
        "china prc beijing shanghai guangzhou shenzhen chengdu hangzhou chongqing wuhan nanjing "
        "中国 中國 北京 上海 广州 廣州 深圳 成都 杭州 重庆 重慶 武汉 武漢 南京 天津 西安 苏州 蘇州 "
        "中国大陆 中國大陸 大陆 大陸 内地 內地",
    ),
    ("Asia/Hong_Kong", "hong_kong hongkong hk 香港"),
    ("Asia/Macau", "macau macao 澳门 澳門"),
    ("Asia/Taipei", "taipei taiwan 台北 臺北 台湾 台灣 臺灣 高雄"),
    ("Asia/Singapore", "singapore sg 新加坡 星加坡"),
    ("Asia/Tokyo", "tokyo japan 东京 東京 日本 大阪"),
    ("Asia/Seoul", "seoul korea south_korea 首尔 首爾 韩国 韓國"),
    ("Asia/Kuala_Lumpur", "kuala_lumpur malaysia 吉隆坡 马来西亚 馬來西亞"),
    ("Asia/Bangkok", "bangkok thailand 曼谷 泰国 泰國"),
    ("Asia/Jakarta", "jakarta indonesia 雅加达 雅加達 印尼 印度尼西亚"),
    ("Asia/Manila", "manila philippines 马尼拉 馬尼拉 菲律宾 菲律賓"),
    ("Asia/Ho_Chi_Minh", "vietnam hanoi saigon 越南 河内 河內 胡志明市"),
    ("Asia/Kolkata", "india mumbai delhi new_delhi 印度 孟买 孟買 新德里"),
    ("Asia/Dubai", "dubai uae 迪拜 杜拜 阿联酋 阿聯酋"),
    ("Australia/Sydney", "sydney australia 悉尼 雪梨 澳大利亚 澳洲"),
    ("Australia/Melbourne", "melbourne 墨尔本 墨爾本"),
    ("Pacific/Auckland", "new_zealand nz auckland 新西兰 紐西蘭 奥克兰 奧克蘭"),
    ("Europe/London", "london uk britain united_kingdom england 伦敦 倫敦 英国 英國"),
    ("Europe/Paris", "france 巴黎 法国 法國"),
    ("Europe/Berlin", "germany 柏林 德国 德國"),
    ("Europe/Moscow", "russia 莫斯科 俄罗斯 俄羅斯"),
    ("America/New_York", "new_york nyc us_east 纽约 紐約 华盛顿 華盛頓"),
    ("America/Los_Angeles", "los_angeles la san_francisco us_west 洛杉矶 洛杉磯 旧金山 舊金山"),
    ("America/Vancouver", "vancouver 温哥华 溫哥華"),
    ("America/Toronto", "toronto 多伦多 多倫多"),
    ("UTC", "utc gmt z zulu 格林尼治 世界时 協調世界時 协调世界时"),
):
    _PLACES |= dict.fromkeys(_names.split(), _zone)
_ZONE_SUFFIX = re.compile(r"(?:\s*(?:standard\s+)?time|时间|時間|时区|時區)$", re.IGNORECASE)
_OFFSET = re.compile(r"^(?:utc|gmt|z)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_CN_OFFSET = re.compile(rf"^(东|東|西)({_CN_NUMBER}|\d{{1,2}})(?:区|區)$")
# offsets that are not whole hours have no Etc/ zone: the place that keeps them all year
_ODD_OFFSETS = {
    (1, 3, 30): "Asia/Tehran",
    (1, 4, 30): "Asia/Kabul",
    (1, 5, 30): "Asia/Kolkata",
    (1, 5, 45): "Asia/Kathmandu",
    (1, 6, 30): "Asia/Yangon",
    (1, 9, 30): "Australia/Darwin",
    (-1, 9, 30): "Pacific/Marquesas",
    (-1, 3, 30): "America/St_Johns",
}


@cache
def _zone_names() -> dict[str, str]:
    """Every IANA name and every IANA city ('los angeles', 'kolkata'), lower-cased."""
    names: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if name.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        names.setdefault(name.rsplit("/", 1)[-1].lower(), name)
    for name in available_timezones():
        names[name.lower()] = name
    return names


def _offset_zone(sign: int, hours: int, minutes: int) -> str | None:
    if minutes:
        return _ODD_OFFSETS.get((sign, hours, minutes))
    if hours == 0:
        return "UTC"
    if hours > (14 if sign > 0 else 12):
        return None
    return f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"  # POSIX: the sign is the other way


def parse_zone(text: str) -> str:
    """The IANA zone a person means by a zone name, a city or country (English or Chinese) or
    a UTC offset; Unreadable('zone') otherwise."""
    cleaned = normalize(text)
    if not cleaned or len(cleaned) > 64 or ".." in cleaned or cleaned.startswith("/"):
        raise Unreadable("zone", cleaned)
    try:
        ZoneInfo(cleaned)
        if "/" in cleaned or cleaned in ("UTC", "GMT"):
            return cleaned
    except (ZoneInfoNotFoundError, ValueError):
        pass
    key = _ZONE_SUFFIX.sub("", cleaned).strip().lower()
    offset = _OFFSET.match(key.replace(" ", ""))
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        zone = _offset_zone(sign, int(offset.group(2)), int(offset.group(3) or 0))
        if zone:
            return zone
        raise Unreadable("zone", cleaned)
    chinese_offset = _CN_OFFSET.match(key.replace(" ", ""))
    if chinese_offset:
        sign = 1 if chinese_offset.group(1) != "西" else -1
        zone = _offset_zone(sign, int(_number(chinese_offset.group(2))), 0)
        if zone:
            return zone
    for candidate in (key, key.replace(" ", "_"), key.replace(" ", "")):
        if candidate in _PLACES:
            return _PLACES[candidate]
        if candidate in _zone_names():
            return _zone_names()[candidate]
    raise Unreadable("zone", cleaned)


def zone_label(name: str) -> str:
    """How a zone reads to people: 'Etc/GMT-8' as 'UTC+8' (POSIX signs are backwards)."""
    match = re.fullmatch(r"Etc/GMT([+-])(\d{1,2})", name)
    if not match:
        return name
    return f"UTC{'-' if match.group(1) == '+' else '+'}{match.group(2)}"


# ------------------------------------------------------------------ one-line options -------

# the words a Chinese-speaking leader types for the keys of one-line options (/groupbuy,
# /drop, /poll_presale), Simplified and Traditional, each for its English key
OPTION_ALIASES: dict[str, str] = {
    **dict.fromkeys(("阶梯", "階梯", "阶梯价", "階梯價", "价格", "價格"), "tiers"),
    **dict.fromkeys(("成团", "成團", "最少", "起团", "起團", "起订", "起訂"), "min"),
    **dict.fromkeys(("成团方式", "成團方式"), "form"),
    **dict.fromkeys(("库存", "庫存", "数量", "數量"), "stock"),
    **dict.fromkeys(("限购", "限購", "每人限购", "每人限購"), "limit"),
    **dict.fromkeys(("会员优先", "會員優先", "优先", "優先"), "vip"),
    **dict.fromkeys(("自提", "取货", "取貨", "自取", "提货", "提貨"), "pickup"),
    **dict.fromkeys(("截止", "截止时间", "截止時間", "结束", "結束", "deadline"), "deadline"),
    **dict.fromkeys(("配送", "配送方式", "交付", "delivery"), "delivery"),
    # an A/B test's hold-out share (/care_add)
    **dict.fromkeys(("对照", "對照", "对照组", "對照組", "留出"), "holdout"),
    **dict.fromkeys(("等级", "等級", "群等级", "群等級", "层级", "層級"), "level"),
    # /trial_new: places, whom to invite, what the report rates, when it is due
    **dict.fromkeys(("名额", "名額", "人数", "人數"), "places"),
    **dict.fromkeys(("邀请", "邀請", "对象", "對象"), "invite"),
    **dict.fromkeys(("评分项", "評分項", "维度", "維度", "评价项", "評價項"), "aspects"),
    **dict.fromkeys(("报告截止", "報告截止", "交报告", "交報告"), "due"),
    # /poll_new first=ambassadors:2h: who votes first in a co-creation poll, for how long
    **dict.fromkeys(("先投", "先投票", "抢先投票", "搶先投票"), "first"),
}
# the values of delivery= as a Chinese leader types them, by the mode each means
FULFILMENT_ALIASES: dict[str, str] = {
    **dict.fromkeys(("自提", "自取", "取货", "取貨", "到店自提"), "pickup"),
    **dict.fromkeys(("快递", "快遞", "送货", "送貨", "配送", "邮寄", "郵寄"), "delivery"),
    **dict.fromkeys(("都可以", "都行", "两者", "兩者", "自提或快递", "自提或快遞"), "both"),
}
# the separators between a key and its value: = and the full-width ＝ an IME types
_OPTION_SEPARATOR = re.compile("[=＝]")


def split_option(word: str) -> tuple[str, str] | None:
    """One option word as (English key, value): 'tiers=10:35.90', '阶梯＝10：35.90' and
    'ＴＩＥＲＳ=…' all give ('tiers', …); None for a word without = (an unknown key is kept
    as typed, lower-cased, for the caller to refuse)."""
    parts = _OPTION_SEPARATOR.split(word, maxsplit=1)
    if len(parts) < 2:
        return None
    key = normalize(parts[0]).lower()
    return OPTION_ALIASES.get(key, key), parts[1]


def is_option(word: str) -> bool:
    """Whether the word is a key=value option (with = or ＝)."""
    return _OPTION_SEPARATOR.search(word) is not None
