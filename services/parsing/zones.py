"""Reading time zones: IANA names, cities and countries in English or Chinese, and offsets;
and a zone's label.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from services.parsing._common import _CN_NUMBER, Unreadable, _number, normalize

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
