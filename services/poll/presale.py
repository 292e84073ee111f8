"""After a poll: the pre-sale opened from its winning option, and the head start of trial
ambassadors, who vote before the poll is released to everyone.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.poll import POLL_CLOSED, POLL_OPEN, Poll
from services.db import rowcount
from services.poll._common import PollError, PollRefusal, PollView, get_poll


def _words(text: str) -> str:
    return " ".join(text.casefold().split())


def offers_option(product_title: str, option: str) -> bool:
    """Whether a product is what a poll's option names: its title is the option, or contains
    it ("Osmanthus oolong 250 g" for the option "Osmanthus oolong"), case and spacing aside."""
    wanted = _words(option)
    return bool(wanted) and wanted in _words(product_title)


async def hold_presale(session: AsyncSession, *, poll_id: int) -> bool:
    """Lock a closed poll's pre-sale slot for this transaction; False when it is taken.

    The no-op UPDATE takes the row (PostgreSQL) or the database (SQLite) write lock, so a
    concurrent staff member waits here and then finds the slot filled.
    """
    return await _fill_empty_slot(session, poll_id, col(Poll.presale_groupbuy_id))


async def claim_presale(session: AsyncSession, *, poll_id: int, groupbuy_id: int) -> bool:
    """Link the pre-sale opened from a closed poll, once; False when one was linked already."""
    return await _fill_empty_slot(session, poll_id, groupbuy_id)


async def _fill_empty_slot(session: AsyncSession, poll_id: int, value: Any) -> bool:
    """Set a closed poll's pre-sale link to `value` (a group-buy's id, or the column itself:
    no change but the lock) while none is linked; whether the poll's row was updated."""
    moved = await session.execute(
        update(Poll)
        .where(
            col(Poll.id) == poll_id,
            col(Poll.status) == POLL_CLOSED,
            col(Poll.presale_groupbuy_id).is_(None),
        )
        .values(presale_groupbuy_id=value)
    )
    return rowcount(moved) == 1


FIRST_WHO = frozenset({"ambassadors", "ambassador", "体验官", "體驗官"})
MIN_HEAD_START = timedelta(minutes=10)
MAX_HEAD_START = timedelta(days=7)
_HEAD_START = re.compile(
    r"^(\d{1,4})\s*(m|min|mins|分钟|分鐘|分|h|hr|hrs|小时|小時|时|時|d|day|days|天)$"
)
_UNIT = {"m": 1, "min": 1, "mins": 1, "分钟": 1, "分鐘": 1, "分": 1, "d": 1440, "day": 1440}
_UNIT |= {"days": 1440, "天": 1440}


def parse_first(text: str) -> timedelta:
    """`ambassadors:2h` (or 体验官：2小时): how long the tagged trial ambassadors vote before the
    groups get the poll, 10 minutes to 7 days; PollError bad_first naming the text."""
    who, _sep, length = text.replace("：", ":").partition(":")
    found = _HEAD_START.match(length.strip().lower())
    if who.strip().lower() not in FIRST_WHO or found is None:
        raise PollError(PollRefusal.BAD_FIRST, text)
    head_start = timedelta(minutes=int(found.group(1)) * _UNIT.get(found.group(2), 60))
    if not MIN_HEAD_START <= head_start <= MAX_HEAD_START:
        raise PollError(PollRefusal.BAD_FIRST, text)
    return head_start


async def held_polls(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Open polls whose groups still wait for the ambassadors' head start to end, with when."""
    rows = await session.execute(
        select(col(Poll.id), col(Poll.first_until)).where(
            col(Poll.status) == POLL_OPEN,
            col(Poll.first_until).is_not(None),
            col(Poll.released_at).is_(None),
        )
    )
    return [(int(i), when) for i, when in rows.all() if i is not None and when is not None]


async def due_releases(session: AsyncSession, *, now: datetime) -> list[int]:
    """Polls whose head start is over and whose groups have not got them yet."""
    return [poll_id for poll_id, when in await held_polls(session) if when <= now]


async def release_poll(session: AsyncSession, *, poll_id: int, now: datetime) -> PollView | None:
    """Claim the end of a poll's head start (a conditional UPDATE, so the groups get it once);
    the poll with the groups to post it in (`held_chats`), or None when not due or claimed."""
    row = await session.get(Poll, poll_id, populate_existing=True)
    if row is None or row.first_until is None:
        return None
    held = tuple(int(c) for c in row.held_chats or ())
    claimed = await session.execute(
        update(Poll)
        .where(
            col(Poll.id) == poll_id,
            col(Poll.status) == POLL_OPEN,
            col(Poll.released_at).is_(None),
            col(Poll.first_until) <= now,
        )
        .values(released_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    found = await get_poll(session, poll_id)
    assert found is not None
    return replace(found, held_chats=held)
