"""Leader appointments as people see them: the "Apply to lead" button that the greeting, the
refusal of a Telegram admin who is not a leader, and /lead offer in a group."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from handlers.views.keyboard import InlineKeyboardBuilder


class LeadAction(StrEnum):
    APPLY = "apply"


class LeadCallback(CallbackData, prefix="lead"):
    """A group's "Apply to lead" button (handlers.role_apply reads it); the group is the chat."""

    action: LeadAction


def apply_keyboard() -> InlineKeyboardMarkup:
    """The one-button keyboard a group's admins tap to apply to lead it."""
    builder = InlineKeyboardBuilder()
    builder.button(text=_("🙋 Apply to lead"), callback_data=LeadCallback(action=LeadAction.APPLY))
    return builder.as_markup()
