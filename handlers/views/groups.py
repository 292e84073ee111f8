"""A group as staff review it: the card sent to every staff member when a stranger adds the bot
(the community router sends it, the groups router acts on its buttons), and the names of the
approval states."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.labels import APPROVAL, label
from handlers.views.text import CallbackId, esc, esc_name
from services.community import CommunityView
from services.member import MemberView


class GroupAction(StrEnum):
    """A staff button about a group: one of the decisions of services.groups, or a step
    around a suspension."""

    APPROVE = "approve"
    DECLINE = "decline"
    ASK = "ask"  # a suspension to confirm
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    KEEP = "keep"  # the suspension not confirmed


class GroupCallback(CallbackData, prefix="grp"):
    """A staff button about a group: approve, decline, ask (before suspending), suspend,
    reinstate or keep (the suspension not confirmed)."""

    action: GroupAction
    community_id: CallbackId
    card: int = 0  # 1: pressed on the review card, which then shows the decision


def state_name(approval: str) -> str:
    """The approval state as staff read it, in the current locale."""
    return label(APPROVAL, approval)


def group_name(title: str, community_id: int) -> str:
    """The group's title and id, as the reader's language writes them."""
    return _("{name} ({id})").format(
        name=f"<b>{esc_name(title)}</b>", id=f"<code>{community_id}</code>"
    )


def review_card_text(community: CommunityView, added_by: MemberView | None) -> str:
    """The review card, in the current locale."""
    adder = (
        _("{name} ({id})").format(
            name=f"<b>{esc(added_by.display_name)}</b>", id=f"<code>{added_by.id}</code>"
        )
        if added_by is not None
        else _("someone I do not know")
    )
    return "\n".join(
        [
            _("🆕 A new group is waiting for approval: {group}").format(
                group=group_name(community.title, community.id)
            ),
            _("Added by {name}.").format(name=adder),
            _(
                "Until you approve it, it gets no group-buys, drops, check-ins, points, "
                "referral rewards or commission."
            ),
        ]
    )


def review_card_keyboard(community_id: int) -> InlineKeyboardMarkup:
    """Approve / Decline, on the review card."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Approve"),
        callback_data=GroupCallback(action=GroupAction.APPROVE, community_id=community_id, card=1),
    )
    builder.button(
        text=_("✖️ Decline"),
        callback_data=GroupCallback(action=GroupAction.DECLINE, community_id=community_id, card=1),
    )
    return builder.as_markup()
