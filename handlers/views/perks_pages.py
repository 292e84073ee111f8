"""What the perks' paged lists (/rewards and /fulfil, /coupons and /coupon_templates) do when
Back or More is tapped under them: the same message shows the other page."""

from __future__ import annotations

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


async def show_page(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Answers the tap and edits the list's message into the page rendered."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)
