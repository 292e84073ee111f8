"""Compliance lint for promotional text: absolute claims and drops without price or deadline.

Advertising law (China's 广告法 art. 9, and consumer-protection rules elsewhere) forbids
absolute claims such as "最", "第一", "国家级", "best", "No.1" or "100%". `lint` finds them
with their character spans, in the text as members read it (HTML tags removed, entities
decoded), so a preview can highlight each one; staff fix the text or override with a reason.
The lists are a starting point kept here; operators add words with COMPLIANCE_EXTRA_WORDS.

A post sent as *content* (knowledge, stories, how-tos) is not counted as a promotion, so it must
not read as one: `reads_as_promotion` finds a price, a discount or a buy link in it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Finding.kind values
ABSOLUTE_CLAIM = "absolute_claim"  # a word advertising law forbids; `word` says which
MISSING_PRICE = "missing_price"  # a drop that does not say what it costs
MISSING_DEADLINE = "missing_deadline"  # a drop that does not say until when
# why a content post reads as a promotion (`reads_as_promotion`); `word` quotes it
PRICE = "price"  # an amount with a currency
DISCOUNT = "discount"  # a discount, a sale, a coupon
BUY_LINK = "buy_link"  # a link to a shop, a cart, a product, or the bot's order deep links

# per locale; every list is checked whatever the staff member's locale, since a post is often
# written in more than one language
ABSOLUTE_WORDS: dict[str, tuple[str, ...]] = {
    "zh_Hans": (
        "最",
        "第一",
        "国家级",
        "世界级",
        "顶级",
        "极品",
        "唯一",
        "首选",
        "独家",
        "万能",
        "绝对",
        "全网最低",
        "史无前例",
        "100%",
    ),
    "zh_Hant": (
        "最",
        "第一",
        "國家級",
        "世界級",
        "頂級",
        "極品",
        "唯一",
        "首選",
        "獨家",
        "萬能",
        "絕對",
        "全網最低",
        "史無前例",
    ),
    "en": (
        "best",
        "No.1",
        "No. 1",
        "number one",
        "#1",
        "100%",
        "guaranteed",
        "cheapest",
        "world-class",
        "unbeatable",
        "perfect",
    ),
}

_TAG = re.compile(r"<[^>]*>")
# a price: an amount with a currency sign or code, or 元 / 块
_PRICE = re.compile(
    r"(?:[¥￥$€£]\s?\d|\d[\d,.]*\s?(?:元|块|CNY|RMB|HKD|TWD|USD|SGD|EUR|XTR|⭐)|⭐\s?\d)",
    re.IGNORECASE,
)
# a deadline: a date, a time of day, or the words people use for one
_DEADLINE = re.compile(
    r"(?:\d{1,4}[-/.月]\d{1,2}|\d{1,2}:\d{2}|截止|截至|截團|截团|until|ends?|deadline|"
    r"today|tonight|tomorrow|by \w+day|今[天晚日]|明[天日]|"
    r"周[一二三四五六日天]|週[一二三四五六日天]|星期|\d+\s?(?:h|小时|小時|天|days?|hours?)\b)",
    re.IGNORECASE,
)


# a discount or an offer: "8折", "20% off", "满100减20", "优惠", "sale", "coupon" ...
_DISCOUNT = re.compile(
    r"(?:\d+(?:\.\d+)?\s?折|\d+\s?%\s?off|[满滿]\s?\d+\s?[减減]|打折|折扣|优惠|優惠|特价|特價|"
    r"促销|促銷|秒杀|秒殺|包邮|包郵|[领領]券|优惠券|優惠券|团购价|團購價|"
    r"(?<![A-Za-z])(?:discount|coupon|promo code|half price|on sale|sale|free shipping|"
    r"buy one get one|bogo)(?![A-Za-z]))",
    re.IGNORECASE,
)
# a link that sells: a shop, a cart, a product page, or a deep link into the bot (?start=)
_BUY_LINK = re.compile(
    r"(?:https?://|www\.|t\.me/)[^\s\"'<>]*?"
    r"(?:buy|shop|store|cart|checkout|order|product|item|taobao|tmall|jd\.com|pinduoduo|"
    r"yangkeduo|weidian|youzan|start=)[^\s\"'<>]*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem; `start`/`end` index the plain text (-1 when it is about what is missing)."""

    kind: str
    word: str = ""
    start: int = -1
    end: int = -1


def plain_text(text_html: str) -> str:
    """The text as members read it: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", text_html))


def _word_pattern(word: str) -> re.Pattern[str]:
    escaped = re.escape(word)
    if word[:1].isascii() and word[:1].isalnum():
        escaped = r"(?<![A-Za-z0-9])" + escaped
    if word[-1:].isascii() and word[-1:].isalnum():
        escaped += r"(?![A-Za-z0-9])"
    return re.compile(escaped, re.IGNORECASE)


def lint(text_html: str, *, extra_words: Iterable[str] = (), drop: bool = False) -> list[Finding]:
    """Every absolute claim in the text (by position), then what a drop is missing."""
    text = plain_text(text_html)
    words = {word for words in ABSOLUTE_WORDS.values() for word in words}
    words.update(word for word in extra_words if word)
    spans: list[Finding] = []
    # longer words first, so "全网最低" is one finding rather than "最" inside it
    for word in sorted(words, key=len, reverse=True):
        for match in _word_pattern(word).finditer(text):
            if any(match.start() < f.end and f.start < match.end() for f in spans):
                continue
            spans.append(Finding(ABSOLUTE_CLAIM, match.group(0), match.start(), match.end()))
    findings = sorted(spans, key=lambda f: f.start)
    if drop and not _PRICE.search(text):
        findings.append(Finding(MISSING_PRICE))
    if drop and not _DEADLINE.search(text):
        findings.append(Finding(MISSING_DEADLINE))
    return findings


def highlight(text_html: str, findings: Sequence[Finding], *, mark: str = "u") -> str:
    """The plain text, escaped, with every claim wrapped in <mark> (for the staff preview)."""
    text = plain_text(text_html)
    out: list[str] = []
    cursor = 0
    for finding in sorted((f for f in findings if f.start >= 0), key=lambda f: f.start):
        out.append(html.escape(text[cursor : finding.start], quote=False))
        out.append(
            f"<{mark}><b>{html.escape(text[finding.start : finding.end], quote=False)}</b></{mark}>"
        )
        cursor = finding.end
    out.append(html.escape(text[cursor:], quote=False))
    return "".join(out)


def reads_as_promotion(text_html: str, *, links: Iterable[str] = ()) -> list[Finding]:
    """Why a post offered as content reads as a promotion: each price, discount and buy link
    in its text, its links (hrefs included) and the extra `links` (a button's); empty when it
    is content."""
    text = plain_text(text_html)
    found = [Finding(PRICE, m.group(0).strip(), m.start(), m.end()) for m in _PRICE.finditer(text)]
    found += [
        Finding(DISCOUNT, m.group(0).strip(), m.start(), m.end()) for m in _DISCOUNT.finditer(text)
    ]
    seen: set[str] = set()
    for source in (text_html, *links):
        for match in _BUY_LINK.finditer(source):
            if match.group(0) not in seen:
                seen.add(match.group(0))
                found.append(Finding(BUY_LINK, match.group(0)))
    return found
