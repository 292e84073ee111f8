"""Brand content in several languages: a product's title and description, a drop's pickup
texts and a broadcast's text, each given per language beside its original text.

A row keeps its original text in its own columns and the other languages in its
`translations` column ({locale: {field: text}}), so a reader of the row reads them in the same
statement. Whoever renders picks the reader's language: the group's for what is posted in a
group, the member's for what goes to a member. A language that was not given falls back to the
brand's default language, then to the original text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.errors import Refused
from services.member import LOCALES

# the fields that can be given per language, and how long each may be (the original's limit)
TITLE = "title"  # a product's title
DESCRIPTION = "description"  # a product's description
PICKUP_POINT = "pickup_point"  # where a drop is picked up
PICKUP_TIME = "pickup_time"  # when a drop is picked up
TEXT = "text"  # a broadcast's text (Telegram HTML)
LIMITS = {TITLE: 128, DESCRIPTION: 1024, PICKUP_POINT: 255, PICKUP_TIME: 64, TEXT: 4096}

# what a row stores: locale -> field -> text
Translations = dict[str, dict[str, str]]
ReadTranslations = Mapping[str, Mapping[str, str]] | None


class ContentError(Refused):
    """A translation that cannot be stored; `reason` is a stable code (locale, field, length,
    empty) and `detail` names the part."""


def localized(
    original: str, translations: ReadTranslations, field: str, locale: str, default_locale: str
) -> str:
    """The text of `field` in `locale`, else in the brand's default language, else the
    original."""
    for wanted in (locale, default_locale):
        text = (translations or {}).get(wanted, {}).get(field)
        if text:
            return text
    return original


def languages(translations: ReadTranslations) -> list[str]:
    """The languages some text is given in, in the order of the bot's languages."""
    return [locale for locale in LOCALES if (translations or {}).get(locale)]


def clean(translations: ReadTranslations, fields: Iterable[str]) -> Translations:
    """Translations checked for storing: known languages and fields, within each field's limit,
    empty texts left out (ContentError names what is wrong)."""
    allowed = set(fields)
    result: Translations = {}
    for locale, texts in (translations or {}).items():
        if locale not in LOCALES:
            raise ContentError("locale", str(locale))
        kept: dict[str, str] = {}
        for field, text in texts.items():
            if field not in allowed:
                raise ContentError("field", str(field))
            text = str(text).strip()
            if len(text) > LIMITS[field]:
                raise ContentError("length", field)
            if text:
                kept[field] = text
        if kept:
            result[locale] = kept
    return result


def merged(*parts: ReadTranslations) -> Translations:
    """Several rows' translations as one (a group-buy's pickup texts beside its product's title
    and description); a later part wins for the same field."""
    result: Translations = {}
    for part in parts:
        for locale, texts in (part or {}).items():
            result.setdefault(locale, {}).update(texts)
    return result


def with_language(
    translations: ReadTranslations, locale: str, texts: Mapping[str, str], fields: Iterable[str]
) -> Translations:
    """The translations with `locale`'s texts of `fields` replaced by `texts` (a field left out
    or empty is removed); checked as `clean` does."""
    result = {key: dict(value) for key, value in (translations or {}).items()}
    entry = {field: text for field, text in result.pop(locale, {}).items() if field not in texts}
    entry.update(texts)
    result[locale] = entry
    return clean(result, fields)
