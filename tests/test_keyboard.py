"""The screens' keyboard builder (handlers.views.keyboard) builds what aiogram's builds, without
deep-copying every button."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton
from aiogram.utils import keyboard

from handlers.views.keyboard import InlineKeyboardBuilder


class Pick(CallbackData, prefix="pk"):
    n: int


def _fill(builder: keyboard.InlineKeyboardBuilder) -> keyboard.InlineKeyboardBuilder:
    for n in range(7):
        builder.button(text=f"Option {n}", callback_data=Pick(n=n))
    builder.adjust(3, 2)
    builder.row(
        InlineKeyboardButton(text="Back", callback_data="back"),
        InlineKeyboardButton(text="Help", url="https://example.org/help"),
    )
    more = type(builder)()
    more.button(text="Close", callback_data="close")
    builder.attach(more)
    return builder


def test_the_builder_builds_what_aiograms_builds() -> None:
    ours = _fill(InlineKeyboardBuilder()).as_markup()
    theirs = _fill(keyboard.InlineKeyboardBuilder()).as_markup()
    assert ours == theirs
    assert [[b.text for b in row] for row in ours.inline_keyboard] == [
        ["Option 0", "Option 1", "Option 2"],
        ["Option 3", "Option 4"],
        ["Option 5", "Option 6"],
        ["Back", "Help"],
        ["Close"],
    ]
    assert ours.inline_keyboard[0][1].callback_data == "pk:1"


def test_a_built_markup_stays_as_built_when_the_builder_goes_on() -> None:
    builder = InlineKeyboardBuilder()
    builder.button(text="One", callback_data="1")
    first = builder.as_markup()
    builder.button(text="Two", callback_data="2")
    builder.adjust(1)
    copy = builder.copy()
    copy.button(text="Three", callback_data="3")
    assert [[b.text for b in row] for row in first.inline_keyboard] == [["One"]]
    assert [[b.text for b in row] for row in builder.as_markup().inline_keyboard] == [
        ["One"],
        ["Two"],
    ]
    assert len(list(copy.buttons)) == 3
    assert len(list(builder.buttons)) == 2
