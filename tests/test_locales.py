"""Every message the code can show is translated in every catalog, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "handlers", "services", "models")  # as `make extract-messages`
LOCALES = ("en", "zh_Hans", "zh_Hant")
PLACEHOLDER = re.compile(r"\{\w*\}")


def source_messages() -> set[str]:
    """The message ids in the code, extracted as the Makefile does (with N_)."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found: set[str] = set()
    for source in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / source, method_map=[("**.py", "python")], keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def catalog(locale: str) -> Catalog:
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    translated = {m.id: m for m in catalog(locale) if m.id and isinstance(m.id, str)}
    missing = sorted(
        text
        for text in source_messages()
        if text not in translated or not translated[text].string or translated[text].fuzzy
    )
    assert missing == [], f"untranslated in {locale}: run `make update-messages`, then translate"
    for message in translated.values():
        assert isinstance(message.string, str)
        assert set(PLACEHOLDER.findall(message.id)) == set(PLACEHOLDER.findall(message.string)), (
            locale,
            message.id,
        )
