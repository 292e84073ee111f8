"""A request staff decide from its card: the card's two buttons (yes and no, side by side) and
the audit of the decision taken from them. Shared by handlers/cash.py (hand-overs),
handlers/payout.py (payout requests), handlers/referral_admin.py (held referrals),
handlers/role_apply.py (leader applications), handlers/review.py (reviews to moderate) and
handlers/groups.py (a group's suspension)."""

from __future__ import annotations

from datetime import datetime

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from services.audit import record_action
from services.member import MemberView


def decision_keyboard(
    yes_text: str, yes: CallbackData, no_text: str, no: CallbackData
) -> InlineKeyboardMarkup:
    """A card's yes and no buttons, in one row."""
    builder = InlineKeyboardBuilder()
    builder.button(text=yes_text, callback_data=yes)
    builder.button(text=no_text, callback_data=no)
    builder.adjust(2)
    return builder.as_markup()


async def audit_decision(
    session: AsyncSession,
    query: CallbackQuery,
    member: MemberView,
    *,
    action: str,
    now: datetime,
    detail: str,
) -> None:
    """Audits the decision a staff member took from a card's button (allowed: the role filter
    let them press it), in the chat of the card."""
    await record_action(
        session,
        actor_id=member.id,
        chat_id=query.message.chat.id if query.message else None,
        action=action,
        allowed=True,
        now=now,
        required_role="staff",
        detail=detail,
    )
