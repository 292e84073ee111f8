"""Chinese typography in the zh catalogs: the rules (docs/reference/commands.md,
"Translations"), a check that tests/test_locales.py runs on every msgstr, and a fixer for the
spacing around placeholders.

    python scripts/zh_typography.py locales/zh_Hans/LC_MESSAGES/messages.po ...

rewrites the spacing around placeholders in place and prints what it cannot fix (ASCII
punctuation inside Chinese text is for a translator to rewrite).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HAN = "\u3400-\u9fff"  # Chinese characters
FULL_WIDTH = "\u3000-\u303f\uff00-\uffef"  # Chinese punctuation (，：（）；！？、。「」...)
CHINESE = f"[{HAN}{FULL_WIDTH}]"

# placeholders holding words: names and titles people chose (a member, a group, a product, a
# poll, a tier), text they typed, or a translated word (a status, a language). They are words
# of the Chinese sentence, so they stand right against it: 你已参加{title}
WORDS = frozenset(
    {
        "name", "title", "group", "option", "question", "member", "leader", "staff", "holder",
        "payer", "invitee", "tier", "reward", "campaign", "segment", "place", "where", "source",
        "part", "status", "language", "reason", "mode", "state", "text", "description", "reply",
        "names", "gifts", "tags", "words", "username", "level", "grant",
    }
)  # fmt: skip
# placeholders that may hold either: not checked for spacing
EITHER = frozenset(
    {
        "detail", "error", "example", "figures", "limits", "counter", "discount", "mark", "nps",
        "welcome", "again", "after", "before", "link", "command",
    }
)  # fmt: skip
# placeholders that (mostly) hold a count with its noun ("5 积分", "3 个群", from
# handlers.views.text.counted): a number first, so set apart before it; a Chinese noun last, so
# right against what follows (not checked: some of these names hold a bare number elsewhere)
COUNTED = frozenset(
    {
        "points", "balance", "cap", "streak", "days", "review_days", "months", "minutes",
        "groups", "chats", "members", "people", "units", "rows", "stars", "friends", "answers",
        "rate", "reservations", "min",
    }
)  # fmt: skip
# a number written right before these reads as one word: 98折
TIGHT_UNITS = "折"

PLACEHOLDER = re.compile(r"(?P<sign>[#+−]?)\{(?P<name>\w*)\}")
ASCII_PUNCTUATION = re.compile(
    rf"(?P<before>{CHINESE})[ ]*(?P<mark>[:;!?,()])|(?P<mark2>[:;!?,()])[ ]*(?P<after>{CHINESE})"
)


def kind(name: str, *, plural: bool = False) -> str:
    """How a placeholder is spaced: "word", "number" (numbers, amounts, dates, codes),
    "counted" (a count with its noun) or "either". In a plural entry ("{points} 积分") the
    count is the bare number."""
    if name in WORDS:
        return "word"
    if name in COUNTED:
        return "number" if plural else "counted"
    return "either" if name in EITHER else "number"


def problems(text: str, *, plural: bool = False) -> list[str]:
    """What breaks the rules in one Chinese msgstr (empty when it keeps them)."""
    found = []
    for match in ASCII_PUNCTUATION.finditer(text):
        found.append(f"ASCII punctuation in Chinese text: {match.group(0)!r}")
    for match in PLACEHOLDER.finditer(text):
        sort = kind(match.group("name"), plural=plural)
        before = text[: match.start()]
        after = text[match.end() :]
        if sort == "word":
            if re.search(rf"{CHINESE}[ ]+$", before) or re.match(rf"[ ]+{CHINESE}", after):
                found.append(f"a space between Chinese and {match.group(0)}")
        elif sort == "number":
            if re.search(f"[{HAN}]$", before) or re.match(f"[{HAN}](?<![{TIGHT_UNITS}])", after):
                found.append(f"no space between Chinese and {match.group(0)}")
        elif sort == "counted" and re.search(f"[{HAN}]$", before):
            found.append(f"no space before {match.group(0)}")
    return found


def fix(text: str, *, plural: bool = False) -> str:
    """The spacing rules applied to one msgstr: words tight, numbers set apart by one space."""
    # one space or none before each placeholder, by its kind
    text = re.sub(
        rf"(?<=[{HAN}{FULL_WIDTH}])([ ]*)(?=[#+−]?\{{(\w*)\}})",
        lambda m: _gap(
            m.group(2), m.group(1), after_han=_is_han(text, m.start() - 1), plural=plural
        ),
        text,
    )
    # and after it
    return re.sub(
        rf"\{{(\w*)\}}([ ]*)(?=[{HAN}{FULL_WIDTH}])",
        lambda m: (
            "{"
            + m.group(1)
            + "}"
            + _gap(
                m.group(1),
                m.group(2),
                after_han=_is_han(text, m.end()) and text[m.end()] not in TIGHT_UNITS,
                plural=plural,
                following=True,
            )
        ),
        text,
    )


def _is_han(text: str, index: int) -> bool:
    return 0 <= index < len(text) and bool(re.match(f"[{HAN}]", text[index]))


def _gap(name: str, gap: str, *, after_han: bool, plural: bool, following: bool = False) -> str:
    """The space between a placeholder and Chinese next to it (`following`: after it)."""
    sort = kind(name, plural=plural)
    if sort == "word":
        return ""
    if sort == "counted":  # before it as a number; after it, as the translator wrote it
        return gap if following else (" " if after_han else "")
    if sort == "number":
        return " " if after_han else ""
    return gap


def main(paths: list[str]) -> int:
    left = 0
    for path in paths:
        po = Path(path)
        with po.open("rb") as handle:
            catalog = read_po(handle)
        for message in catalog:
            if not message.id:
                continue
            plural = not isinstance(message.id, str)
            if isinstance(message.string, str):
                message.string = fix(message.string)
                forms = [message.string]
            else:
                message.string = tuple(fix(form, plural=True) for form in message.string)
                forms = list(message.string)
            for form in forms:
                for problem in problems(form, plural=plural):
                    left += 1
                    sys.stdout.write(f"{path}: {message.id!r}: {problem}\n")
        with po.open("wb") as handle:
            write_po(handle, catalog, no_location=True, sort_output=True, width=76)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
