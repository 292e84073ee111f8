"""The one gate every typed number, typed date and untrusted header or body passes first.

Numbers: ASCII digits only, after the full-width forms a Chinese IME types (`１２`, `＃`) became
ASCII; digit look-alikes that Python would otherwise take for digits (`²`, `①`, `٣`) are refused
by name, and so is a number beyond 64 bits or the caller's business limit. A number refused
that way raises `NumberRefused`, which the bot answers with a clear localized message (see
handlers/errors.py); text that is no number at all is the caller's usual usage message.

Dates: years 1 to 9999 are all Python has; a person's range stays within `MIN_YEAR` and
`MAX_YEAR` so that no arithmetic on it (a day after the last one, a time zone shift) leaves
what Python can hold.

Names: what members and staff named themselves, their groups and products is stored as typed
and shown through `shown`, which drops the invisible characters that reorder or hide text.

Headers and bodies (the web server's input before anyone is authenticated): a header value is
printable ASCII and bounded, else it is as good as absent; a JSON body is bounded in size and
nesting depth before it is parsed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from services.errors import Refused

INT64_MAX = 2**63 - 1  # the widest number the store holds (BIGINT), and every Telegram id
MIN_YEAR = 2000  # no date the bot deals with is older
MAX_YEAR = 2100  # nor further ahead
HEADER_MAX = 4096  # the longest header value worth reading (initData is about 1 KB)
JSON_MAX_DEPTH = 32  # Telegram's updates nest about 10 deep; far deeper is an attack

# what a Chinese IME types for digits and the signs around numbers (the forms `normalize` in
# services/parsing/ also folds); NFKC is not used here, as it would turn `²` into `2`
_FULL_WIDTH = str.maketrans(
    {chr(0xFF10 + n): str(n) for n in range(10)} | {"＃": "#", "－": "-", "＋": "+", "，": ","}
)
_ASCII_NUMBER = re.compile(r"[0-9]+")


class NumberRefused(Refused):
    """A number as typed that the bot must not read: `reason` is "look_alike" (a character
    that looks like a digit but is none of 0-9) or "too_large"; `part` is what was typed."""

    def __init__(self, reason: str, part: str, maximum: int = INT64_MAX) -> None:
        super().__init__(reason, part[:40])
        self.part = part[:40]
        self.maximum = maximum


def _looks_like_digit(char: str) -> bool:
    return unicodedata.category(char) in ("Nd", "No", "Nl") or char.isdigit()


def has_look_alike(text: str) -> str | None:
    """The first character of `text` that passes for a digit but is none of 0-9 (after the
    full-width forms became ASCII), or None."""
    for char in text.translate(_FULL_WIDTH):
        if not ("0" <= char <= "9") and _looks_like_digit(char):
            return char
    return None


def number(text: str, *, maximum: int = INT64_MAX, prefix: str = "#") -> int | None:
    """The whole number typed as `text` ('12', '#12', '１２'), or None when it is no number
    (empty, words, a sign, a fraction). NumberRefused for digit look-alikes ('²', '٣') and
    numbers above `maximum` (64 bits unless the caller's limit is lower): a person meant a
    number there, and is told what to fix."""
    cleaned = text.strip().translate(_FULL_WIDTH)
    cleaned = cleaned.removeprefix(prefix) if prefix else cleaned
    if cleaned and all(_looks_like_digit(char) for char in cleaned):
        if not _ASCII_NUMBER.fullmatch(cleaned):
            raise NumberRefused("look_alike", text.strip())
        if len(cleaned) > 19 or int(cleaned) > maximum:
            raise NumberRefused("too_large", text.strip(), maximum)
        return int(cleaned)
    return None


def telegram_id(text: str) -> int | None:
    """A Telegram id as typed ('1004', '-1001234'): as `number`, with a sign, within 64 bits."""
    cleaned = text.strip().translate(_FULL_WIDTH)
    negative = cleaned.startswith("-")
    found = number(cleaned.removeprefix("-"), prefix="")
    if found is None:
        return None
    return -found if negative else found


def sane_date(day: date) -> bool:
    """Whether a date a person typed is one the bot deals with (MIN_YEAR to MAX_YEAR)."""
    return MIN_YEAR <= day.year <= MAX_YEAR


def header_value(value: str | None, *, limit: int = HEADER_MAX) -> str | None:
    """A header, cookie or form value that will be compared with a secret or signature:
    printable ASCII of at most `limit` characters, else None (treated as absent), so a
    non-ASCII or outsized value is refused like a wrong one and never reaches the comparison
    (`hmac.compare_digest` raises on non-ASCII text)."""
    if value is None or len(value) > limit:
        return None
    if not all(" " <= char <= "~" for char in value):
        return None
    return value


_HEX_HASH = re.compile(r"[0-9a-f]{64}")


def signed_query(value: str, *, limit: int = HEADER_MAX) -> str | None:
    """A query string signed with a hex `hash` field (a Mini App's initData) as sent: printable
    ASCII, bounded, its hash 64 hex digits once decoded; else None. A hash that decodes to
    other characters would reach `hmac.compare_digest`, which raises on non-ASCII text."""
    if header_value(value, limit=limit) is None:
        return None
    hashes = [v for k, v in parse_qsl(value, keep_blank_values=True) if k == "hash"]
    if len(hashes) != 1 or not _HEX_HASH.fullmatch(hashes[0]):
        return None
    return value


class BadJson(ValueError):
    """A body that is not JSON the server reads: malformed, too large or nested too deep."""


def parse_json(body: bytes, *, max_bytes: int, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """The JSON document in `body`, refused (BadJson) above `max_bytes` or nested deeper than
    `max_depth` before the parser recurses into it (a deep document exhausts the stack)."""
    if len(body) > max_bytes:
        raise BadJson("too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("not UTF-8") from None
    if text.count("[") + text.count("{") > max_depth:
        _check_depth(text, max_depth)  # only then can it be too deep: an update has a few
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadJson("not JSON") from None


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    quoted = escaped = False
    for char in text:  # brackets outside strings; a linear scan, no recursion
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise BadJson("nested too deep")
        elif char in "]}":
            depth -= 1


# characters kept although invisible: the joiners shape scripts and emoji (👨‍👩‍👧), and tag
# characters spell the flags of regions (🏴 + tags)
_KEPT_INVISIBLE = frozenset({"\u200c", "\u200d"}) | {chr(c) for c in range(0xE0020, 0xE0080)}


def _hidden(char: str) -> bool:
    """Controls (Cc: newlines, tabs, escapes), format characters (Cf: the bidi embeddings and
    overrides U+202A-U+202E, isolates U+2066-U+2069, marks, zero-width spaces, the BOM) and
    the line and paragraph separators, but for the joiners."""
    return char not in _KEPT_INVISIBLE and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


_BREAKS = re.compile("[\n\r\t\v\f\x1c-\x1e\x85\u2028\u2029]+")


def shown(text: str) -> str:
    """A name or title someone typed, as it may be displayed: without the invisible characters
    that turn the rest of a line around (a bidi override mirrors a line of the pickup list),
    hide text, or break a list's lines (a line break becomes a space). The store keeps the
    text as typed."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(char for char in _BREAKS.sub(" ", text) if not _hidden(char))
