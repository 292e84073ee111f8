"""Babel catalogs through aiogram's I18n, with the locale chosen from the member or the group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject
from aiogram.utils.i18n import I18n, I18nMiddleware

from handlers.views.text import LANGUAGE_NAMES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def create_i18n(default_locale: str) -> I18n:
    """The translator over the compiled catalogs in locales/ (compiled by `make locales`)."""
    return I18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)


def missing_catalogs(i18n: I18n) -> list[str]:
    """Locales whose compiled .mo file is missing, so strings would fall back to English."""
    return [locale for locale in LANGUAGE_NAMES if locale not in i18n.available_locales]


class LocaleMiddleware(I18nMiddleware):
    """Uses the locale chosen by the context middleware: the group's, or the member's."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        locale = data.get("locale")
        if isinstance(locale, str) and locale in self.i18n.available_locales:
            return locale
        return self.i18n.default_locale
