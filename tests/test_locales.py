"""Every message the code can show is translated in every catalog, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiogram.utils.i18n import gettext as _
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import create_i18n
from bot.web.dashboard_html import COLUMN_LABELS
from handlers.views.perks import tier_label
from scripts import zh_typography

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "handlers", "services", "models")  # as `make extract-messages`
LOCALES = ("en", "zh_Hans", "zh_Hant")
PLACEHOLDER = re.compile(r"\{\w*\}")
STAND_IN = re.compile(r"(\{\w+\}) may stand for (\{\w+\})")


Key = tuple[str | None, str]  # (msgctxt, msgid): a context tells apart the same English words


def source_messages() -> set[Key]:
    """The messages in the code with their contexts, extracted as the Makefile does (with N_,
    NC_ for a message with a context and NP_ for a plural one)."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "NC_": ((1, "c"), 2), "NP_": (1, 2)}
    found: set[Key] = set()
    for source in SOURCES:
        for _file, _line, message, _comments, context in extract_from_dir(
            ROOT / source, method_map=[("**.py", "python")], keywords=keywords
        ):
            found.add((context, message if isinstance(message, str) else message[0]))
    return found


def catalog(locale: str) -> Catalog:
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    # a plural message (ngettext) is keyed by its singular, and needs every plural form
    translated = {
        (m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog(locale) if m.id
    }
    missing = sorted(
        (
            text
            for text in source_messages()
            if text not in translated
            or not _forms(translated[text].string)
            or not all(_forms(translated[text].string))
            or translated[text].fuzzy
        ),
        key=str,
    )
    assert missing == [], f"untranslated in {locale}: run `make update-messages`, then translate"
    for message in translated.values():
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set().union(*(PLACEHOLDER.findall(text) for text in ids))
        # a translator comment "{zhe} may stand for {percent}" lets a language use a figure
        # the code passes besides the English one (a discount as 98折 rather than 2%)
        stand_ins = dict(STAND_IN.findall(" ".join(message.auto_comments)))
        for form in _forms(message.string):
            used = {stand_ins.get(name, name) for name in PLACEHOLDER.findall(form)}
            assert used == wanted, (locale, message.id, form)


def _forms(string: str | tuple[str, ...]) -> list[str]:
    """A translation's forms: one, or one per plural form."""
    return [string] if isinstance(string, str) else list(string)


@pytest.mark.parametrize(
    ("locale", "tier", "column"),
    [("zh_Hans", "普通会员", "成员"), ("zh_Hant", "普通會員", "成員"), ("en", "Member", "Member")],
)
def test_member_the_tier_and_member_the_column_read_differently(
    locale: str, tier: str, column: str
) -> None:
    # given one English word with two meanings: the lowest tier, and a dashboard column heading
    i18n = create_i18n("en")
    with i18n.context(), i18n.use_locale(locale):
        # then the msgctxt "tier" keeps the tier's name apart from the column's
        assert tier_label("member", "Member") == tier
        assert _(COLUMN_LABELS["member_id"]) == column
        # and a tier staff named themselves reads as they typed it, in every language
        assert tier_label("", "银卡") == "银卡"


# a count followed by an English plural noun: "{n} days", "{count} groups", "{n} people"
COUNT_NOUN = re.compile(r"\{(\w+)\}(?:/\{\w+\})? (?:more |new )?([a-z]+s|people)\b")
NOT_COUNTS = zh_typography.WORDS | {"amount", "price", "when", "time", "date", "id", "link", "code"}
NOT_NOUNS = {"is", "was", "has", "does", "its", "this", "us", "as", "yes", "always", "says"}


def _singular_only(text: str) -> bool:
    return any(
        name not in NOT_COUNTS and noun not in NOT_NOUNS for name, noun in COUNT_NOUN.findall(text)
    )


def test_a_message_with_a_count_has_a_plural_form() -> None:
    """A count next to an English plural noun is an ngettext message ("1 day", "2 days"):
    "Streak: 1 day" would read wrong."""
    singular_only = sorted(
        message.id
        for message in catalog("en")
        if isinstance(message.id, str) and _singular_only(message.id)
    )
    assert singular_only == [], "use ngettext or handlers.views.text.counted for these"


@pytest.mark.parametrize("locale", ("zh_Hans", "zh_Hant"))
def test_chinese_typography(locale: str) -> None:
    """Full-width punctuation inside Chinese text, names right against it, numbers set apart
    (docs/reference/commands.md, "Translations"); scripts/zh_typography.py fixes the spacing."""
    problems = [
        (message.id, form, problem)
        for message in catalog(locale)
        if message.id
        for form in _forms(message.string)
        for problem in zh_typography.problems(form)
    ]
    assert problems == []


@pytest.mark.parametrize("locale", LOCALES)
def test_no_fuzzy_entries(locale: str) -> None:
    """A fuzzy entry is a guess nobody checked: compiled with --use-fuzzy, it would show."""
    assert [m.id for m in catalog(locale) if m.id and m.fuzzy] == []
