"""A broadcast as members get it: one function builds the message, so the staff preview and
the outbox sender (bot/outbox.py) send exactly the same thing."""

from __future__ import annotations

from collections.abc import Mapping

from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from handlers.views.groupbuy import GroupBuyCallback
from handlers.views.labels import SEGMENT, label
from handlers.views.perks import tier_label
from models.broadcast import (
    TARGET_COMMUNITY,
    TARGET_EVERYONE,
    TARGET_GROUPS,
    TARGET_MEMBERS,
    TARGET_SEGMENT,
    TARGET_TAG,
    TARGET_TIER,
)
from services import broadcast as outbox
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
