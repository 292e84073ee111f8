"""A broadcast as members get it: one function builds the message, so the staff preview and
the outbox sender (bot/outbox.py) send exactly the same thing.
Also the promotions screen (/offers and the main menu's Offers button) and its consent wording."""

from __future__ import annotations

import html
from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from aiogram.filters.callback_data import CallbackData
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.groupbuy import GroupBuyAction, GroupBuyCallback
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.labels import SEGMENT, label
from handlers.views.menu import with_back
from handlers.views.perks import tier_label
from models.broadcast import (
    RECIPIENT_PRIVATE,
    TARGET_COMMUNITY,
    TARGET_EVERYONE,
    TARGET_GROUPS,
    TARGET_MEMBERS,
    TARGET_SEGMENT,
    TARGET_TAG,
    TARGET_TIER,
)
from services import broadcast as outbox
from services.member import MemberView
from services.pacing import PacingRules
from services.tiers import TierView


def targets_text(targets: str, tiers: Mapping[int, TierView], groups: Mapping[int, str]) -> str:
    """Who a broadcast goes to, in words (not escaped): a tier by its name, a group by its
    title; `tiers` by rank and `groups` by id are the ones the reader may know."""
    kind, _sep, value = targets.partition(":")
    if kind == TARGET_GROUPS:
        return _("all groups")
    if kind == TARGET_MEMBERS:
        return _("members who opted in")
    if kind == TARGET_EVERYONE:
        return _("groups and members who opted in")
    if kind == TARGET_TAG:
        return _("groups tagged {tag}").format(tag=value)
    if kind == TARGET_TIER and value.isdecimal() and int(value) in tiers:
        tier = tiers[int(value)]
        return _("members of {tier} and above").format(tier=tier_label(tier.code, tier.name))
    if kind == TARGET_SEGMENT:
        return _("members in the segment {segment}").format(segment=label(SEGMENT, value))
    if kind == TARGET_COMMUNITY and value.lstrip("-").isdecimal():
        return _("members of {group}").format(group=groups.get(int(value), value))
    return targets


class StopPromotionsCallback(CallbackData, prefix="stopads"):
    """🔕 Stop promotions under a promotion in private: the same as /stop."""


def stop_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=_("🔕 Stop promotions"), callback_data=StopPromotionsCallback().pack()
    )


# what the ad label adds to a private promotion at most (BRAND_NAME is at most 64 characters):
# the wizard keeps this room free under Telegram's text and caption limits
LABEL_ROOM = 100


def ad_label(brand: str) -> str:
    """The first line of every promotion in private: it is a promotion, and from whom
    (advertising law: electronic advertising names its sender)."""
    return _("📢 Promotion from {name}").format(name=f"<b>{html.escape(brand)}</b>")


def keyboard(delivery: outbox.Delivery) -> InlineKeyboardMarkup | None:
    """The broadcast's one button: a link, or a group-buy's details; in private, 🔕 Stop
    promotions under it."""
    rows: list[list[InlineKeyboardButton]] = []
    if delivery.button_text and delivery.button_url:
        rows.append([InlineKeyboardButton(text=delivery.button_text, url=delivery.button_url)])
    elif delivery.button_text and delivery.button_groupbuy_id:
        data = GroupBuyCallback(
            action=GroupBuyAction.DETAILS, groupbuy_id=delivery.button_groupbuy_id
        )
        rows.append([InlineKeyboardButton(text=delivery.button_text, callback_data=data.pack())])
    if delivery.kind == RECIPIENT_PRIVATE:
        rows.append([stop_button()])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def delivery_message(delivery: outbox.Delivery, *, brand: str) -> SendPhoto | SendMessage:
    """The broadcast to one chat as members see it (send it with `await bot(...)`, in the
    recipient's locale): in private it opens with the ad label naming `brand` and ends with
    🔕 Stop promotions."""
    markup = keyboard(delivery)
    text = delivery.text
    if delivery.kind == RECIPIENT_PRIVATE:
        text = ad_label(brand) + "\n" + text
    paid = True if delivery.paid else None
    if delivery.photo_file_id:
        return SendPhoto(
            chat_id=delivery.chat_id,
            photo=delivery.photo_file_id,
            caption=text,
            reply_markup=markup,
            allow_paid_broadcast=paid,
        )
    return SendMessage(
        chat_id=delivery.chat_id,
        text=text,
        reply_markup=markup,
        allow_paid_broadcast=paid,
    )


class BroadcastSettings(Protocol):
    """The settings these handlers read (bot.config.Settings provides them)."""

    default_timezone: str
    broadcast_per_second: float
    broadcast_paid: bool
    broadcast_paid_per_second: float
    compliance_extra_words: tuple[str, ...]
    consent_wording_version: str
    brand_name: str

    def pacing_rules(self) -> PacingRules: ...

    def broadcast_rate(self, paid: bool) -> float: ...


class PromoAction(StrEnum):
    ASK = "ask"  # show the wording
    IN = "in"  # opt in
    OUT = "out"  # opt out, as /stop


class PromoCallback(CallbackData, prefix="promo"):
    """A member's answer about private offers."""

    action: PromoAction


def consent_wording() -> str:
    return _(
        "Would you like offers and new drops in this chat? At most {count} a week, never at "
        "night. Send /stop at any time to end them."
    )


async def offers_screen(
    session: AsyncSession, member: MemberView, settings: BroadcastSettings
) -> tuple[str, InlineKeyboardMarkup]:
    """🔔 Offers in the menu: the wording with Yes, or, once the member said yes, how to stop
    them with a button; ⬅️ Back to the main menu either way."""
    count = settings.pacing_rules().member_week_cap
    builder = InlineKeyboardBuilder()
    if await outbox.is_opted_in(session, member_id=member.id):
        builder.button(
            text=_("🔕 Stop the offers"), callback_data=PromoCallback(action=PromoAction.OUT)
        )
        text = _(
            "You get our offers and new drops in this chat: at most {count} a week, never at "
            "night. Stop them at any time with the button below, or /stop."
        ).format(count=count)
    else:
        builder.button(
            text=_("✅ Yes, send me offers"), callback_data=PromoCallback(action=PromoAction.IN)
        )
        text = consent_wording().format(count=count)
    return text, with_back(builder)
