"""The language picker (/language and the main menu's Language button)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.menu import with_back
from handlers.views.text import LANGUAGE_NAMES
from services.member import LOCALES, Locale


class LanguageCallback(CallbackData, prefix="lang"):
    """A language chosen on the /language keyboard."""

    locale: Locale


def language_keyboard() -> InlineKeyboardMarkup:
    """The three languages, each named in itself, and ⬅️ Back to the main menu."""
    builder = InlineKeyboardBuilder()
    for locale in LOCALES:
        builder.button(text=LANGUAGE_NAMES[locale], callback_data=LanguageCallback(locale=locale))
    builder.adjust(3)
    return with_back(builder)
