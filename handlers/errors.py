"""The last resort: log the failed update with context and apologise to the user."""

from __future__ import annotations

import html
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n

from handlers.views.text import N_
from services.member import locale_for_language_code
from services.validation import NumberRefused, has_look_alike

log = logging.getLogger(__name__)
router = Router(name="errors")

APOLOGY = N_("Sorry, something went wrong on my side. Please try again in a moment.")
# a Bot API call failed: the update's work committed before it (nothing waits on Telegram
# inside a transaction), so "try again" could do it twice
ANSWER_LOST = N_(
    "Sorry, Telegram lost my answer. What you asked for may already be done: please check "
    "before you try again."
)


# a number the validation layer refused (services/validation.py), said where it was typed
LOOK_ALIKE = N_(
    "“{part}” is not a number I can read: “{char}” only looks like a digit. Please type the "
    "number with the digits 0-9."
)
TOO_LARGE = N_("{part} is far too large a number here. Please check it and send it again.")


def number_refusal(exc: NumberRefused, i18n: I18n, locale: str) -> str:
    """The clear message for a refused number, in the user's language."""
    if exc.reason == "look_alike":
        return i18n.gettext(LOOK_ALIKE, locale=locale).format(
            part=exc.part, char=has_look_alike(exc.part) or exc.part
        )
    return i18n.gettext(TOO_LARGE, locale=locale).format(part=exc.part)


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, locale: str | None = None) -> bool:
    """Logs the exception with the update and tells the user, never showing a traceback.

    A number the validation layer refused is no failure: the update's writes are rolled back
    as for any error (nothing half done), and the user is told what to fix.

    The answer is in the language chosen for the update (the member's, or the group's) that
    the context middleware resolved before the handler failed: aiogram hands the error
    handler the update's data. Only when the update failed before that (no `locale`) is the
    user's Telegram language taken."""
    update = event.update
    if isinstance(event.exception, NumberRefused):
        log.info("update %s: a number refused (%s)", update.update_id, event.exception.reason)
    else:
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
    if locale is None or locale not in i18n.available_locales:
        locale = locale_for_language_code(user.language_code if user else None, i18n.default_locale)
    lost = isinstance(event.exception, TelegramAPIError)
    if isinstance(event.exception, NumberRefused):
        text = number_refusal(event.exception, i18n, locale)
    else:
        text = i18n.gettext(ANSWER_LOST if lost else APOLOGY, locale=locale)
    try:
        if update.callback_query is not None:
            await bot.answer_callback_query(update.callback_query.id, text=text, show_alert=True)
        elif chat_id is not None:
            await bot.send_message(chat_id, html.escape(text, quote=False))
    except TelegramAPIError as exc:
        log.warning("could not apologise for update %s: %s", update.update_id, exc)
    return True
