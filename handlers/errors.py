"""The last resort: log the failed update with context and apologise to the user."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n

from handlers.text import N_
from services.member import locale_for_language_code

log = logging.getLogger(__name__)
router = Router(name="errors")

APOLOGY = N_("Sorry, something went wrong on my side. Please try again in a moment.")
# a Bot API call failed: the update's work committed before it (nothing waits on Telegram
# inside a transaction), so "try again" could do it twice
ANSWER_LOST = N_(
    "Sorry, Telegram lost my answer. What you asked for may already be done: please check "
    "before you try again."
)


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n) -> bool:
    """Logs the exception with the update and tells the user, never showing a traceback."""
    update = event.update
    # the exception's type in the line and its text only in the traceback: an error raised
    # while parsing a message may quote it, and JSON logs leave the text out
    log.error(
        "update %s (%s) failed: %s",
        update.update_id,
        update.event_type,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    user = None
    chat_id = None
    if update.message is not None:
        user, chat_id = update.message.from_user, update.message.chat.id
    elif update.callback_query is not None:
        user = update.callback_query.from_user
    locale = locale_for_language_code(user.language_code if user else None, i18n.default_locale)
    lost = isinstance(event.exception, TelegramAPIError)
    text = i18n.gettext(ANSWER_LOST if lost else APOLOGY, locale=locale)
    try:
        if update.callback_query is not None:
            await bot.answer_callback_query(update.callback_query.id, text=text, show_alert=True)
        elif chat_id is not None:
            await bot.send_message(chat_id, text)
    except TelegramAPIError as exc:
        log.warning("could not apologise for update %s: %s", update.update_id, exc)
    return True
