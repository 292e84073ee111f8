"""The main menu of the private chat and the ⬅️ Back that every screen opened from it carries.

A screen of the menu is one message: its button edits the menu message into the screen, and
Back edits it into the screen it came from (the main menu, or a parent screen such as Points
and perks). The commands that show the same screens (/orders, /me, /rewards, ...) render them
with the same functions, Back included, so a typed command and a tapped button look alike.
Shared by the menu router and by every feature that renders one of its screens.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n.context import get_i18n

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import esc_name


class MenuScreen(StrEnum):
    """A screen of the menu, as the callback data names it."""

    MAIN = "main"  # the greeting with the menu's buttons
    ORDERS = "orders"  # the member's orders (/orders)
    CHECKIN = "checkin"  # check in now and see the result (/checkin)
    POINTS = "points"  # points and perks: tier, balance, streak, perks (/me)
    REWARDS = "rewards"  # the catalog, under Points and perks (/rewards)
    HISTORY = "history"  # where the points came from, under Points and perks (/points)
    HISTORY_FILE = "history_file"  # every movement as a CSV file (/points all)
    TIERS = "tiers"  # every tier, under Points and perks (/tiers)
    INVITE = "invite"  # the member's link, invitation and QR code (/invite)
    REFERRALS = "referrals"  # friends invited, under Invite (/referrals)
    COUPONS = "coupons"  # the member's coupons (/coupons)
    HELP = "help"  # the commands the member may use (/help)
    LANGUAGE = "language"  # the language picker (/language)
    OFFERS = "offers"  # private offers: opt in, or out (/stop)
    MEMBERSHIP = "membership"  # paid membership, under Points and perks (/membership)


class MenuCallback(CallbackData, prefix="menu"):
    """A button of the main menu, or ⬅️ Back to a screen of it."""

    action: MenuScreen  # the screen it opens


def menu_text(name: str) -> str:
    """The greeting above the main menu, the member's name escaped."""
    return _(
        "Hi {name}! I run this brand's member communities: join group-buys with one tap, "
        "vote on new products, invite friends and collect points."
    ).format(name=f"<b>{esc_name(name)}</b>")


def menu_keyboard() -> InlineKeyboardMarkup:
    """Every screen of the menu, two a row: what a member does without typing a command.

    Built once per language (it is on every /start): aiogram's keyboard builder copies each
    button as it goes, which cost more than the rest of /start's handling."""
    locale = get_i18n().current_locale
    markup = _MENUS.get(locale)
    if markup is None:
        buttons = [
            InlineKeyboardButton(text=text, callback_data=MenuCallback(action=action).pack())
            for text, action in (
                (_("📦 My orders"), MenuScreen.ORDERS),
                (_("✅ Check in"), MenuScreen.CHECKIN),
                (_("⭐ Points and perks"), MenuScreen.POINTS),
                (_("🤝 Invite friends"), MenuScreen.INVITE),
                (_("🎟 Coupons"), MenuScreen.COUPONS),
                (_("🔔 Offers"), MenuScreen.OFFERS),
                (_("❓ Help"), MenuScreen.HELP),
                (_("🌐 Language"), MenuScreen.LANGUAGE),
            )
        ]
        rows = [buttons[first : first + 2] for first in range(0, len(buttons), 2)]
        markup = _MENUS[locale] = InlineKeyboardMarkup(inline_keyboard=rows)
    # a copy of the rows, so a caller that adds a row never changes the menu of the next
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in markup.inline_keyboard])


# the main menu per language, built on first use
_MENUS: dict[str, InlineKeyboardMarkup] = {}


def back_button(to: MenuScreen = MenuScreen.MAIN) -> InlineKeyboardButton:
    """⬅️ Back to the main menu, or to the screen `to`."""
    return InlineKeyboardButton(text=_("⬅️ Back"), callback_data=MenuCallback(action=to).pack())


def with_back(
    markup: InlineKeyboardMarkup | InlineKeyboardBuilder | None, to: MenuScreen = MenuScreen.MAIN
) -> InlineKeyboardMarkup:
    """The screen's own buttons (already laid out), with the Back row under them."""
    if isinstance(markup, InlineKeyboardBuilder):
        markup = markup.as_markup()
    rows = list(markup.inline_keyboard) if markup is not None else []
    return InlineKeyboardMarkup(inline_keyboard=[*rows, [back_button(to)]])
