"""Every message the code can show is translated in every catalog, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiogram.utils.i18n import gettext as _
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bot.dashboard_html import COLUMN_LABELS
from bot.i18n import create_i18n
from handlers.views.perks import tier_label

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "handlers", "services", "models")  # as `make extract-messages`
LOCALES = ("en", "zh_Hans", "zh_Hant")
PLACEHOLDER = re.compile(r"\{\w*\}")


Key = tuple[str | None, str]  # (msgctxt, msgid): a context tells apart the same English words


def source_messages() -> set[Key]:
    """The messages in the code with their contexts, extracted as the Makefile does (with N_,
    and NP_ for a message with a context)."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "NP_": ((1, "c"), 2)}
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
        for form in _forms(message.string):
            assert set(PLACEHOLDER.findall(form)) == wanted, (locale, message.id, form)


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
