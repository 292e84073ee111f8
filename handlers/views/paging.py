"""Paged lists in chat: one callback (which list, from where), one counter line and one row of
Previous / More buttons, shared by every list, so no list is ever cut silently.

Each list keeps its own handler for its page buttons (`PageCallback.filter(F.name == ...)`),
behind the same role filter as its command, and renders a page with the same function as the
command itself.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.views.keyboard import InlineKeyboardBuilder
from services.paging import Page

PAGE_SIZE = 10  # rows on one page of a list in chat: a phone screen without scrolling far


class PageCallback(CallbackData, prefix="pg"):
    """A Back or More button under a page of a list."""

    name: str  # which list: products, rewards, coupons, fulfil, groups, gbw_product
    offset: int  # where the page it opens starts


def page_counter(page: Page[Any]) -> str:
    """Which rows this page shows of how many: "11–20 of 23"; "3 in all" when one page holds
    the whole list."""
    first, last = page.offset + 1, page.offset + len(page.items)
    if not page.items or (first == 1 and last == page.total):
        return _("{total} in all").format(total=page.total)
    return _("{first}–{last} of {total}").format(first=first, last=last, total=page.total)


def page_row(name: str, page: Page[Any], size: int = PAGE_SIZE) -> list[InlineKeyboardButton]:
    """The Back and More buttons a page needs (none when it holds the whole list)."""
    row = []
    if page.offset > 0:
        row.append(
            InlineKeyboardButton(
                text=_("◀️ Previous"),
                callback_data=PageCallback(name=name, offset=max(0, page.offset - size)).pack(),
            )
        )
    if page.more:
        row.append(
            InlineKeyboardButton(
                text=_("More ▶️"),
                callback_data=PageCallback(name=name, offset=page.offset + size).pack(),
            )
        )
    return row


def with_page_row(
    builder: InlineKeyboardBuilder | None, name: str, page: Page[Any], size: int = PAGE_SIZE
) -> InlineKeyboardMarkup | None:
    """The list's own buttons (already laid out) with the Back / More row under them."""
    builder = builder or InlineKeyboardBuilder()
    row = page_row(name, page, size)
    if row:
        builder.row(*row)
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


async def send_footer(target: Message, heading: str, name: str, page: Page[Any]) -> None:
    """Under a page of cards (one message each): a line that counts them, with More, when the
    list is longer than the page. `heading` is translated and holds {counter}."""
    if page.offset or page.more:
        await target.answer(
            heading.format(counter=page_counter(page)),
            reply_markup=with_page_row(None, name, page),
        )


async def turn_card_page(message: object) -> bool:
    """More under a page of cards: the footer loses its buttons, as the next cards follow."""
    if not isinstance(message, Message):
        return False
    await message.edit_reply_markup(reply_markup=None)
    return True
