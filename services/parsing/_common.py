"""What every reader shares: the refusal, `normalize` (an IME's full-width forms to ASCII),
numbers typed in words or Chinese numerals, and the end of a day.
"""

from __future__ import annotations

import unicodedata
from datetime import time
from decimal import Decimal

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
