"""Waitlists as members read them: the offer of freed units with its Accept button, and the
notice when an offer lapsed. Shared by the waitlist router and its job (bot/waitlist.py)."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import N_, CallbackId, counted, esc_name
from services.waitlist import Lapsed, Offer

OFFER = N_(
    "Good news: {units} of {title} freed up, and you are first on the waitlist. Accept "
    "within {period} to order; after that the offer passes to the next member waiting."
)
LAPSED = N_(
    "Your offer for {title} lapsed and passed to the next member waiting. Join the waitlist "
    "again from the card if you still want it."
)
ACCEPT = N_("✅ Accept")
LEAVE = N_("Leave the waitlist")


class WaitlistAction(StrEnum):
    WAIT = "wait"  # on a sold-out card
    LEAVE = "leave"
    ACCEPT = "accept"  # an offer


class WaitlistCallback(CallbackData, prefix="wl"):
    """A waitlist button: `wait` on a sold-out card, `leave`, or `accept` an offer (the
    entry and the number of its offer, so a lapsed or replaced offer's button books nothing);
    `variant_id` is the variant or list item waited for (0: the group-buy itself)."""

    action: WaitlistAction
    groupbuy_id: CallbackId
    entry_id: CallbackId = 0
    offer_no: CallbackId = 0
    variant_id: CallbackId = 0


def item_title(title: str, item: str) -> str:
    """A group-buy's title with the variant or list item waited for (escaped)."""
    return esc_name(f"{title} · {item}" if item else title)


def offer_text(i18n: I18n, offer: Offer, minutes: int) -> str:
    """The offer in the member's language."""
    title = offer.groupbuy.in_language(offer.locale, i18n.default_locale).title
    with i18n.use_locale(offer.locale):
        units = counted("unit", offer.units)
        period = counted("minute", minutes)
        title = item_title(title, offer.item)
        return i18n.gettext(OFFER).format(units=units, title=title, period=period)


def offer_keyboard(i18n: I18n, offer: Offer) -> InlineKeyboardMarkup:
    """Accept, or leave the waitlist."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=i18n.gettext(ACCEPT, locale=offer.locale),
        callback_data=WaitlistCallback(
            action=WaitlistAction.ACCEPT,
            groupbuy_id=offer.groupbuy.id,
            entry_id=offer.entry_id,
            offer_no=offer.offer_no,
        ),
    )
    variant_id = offer.variant_id or 0
    builder.button(
        text=i18n.gettext(LEAVE, locale=offer.locale),
        callback_data=WaitlistCallback(
            action=WaitlistAction.LEAVE, groupbuy_id=offer.groupbuy.id, variant_id=variant_id
        ),
    )
    builder.adjust(1)
    return builder.as_markup()


def lapsed_text(i18n: I18n, lapsed: Lapsed) -> str:
    """The notice that an offer passed to the next member."""
    title = lapsed.groupbuy.in_language(lapsed.locale, i18n.default_locale).title
    title = item_title(title, lapsed.item)
    return i18n.gettext(LAPSED, locale=lapsed.locale).format(title=title)
