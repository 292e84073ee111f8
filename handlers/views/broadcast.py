"""A broadcast as members get it: one function builds the message, so the staff preview and
the outbox sender (bot/outbox.py) send exactly the same thing."""

from __future__ import annotations

from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.views.groupbuy import GroupBuyCallback
from services import broadcast as outbox


def keyboard(delivery: outbox.Delivery) -> InlineKeyboardMarkup | None:
    """The broadcast's one button: a link, or a group-buy's details."""
    if not delivery.button_text:
        return None
    if delivery.button_url:
        button = InlineKeyboardButton(text=delivery.button_text, url=delivery.button_url)
    elif delivery.button_groupbuy_id:
        data = GroupBuyCallback(action="details", groupbuy_id=delivery.button_groupbuy_id)
        button = InlineKeyboardButton(text=delivery.button_text, callback_data=data.pack())
    else:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def delivery_message(delivery: outbox.Delivery) -> SendPhoto | SendMessage:
    """The broadcast to one chat as members see it (send it with `await bot(...)`)."""
    markup = keyboard(delivery)
    paid = True if delivery.paid else None
    if delivery.photo_file_id:
        return SendPhoto(
            chat_id=delivery.chat_id,
            photo=delivery.photo_file_id,
            caption=delivery.text,
            reply_markup=markup,
            allow_paid_broadcast=paid,
        )
    return SendMessage(
        chat_id=delivery.chat_id,
        text=delivery.text,
        reply_markup=markup,
        allow_paid_broadcast=paid,
    )
