"""A group-buy's cards: the message that shows it in each group it was posted in, and the
claim that keeps live edits to one per interval per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GROUPBUY_OPEN, GroupBuy, GroupBuyPost


async def posts(session: AsyncSession, groupbuy_id: int) -> list[GroupBuyPost]:
    """The cards of a group-buy, one per group."""
    rows = await session.execute(
        select(GroupBuyPost).where(col(GroupBuyPost.groupbuy_id) == groupbuy_id)
    )
    return list(rows.scalars().all())


async def record_card(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    chat_id: int,
    message_id: int,
    now: datetime,
    photo: bool = False,
) -> None:
    """Remember the message that is the group-buy's card in a chat, and whether it is a photo
    (whose caption is the card); `now` is the real time it was sent, the pace of its edits
    (claim_card_edit) counts from it."""
    await session.execute(
        update(GroupBuyPost)
        .where(col(GroupBuyPost.groupbuy_id) == groupbuy_id, col(GroupBuyPost.chat_id) == chat_id)
        .values(message_id=message_id, edited_at=now, photo=photo)
    )


@dataclass(frozen=True, slots=True)
class CardSlot:
    """A card this worker may edit now: its message, and whether it is a photo."""

    message_id: int
    photo: bool


async def claim_card_edit(
    session: AsyncSession, *, groupbuy_id: int, chat_id: int, now: datetime, interval: float
) -> CardSlot | None:
    """The card to edit if this worker may edit it now (one edit per interval per group)."""
    result = await session.execute(
        update(GroupBuyPost)
        .where(
            col(GroupBuyPost.groupbuy_id) == groupbuy_id,
            col(GroupBuyPost.chat_id) == chat_id,
            col(GroupBuyPost.message_id).is_not(None),
            or_(
                col(GroupBuyPost.edited_at).is_(None),
                col(GroupBuyPost.edited_at) <= now - timedelta(seconds=interval),
            ),
        )
        .values(edited_at=now)
        .returning(col(GroupBuyPost.message_id), col(GroupBuyPost.photo))
    )
    row = result.one_or_none()
    if row is None:
        return None
    message_id, photo = row
    assert message_id is not None  # claimed only where a card was posted
    return CardSlot(int(message_id), bool(photo))


async def groupbuys_in_chat(session: AsyncSession, chat_id: int) -> list[int]:
    """Open group-buys posted in the chat, newest first."""
    rows = await session.execute(
        select(col(GroupBuy.id))
        .join(GroupBuyPost, col(GroupBuyPost.groupbuy_id) == col(GroupBuy.id))
        .where(col(GroupBuyPost.chat_id) == chat_id, col(GroupBuy.status) == GROUPBUY_OPEN)
        .order_by(col(GroupBuy.id).desc())
    )
    return [int(i) for i in rows.scalars().all() if i is not None]
