"""services/parsing/: what people type, read as they mean it, at a fixed now (Friday
2026-11-20 15:30) in two time zones; and each refusal names the part it could not read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from handlers.views.groupbuy_open import OpenDefaults, parse_open_line
from handlers.views.text import countdown
from models.groupbuy import MIN_PEOPLE, MIN_UNITS
from services.community import InvalidTimezone, parse_timezone
from services.groupbuy import GroupBuyError, parse_minimum, parse_tiers
from services.money import InvalidAmount
from services.parsing import (
    FULFILMENT_ALIASES,
    Unreadable,
    is_option,
    normalize,
    parse_amount,
    parse_duration,
    parse_moment,
    parse_zone,
    split_option,
    zone_label,
)

ZONES = ("Asia/Shanghai", "America/New_York")  # New York keeps one offset until March
WALL = "%a %Y-%m-%d %H:%M"

# (typed, the local wall time it means); "23:59" is a day named without a time: its end
ENGLISH = [
    ("3d", "Mon 2026-11-23 15:30"),
    ("24h", "Sat 2026-11-21 15:30"),
    ("90m", "Fri 2026-11-20 17:00"),
    ("1w", "Fri 2026-11-27 15:30"),
    ("2h", "Fri 2026-11-20 17:30"),
    ("45 min", "Fri 2026-11-20 16:15"),
    ("1d12h", "Sun 2026-11-22 03:30"),
    ("1.5h", "Fri 2026-11-20 17:00"),
    ("in 3 days", "Mon 2026-11-23 15:30"),
    ("in 2 hours", "Fri 2026-11-20 17:30"),
    ("in 90 minutes", "Fri 2026-11-20 17:00"),
    ("3 days", "Mon 2026-11-23 15:30"),
    ("2 hours", "Fri 2026-11-20 17:30"),
    ("in 1 week", "Fri 2026-11-27 15:30"),
    ("2 weeks", "Fri 2026-12-04 15:30"),
    ("3 days 2 hours", "Mon 2026-11-23 17:30"),
    ("1 day and 6 hours", "Sat 2026-11-21 21:30"),
    ("2 hours later", "Fri 2026-11-20 17:30"),
    ("3 days from now", "Mon 2026-11-23 15:30"),
    ("tomorrow", "Sat 2026-11-21 23:59"),
    ("tomorrow 8pm", "Sat 2026-11-21 20:00"),
    ("tomorrow at 8pm", "Sat 2026-11-21 20:00"),
    ("tomorrow 20:00", "Sat 2026-11-21 20:00"),
    ("tomorrow noon", "Sat 2026-11-21 12:00"),
    ("tomorrow 9:30am", "Sat 2026-11-21 09:30"),
    ("8pm tomorrow", "Sat 2026-11-21 20:00"),
    ("today 8pm", "Fri 2026-11-20 20:00"),
    ("tonight 8pm", "Fri 2026-11-20 20:00"),
    ("at 8pm", "Fri 2026-11-20 20:00"),
    ("8pm", "Fri 2026-11-20 20:00"),
    ("8:30pm", "Fri 2026-11-20 20:30"),
    ("20:00", "Fri 2026-11-20 20:00"),
    ("10am", "Sat 2026-11-21 10:00"),
    ("noon", "Sat 2026-11-21 12:00"),
    ("midnight", "Sat 2026-11-21 00:00"),
    ("saturday", "Sat 2026-11-21 23:59"),
    ("saturday 10am", "Sat 2026-11-21 10:00"),
    ("sat 10:00", "Sat 2026-11-21 10:00"),
    ("sunday 6pm", "Sun 2026-11-22 18:00"),
    ("monday", "Mon 2026-11-23 23:59"),
    ("mon 9am", "Mon 2026-11-23 09:00"),
    ("next monday", "Mon 2026-11-23 23:59"),
    ("next monday 10am", "Mon 2026-11-23 10:00"),
    ("friday 10am", "Fri 2026-11-27 10:00"),
    ("friday 6pm", "Fri 2026-11-27 18:00"),
    ("Dec 31", "Thu 2026-12-31 23:59"),
    ("Dec 31 8pm", "Thu 2026-12-31 20:00"),
    ("december 31 8pm", "Thu 2026-12-31 20:00"),
    ("31 Dec", "Thu 2026-12-31 23:59"),
    ("31 December 20:00", "Thu 2026-12-31 20:00"),
    ("Nov 25", "Wed 2026-11-25 23:59"),
    ("nov 25 8:30pm", "Wed 2026-11-25 20:30"),
    ("12/31 20:00", "Thu 2026-12-31 20:00"),
    ("12-31 20:00", "Thu 2026-12-31 20:00"),
    ("12/1", "Tue 2026-12-01 23:59"),
    ("the 25th", "Wed 2026-11-25 23:59"),
    ("day after tomorrow", "Sun 2026-11-22 23:59"),
    ("day after tomorrow noon", "Sun 2026-11-22 12:00"),
    ("in 3 days at 8pm", "Mon 2026-11-23 20:00"),
    ("2026-11-25 20:00", "Wed 2026-11-25 20:00"),
    ("2026-11-25T20:00", "Wed 2026-11-25 20:00"),
    ("2026/11/25 20:00", "Wed 2026-11-25 20:00"),
    ("2026-11-25", "Wed 2026-11-25 23:59"),
    ("2026-12-31 23:59", "Thu 2026-12-31 23:59"),
    ("next week", "Fri 2026-11-27 15:30"),
    ("TOMORROW 8PM", "Sat 2026-11-21 20:00"),
    ("Tomorrow 8 pm", "Sat 2026-11-21 20:00"),
    ("in 10 days", "Mon 2026-11-30 15:30"),
    ("in three days", "Mon 2026-11-23 15:30"),
    ("in an hour", "Fri 2026-11-20 16:30"),
    ("two hours later", "Fri 2026-11-20 17:30"),
]

CHINESE = [
    ("明天晚上8点", "Sat 2026-11-21 20:00"),
    ("后天中午", "Sun 2026-11-22 12:00"),
    ("下周一", "Mon 2026-11-23 23:59"),
    ("3天", "Mon 2026-11-23 15:30"),
    ("2小时", "Fri 2026-11-20 17:30"),
    ("12月31日20:00", "Thu 2026-12-31 20:00"),
    ("12-31 20:00", "Thu 2026-12-31 20:00"),
    ("周六上午10点", "Sat 2026-11-21 10:00"),
    ("明天", "Sat 2026-11-21 23:59"),
    ("后天", "Sun 2026-11-22 23:59"),
    ("大后天", "Mon 2026-11-23 23:59"),
    ("今天晚上9点", "Fri 2026-11-20 21:00"),
    ("今晚8点", "Fri 2026-11-20 20:00"),
    ("今晚八点半", "Fri 2026-11-20 20:30"),
    ("明晚7点", "Sat 2026-11-21 19:00"),
    ("明天早上9点", "Sat 2026-11-21 09:00"),
    ("明天上午10点", "Sat 2026-11-21 10:00"),
    ("明天中午12点", "Sat 2026-11-21 12:00"),
    ("明天中午1点", "Sat 2026-11-21 13:00"),
    ("明天下午3点", "Sat 2026-11-21 15:00"),
    ("明天下午3点半", "Sat 2026-11-21 15:30"),
    ("明天晚上8点15分", "Sat 2026-11-21 20:15"),
    ("明天晚上八点一刻", "Sat 2026-11-21 20:15"),
    ("明天凌晨2点", "Sat 2026-11-21 02:00"),
    ("明天午夜", "Sun 2026-11-22 00:00"),
    ("明天 20:00", "Sat 2026-11-21 20:00"),
    ("明天20:00", "Sat 2026-11-21 20:00"),
    ("后天下午两点", "Sun 2026-11-22 14:00"),
    ("周六", "Sat 2026-11-21 23:59"),
    ("周日", "Sun 2026-11-22 23:59"),
    ("周日晚上8点", "Sun 2026-11-22 20:00"),
    ("星期六 10:00", "Sat 2026-11-21 10:00"),
    ("星期天下午3点", "Sun 2026-11-22 15:00"),
    ("礼拜五晚上6点", "Fri 2026-11-20 18:00"),
    ("礼拜天", "Sun 2026-11-22 23:59"),
    ("下周一上午9点", "Mon 2026-11-23 09:00"),
    ("下周五", "Fri 2026-11-27 23:59"),
    ("下下周三 9:00", "Wed 2026-12-02 09:00"),
    ("这周日", "Sun 2026-11-22 23:59"),
    ("本周六晚上8点", "Sat 2026-11-21 20:00"),
    ("周五下午3点", "Fri 2026-11-27 15:00"),
    ("12月31日", "Thu 2026-12-31 23:59"),
    ("12月31号", "Thu 2026-12-31 23:59"),
    ("12月31日晚上8点", "Thu 2026-12-31 20:00"),
    ("12月31号 20:00", "Thu 2026-12-31 20:00"),
    ("2026年12月31日", "Thu 2026-12-31 23:59"),
    ("2026年12月25日晚上8点", "Fri 2026-12-25 20:00"),
    ("1月5日", "Tue 2027-01-05 23:59"),
    ("31号", "Thu 2026-12-31 23:59"),
    ("25号晚上8点", "Wed 2026-11-25 20:00"),
    ("12-31", "Thu 2026-12-31 23:59"),
    ("12/31 20:00", "Thu 2026-12-31 20:00"),
    ("晚上8点", "Fri 2026-11-20 20:00"),
    ("下午3点", "Sat 2026-11-21 15:00"),
    ("8点", "Sat 2026-11-21 08:00"),
    ("20点", "Fri 2026-11-20 20:00"),
    ("20:00", "Fri 2026-11-20 20:00"),
    ("中午", "Sat 2026-11-21 12:00"),
    ("3天后", "Mon 2026-11-23 15:30"),
    ("2小时后", "Fri 2026-11-20 17:30"),
    ("半小时", "Fri 2026-11-20 16:00"),
    ("半天", "Sat 2026-11-21 03:30"),
    ("两周", "Fri 2026-12-04 15:30"),
    ("三天", "Mon 2026-11-23 15:30"),
    ("十天", "Mon 2026-11-30 15:30"),
    ("1天12小时", "Sun 2026-11-22 03:30"),
    ("30分钟", "Fri 2026-11-20 16:00"),
    ("90分钟后", "Fri 2026-11-20 17:00"),
    ("１２月３１日２０：００", "Thu 2026-12-31 20:00"),
    ("明天晚上８点", "Sat 2026-11-21 20:00"),
    ("３天", "Mon 2026-11-23 15:30"),
    ("明天晚上8點", "Sat 2026-11-21 20:00"),
    ("後天中午", "Sun 2026-11-22 12:00"),
    ("下週一", "Mon 2026-11-23 23:59"),
    ("週六上午10點", "Sat 2026-11-21 10:00"),
    ("2小時", "Fri 2026-11-20 17:30"),
    ("明天晚上8点前", "Sat 2026-11-21 20:00"),
    ("12月31日20:00截止", "Thu 2026-12-31 20:00"),
    ("2天", "Sun 2026-11-22 15:30"),
    ("48小时", "Sun 2026-11-22 15:30"),
]


def read(text: str, zone: str) -> str:
    now = datetime(2026, 11, 20, 15, 30, tzinfo=ZoneInfo(zone))
    moment = parse_moment(text, now=now, timezone=zone)
    assert moment.tzinfo is not None
    return moment.astimezone(ZoneInfo(zone)).strftime(WALL)


def test_the_tables_are_long_enough() -> None:
    assert len(ENGLISH) >= 60 and len(CHINESE) >= 60
    assert len({text for text, _ in ENGLISH}) == len(ENGLISH)
    assert len({text for text, _ in CHINESE}) == len(CHINESE)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("text", "meant"), ENGLISH)
def test_english_dates_and_times(text: str, meant: str, zone: str) -> None:
    assert read(text, zone) == meant


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("text", "meant"), CHINESE)
def test_chinese_dates_and_times(text: str, meant: str, zone: str) -> None:
    assert read(text, zone) == meant


def test_an_explicit_offset_wins_over_the_zone() -> None:
    now = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    for zone in ZONES:
        moment = parse_moment("2026-11-25 20:00+08:00", now=now, timezone=zone)
        assert moment == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_duration_counts_from_since() -> None:
    now = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    later = now + timedelta(days=2)
    assert parse_moment("12h", now=now, timezone="UTC", since=later) == later + timedelta(hours=12)
    # a named day is still from now
    tomorrow = parse_moment("明天晚上8点", now=now, timezone="Asia/Shanghai", since=later)
    assert tomorrow == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("someday", "someday"),
        ("soon", "soon"),
        ("tomorrow asdf", "asdf"),
        ("tomorrow 25pm", "25pm"),
        ("next month", "next month"),  # a month is too vague for a deadline
        ("20", "20"),  # a bare number is a typo, not the 20th
        ("3x", "3x"),
        ("明天晚上", "晚上"),  # which hour of the evening? asked, not guessed
        ("晚上", "晚上"),
        ("明天xx", "xx"),
        ("明天晚上8点吧", "吧"),
        ("2月30日", "2月30"),
        ("25点", "25点"),
        ("明天下午3点99分", "3点99分"),
        ("下周八", "下周八"),
        ("32号", "32号"),
        ("   ", ""),
    ],
)
def test_refusals_name_the_part_that_could_not_be_read(text: str, part: str) -> None:
    with pytest.raises(Unreadable) as refused:
        parse_moment(text, now=datetime(2026, 11, 20, 7, 30, tzinfo=UTC), timezone="Asia/Shanghai")
    assert (refused.value.kind, refused.value.part) == ("when", part)


def test_full_width_input_is_normalised_first() -> None:
    assert normalize("１０：３５．９０，３０：３２．９０") == "10:35.90,30:32.90"
    assert normalize("１２－３１\u3000２０：００") == "12-31 20:00"
    assert normalize("  35。9 ") == "35.9"
    assert parse_duration("１．５ｈ") == timedelta(hours=1, minutes=30)
    assert parse_duration("tomorrow") is None


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("35.9", 3590),
        ("35.90元", 3590),
        ("35.9 元", 3590),
        ("¥35.90", 3590),
        ("￥35.9", 3590),
        ("CN¥35.90", 3590),
        ("35块", 3500),
        ("35块钱", 3500),
        ("35块9", 3590),  # 9 角: tenths, as it is said
        ("35块9毛", 3590),
        ("35元5角", 3550),
        ("CNY 35.90", 3590),
        ("35.90CNY", 3590),
        ("rmb35.9", 3590),
        ("３５．９０", 3590),
        ("１，２３４．５", 123450),
    ],
)
def test_amounts_as_people_type_them(text: str, minor: int) -> None:
    assert parse_amount(text, "CNY", locale="zh_Hans", ceiling=10**9) == minor


def test_amounts_refused_with_a_reason() -> None:
    for text, currency, reason in (
        ("USD 5", "CNY", "currency"),
        ("35 RMB", "USD", "currency"),
        ("35块99", "CNY", "not_a_number"),  # 块 then two digits: 35.99 or 3599? asked again
        ("NaN", "CNY", "not_a_number"),
        ("三十五元", "CNY", "not_a_number"),
    ):
        with pytest.raises(InvalidAmount) as refused:
            parse_amount(text, currency, locale="zh_Hans", ceiling=10**9)
        assert refused.value.reason == reason, text


def test_tiers_typed_with_full_width_punctuation() -> None:
    def tiers(text: str) -> tuple[tuple[int, int], ...]:
        return parse_tiers(text, currency="CNY", locale="zh_Hans", base_price=3990, ceiling=10**9)

    assert tiers("１０：３５．９０，３０：３２．９０") == ((10, 3590), (30, 3290))
    assert tiers("10：35.90") == ((10, 3590),)  # ASCII digits, the IME's full-width colon
    assert tiers("10件:35.9元、30件:32.9元") == ((10, 3590), (30, 3290))
    assert tiers("10：¥35.90；30：¥32.90") == ((10, 3590), (30, 3290))
    with pytest.raises(GroupBuyError) as refused:
        tiers("10:35.90，三十:32.90")
    assert (refused.value.reason, refused.value.detail) == ("bad_tiers", "三十:32.90")


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/hong_kong", "Asia/Hong_Kong"),
        ("北京", "Asia/Shanghai"),
        ("上海", "Asia/Shanghai"),
        ("北京时间", "Asia/Shanghai"),
        ("中国", "Asia/Shanghai"),
        ("香港", "Asia/Hong_Kong"),
        ("台北", "Asia/Taipei"),
        ("臺灣", "Asia/Taipei"),
        ("新加坡", "Asia/Singapore"),
        ("东京", "Asia/Tokyo"),
        ("東京", "Asia/Tokyo"),
        ("伦敦", "Europe/London"),
        ("Beijing", "Asia/Shanghai"),
        ("beijing time", "Asia/Shanghai"),
        ("Singapore", "Asia/Singapore"),
        ("China", "Asia/Shanghai"),
        ("Hong Kong", "Asia/Hong_Kong"),
        ("Los Angeles", "America/Los_Angeles"),
        ("kolkata", "Asia/Kolkata"),
        ("UTC", "UTC"),
        ("UTC+8", "Etc/GMT-8"),
        ("GMT+8", "Etc/GMT-8"),
        ("+08:00", "Etc/GMT-8"),
        ("UTC－５", "Etc/GMT+5"),
        ("utc+0", "UTC"),
        ("UTC+5:30", "Asia/Kolkata"),
        ("东八区", "Etc/GMT-8"),
    ],
)
def test_time_zones_by_name_place_or_offset(text: str, zone: str) -> None:
    assert parse_zone(text) == zone
    assert parse_timezone(text) == zone


def test_unknown_zones_are_refused_naming_them() -> None:
    for text in ("Mars", "UTC+15", "UTC+5:17", "火星", "../etc/passwd"):
        with pytest.raises(Unreadable) as refused:
            parse_zone(text)
        assert (refused.value.kind, refused.value.part) == ("zone", text)
        with pytest.raises(InvalidTimezone):
            parse_timezone(text)


def test_fixed_offsets_read_the_way_they_were_typed() -> None:
    assert zone_label("Etc/GMT-8") == "UTC+8"
    assert zone_label("Etc/GMT+5") == "UTC-5"
    assert zone_label("Asia/Shanghai") == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("seconds", "english", "chinese"),
    [
        (26 * 86400 + 13 * 3600 + 59 * 60, "26 days 13 hours", "26 天 13 小时"),
        (86400 + 3600, "1 day 1 hour", "1 天 1 小时"),
        (2 * 86400, "2 days", "2 天"),
        (86400 - 60, "23 hours 59 minutes", "23 小时 59 分钟"),
        (3600, "1 hour", "1 小时"),
        (3600 + 60, "1 hour 1 minute", "1 小时 1 分钟"),
        (5 * 60 + 30, "5 minutes", "5 分钟"),
        (30, "0 minutes", "0 分钟"),
        (-5, "0 minutes", "0 分钟"),
    ],
)
def test_countdowns_read_in_days_and_hours_over_a_day(
    seconds: int, english: str, chinese: str
) -> None:
    i18n = create_i18n("en")
    with i18n.context(), i18n.use_locale("en"):
        assert countdown(seconds) == english
    with i18n.context(), i18n.use_locale("zh_Hans"):
        assert countdown(seconds) == chinese


# ------------------------------------------------------------------ one-line options -------

OPTION_WORDS = [
    ("tiers=10:35.90", ("tiers", "10:35.90")),
    ("TIERS=10:35.90", ("tiers", "10:35.90")),
    ("阶梯=10:35.90", ("tiers", "10:35.90")),
    ("階梯=10:35.90", ("tiers", "10:35.90")),
    ("价格＝10：35.90", ("tiers", "10：35.90")),
    ("價格=10:35.90", ("tiers", "10:35.90")),
    ("阶梯价=10:35.90", ("tiers", "10:35.90")),
    ("ｔｉｅｒｓ＝10:35.90", ("tiers", "10:35.90")),
    ("min=5", ("min", "5")),
    ("成团=5", ("min", "5")),
    ("成團＝20件", ("min", "20件")),
    ("最少=5人", ("min", "5人")),
    ("起团=3", ("min", "3")),
    ("stock=50", ("stock", "50")),
    ("库存=50", ("stock", "50")),
    ("庫存＝５０", ("stock", "５０")),
    ("数量=50", ("stock", "50")),
    ("limit=3", ("limit", "3")),
    ("限购=3", ("limit", "3")),
    ("每人限購=3", ("limit", "3")),
    ("vip=2h", ("vip", "2h")),
    ("优先=2h:gold", ("vip", "2h:gold")),
    ("會員優先=2h", ("vip", "2h")),
    ("pickup=Shop", ("pickup", "Shop")),
    ("自提=A店", ("pickup", "A店")),
    ("取货=A店", ("pickup", "A店")),
    ("取貨＝A店", ("pickup", "A店")),
    ("自取=A店", ("pickup", "A店")),
    ("截止=明天晚上8点", ("deadline", "明天晚上8点")),
    ("截止时间＝3天", ("deadline", "3天")),
    ("結束=3天", ("deadline", "3天")),
    ("deadline=24h", ("deadline", "24h")),
    ("delivery=both", ("delivery", "both")),
    ("配送=快递", ("delivery", "快递")),
    ("配送方式＝自提", ("delivery", "自提")),
    ("a=b=c", ("a", "b=c")),  # only the first = separates
    ("颜色=红", ("颜色", "红")),  # an unknown key is kept for the caller to refuse
    ("明天晚上8点", None),
    ("10:35.90", None),
]


@pytest.mark.parametrize(("word", "expected"), OPTION_WORDS)
def test_an_option_key_is_read_in_english_or_chinese(
    word: str, expected: tuple[str, str] | None
) -> None:
    assert split_option(word) == expected
    assert is_option(word) == (expected is not None)


MINIMUMS = [
    ("5", (MIN_PEOPLE, 5)),
    ("5人", (MIN_PEOPLE, 5)),
    ("5位", (MIN_PEOPLE, 5)),
    ("20u", (MIN_UNITS, 20)),
    ("20U", (MIN_UNITS, 20)),
    ("20件", (MIN_UNITS, 20)),
    ("２０件", (MIN_UNITS, 20)),
]


@pytest.mark.parametrize(("text", "expected"), MINIMUMS)
def test_a_minimum_is_read_in_people_or_units(text: str, expected: tuple[str, int]) -> None:
    assert parse_minimum(text) == expected


@pytest.mark.parametrize(
    ("typed", "mode"),
    [("自提", "pickup"), ("快递", "delivery"), ("快遞", "delivery"), ("都可以", "both")],
)
def test_a_delivery_mode_is_read_in_chinese(typed: str, mode: str) -> None:
    assert FULFILMENT_ALIASES[typed] == mode


# /groupbuy (and /drop) and /poll_presale read their line with one parser, each its defaults
GROUPBUY_DEFAULTS = OpenDefaults(minimum="2", stock=100, limit=5)
PRESALE_DEFAULTS = OpenDefaults(minimum="10", stock=1000, limit=5)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def read_line(
    line: str, defaults: OpenDefaults, keys: frozenset[str] | None = None
) -> tuple[object, ...]:
    values, options = parse_open_line(
        line.split(), product_id=7, defaults=defaults, now=NOW, timezone="UTC", keys=keys
    )
    return (
        values.deadline - NOW,
        values.min_kind,
        values.min_count,
        values.stock_cap,
        values.per_member_limit,
        options,
    )


@pytest.mark.parametrize("defaults", [GROUPBUY_DEFAULTS, PRESALE_DEFAULTS])
def test_an_open_line_reads_the_same_for_every_command(defaults: OpenDefaults) -> None:
    # the deadline as words or as an option, minimums and counts in units, Chinese keys, ＝
    assert read_line("7d min=20u stock=50件 limit=3", defaults) == (
        timedelta(days=7),
        MIN_UNITS,
        20,
        50,
        3,
        {"min": "20u", "stock": "50件", "limit": "3"},
    )
    assert read_line("截止=24h 成团＝20 库存=50u", defaults)[:4] == (
        timedelta(hours=24),
        MIN_PEOPLE,
        20,
        50,
    )


def test_each_command_fills_in_its_own_defaults() -> None:
    assert read_line("24h", GROUPBUY_DEFAULTS)[1:5] == (MIN_PEOPLE, 2, 100, 5)
    assert read_line("24h", PRESALE_DEFAULTS)[1:5] == (MIN_PEOPLE, 10, 1000, 5)


def test_an_open_line_without_a_deadline_or_with_a_key_not_taken_is_refused() -> None:
    with pytest.raises(GroupBuyError) as missing:
        read_line("min=5", GROUPBUY_DEFAULTS)
    assert missing.value.reason == "usage"
    with pytest.raises(GroupBuyError) as unknown:
        read_line("7d tiers=10:35.90", PRESALE_DEFAULTS, frozenset({"min"}))
    assert (unknown.value.reason, unknown.value.detail) == ("bad_option", "tiers")
