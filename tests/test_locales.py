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
STAND_IN = re.compile(r"(\{\w+\}) may stand for (\{\w+\})")


def source_messages() -> set[str]:
    """The message ids in the code, extracted as the Makefile does (with N_)."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "NP_": (1, 2)}
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
    # a plural message (ngettext) is keyed by its singular, and needs every plural form
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog(locale) if m.id}
    missing = sorted(
        text
        for text in source_messages()
        if text not in translated
        or not _forms(translated[text].string)
        or not all(_forms(translated[text].string))
        or translated[text].fuzzy
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
