"""Steps a Join tap and a sign-up list's order share: the VIP early-access check, the member's
empty join row, the group-buy's counters (one conditional UPDATE) and the member's place on
the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import LEVEL_OPEN, LEVELS, Community
from models.groupbuy import GROUPBUY_OPEN, GroupBuy, GroupBuyJoin
from models.tiers import MemberTier
from services.db import execute_rows, insert_for, prepared, table_of
from services.groupbuy.read import _must
from services.groupbuy.values import GroupBuyError, GroupBuyRefusal, GroupBuyView


async def _check_vip(
    session: AsyncSession, found: GroupBuyView, member_id: int, chat_id: int, now: datetime
) -> None:
    """Refuse, during the early-access window, a member below the VIP rank (vip_only) or, in a
    level's window, a member joining from a group below that level (vip_level_only)."""
    if not found.vip_only(now):
        return
    if found.vip_level in LEVELS:
        group = await session.get(Community, chat_id)
        level = group.level if group is not None and group.level in LEVELS else LEVEL_OPEN
        if LEVELS.index(level) < LEVELS.index(found.vip_level):
            raise GroupBuyError(GroupBuyRefusal.VIP_LEVEL_ONLY, found.vip_level)
        return
    held = await session.get(MemberTier, member_id)
    if (held.rank if held else 0) < found.vip_rank:
        raise GroupBuyError(GroupBuyRefusal.VIP_ONLY, str(found.vip_rank))


async def _empty_join(
    session: AsyncSession, groupbuy_id: int, member_id: int, chat_id: int, now: datetime
) -> int | None:
    """The member's join row, created with no units when they have none yet: 0 when this
    transaction created it (and holds it), None when it was there already."""
    created = await session.execute(
        insert_for(session, table_of(GroupBuyJoin))
        .values(
            groupbuy_id=groupbuy_id,
            member_id=member_id,
            chat_id=chat_id,
            quantity=0,
            joined_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["groupbuy_id", "member_id"])
        .returning(col(GroupBuyJoin.quantity))
    )
    return created.scalar_one_or_none()


_COUNT_UNITS = prepared(
    lambda _dialect: (
        update(table_of(GroupBuy))
        .where(
            col(GroupBuy.id) == bindparam("groupbuy_id"),
            col(GroupBuy.status) == GROUPBUY_OPEN,
            col(GroupBuy.deadline) > bindparam("now"),
            col(GroupBuy.units_sold) + bindparam("delta") <= col(GroupBuy.stock_cap),
        )
        .values(
            units_sold=col(GroupBuy.units_sold) + bindparam("delta"),
            participants=col(GroupBuy.participants) + bindparam("people"),
        )
        .returning(col(GroupBuy.units_sold), col(GroupBuy.participants))
    )
)


async def _count_units(
    session: AsyncSession, found: GroupBuyView, delta: int, old: int, new: int, now: datetime
) -> Any:
    """The group-buy's counters take the member's change (`old` -> `new` units), or the
    change is refused (closed meanwhile, or not that much stock left): one conditional UPDATE."""
    people = (1 if old == 0 else 0) - (1 if new == 0 else 0)
    counted = (
        await execute_rows(
            session,
            _COUNT_UNITS(session),
            {"groupbuy_id": found.id, "now": now, "delta": delta, "people": people},
        )
    ).one_or_none()
    if counted is None:
        refreshed = await _must(session, found.id)
        if refreshed.status != GROUPBUY_OPEN or refreshed.deadline <= now:
            raise GroupBuyError(GroupBuyRefusal.CLOSED)
        raise GroupBuyError(GroupBuyRefusal.SOLD_OUT, str(refreshed.units_left))
    return counted


async def _position(session: AsyncSession, groupbuy_id: int, member_id: int) -> int:
    """The member's number on the sign-up list: one count, not the whole list (a hot path)."""
    mine = (
        await session.execute(
            select(table_of(GroupBuyJoin).c.joined_at, table_of(GroupBuyJoin).c.id).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
                col(GroupBuyJoin.quantity) > 0,
            )
        )
    ).first()
    if mine is None:
        return 0
    return await _rank(session, groupbuy_id, mine.joined_at, mine.id)


_RANK = prepared(
    lambda _dialect: (
        select(func.count())
        .select_from(GroupBuyJoin)
        .where(
            col(GroupBuyJoin.groupbuy_id) == bindparam("groupbuy_id"),
            col(GroupBuyJoin.quantity) > 0,
            or_(
                col(GroupBuyJoin.joined_at) < bindparam("joined_at"),
                and_(
                    col(GroupBuyJoin.joined_at) == bindparam("joined_at"),
                    col(GroupBuyJoin.id) <= bindparam("row_id"),
                ),
            ),
        )
    )
)


async def _rank(session: AsyncSession, groupbuy_id: int, joined_at: datetime, row_id: int) -> int:
    """The number on the sign-up list of the join row (`row_id`, joined at `joined_at`)."""
    ahead = await session.execute(
        _RANK(session), {"groupbuy_id": groupbuy_id, "joined_at": joined_at, "row_id": row_id}
    )
    return int(ahead.scalar_one())
