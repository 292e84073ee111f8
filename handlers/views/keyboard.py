"""The inline keyboard builder every screen uses.

aiogram's `InlineKeyboardBuilder` deep-copies its whole markup on every button it adds and
again when the markup is built, so a keyboard of ten buttons costs about a millisecond of
copying pydantic objects, on every reply that carries it. This one shares the buttons instead:
a button is never changed once made (the screens build new ones), so a copy of the rows is
enough to keep one built markup apart from the builder's later changes.
"""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton
from aiogram.utils import keyboard


class InlineKeyboardBuilder(keyboard.InlineKeyboardBuilder):
    """aiogram's builder, with rows copied where aiogram deep-copies every button."""

    def export(self) -> list[list[InlineKeyboardButton]]:
        return [list(row) for row in self._markup]
