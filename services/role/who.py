"""Who is who: the roles, whether a user leads a group (and which), and the role a menu is
built for."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import COMMUNITY_ACTIVE, Community
from models.role import LEADER_ACTIVE, LEADER_SUSPENDED, LeaderDesignation
from services.role.staff import is_staff


class Role(IntEnum):
    """What a user may do; each role includes everything below it."""

    MEMBER = 0  # anyone the bot sees
    LEADER = 1  # runs one group (团长): appointed by staff, not suspended or removed
    STAFF = 2  # brand staff, granted by the owner; may act as leader in every group
    OWNER = 3  # listed in OWNER_IDS; grants and revokes staff


def _leads() -> Any:
    """The condition of an appointment that makes a leader now: active, in a group the bot is in."""
    return and_(
        col(LeaderDesignation.status) == LEADER_ACTIVE,
        col(Community.status) == COMMUNITY_ACTIVE,
    )


async def is_leader(session: AsyncSession, *, member_id: int, community_id: int) -> bool:
    """True for an active appointment as leader of the group (Telegram rights do not count)."""
    found = await session.execute(
        select(col(LeaderDesignation.id))
        .join(Community, col(Community.id) == col(LeaderDesignation.community_id))
        .where(
            col(LeaderDesignation.community_id) == community_id,
            col(LeaderDesignation.member_id) == member_id,
            _leads(),
        )
    )
    return found.first() is not None


async def is_suspended_leader(session: AsyncSession, member_id: int) -> bool:
    """True while staff have suspended the member as leader of any group (pending review)."""
    found = await session.execute(
        select(col(LeaderDesignation.id)).where(
            col(LeaderDesignation.member_id) == member_id,
            col(LeaderDesignation.status) == LEADER_SUSPENDED,
        )
    )
    return found.first() is not None


async def resolve_role(
    session: AsyncSession,
    *,
    member_id: int,
    community_id: int | None,
    owner_ids: frozenset[int],
) -> Role:
    """The highest role the member holds here (leader only counts in the group it leads)."""
    if member_id in owner_ids:
        return Role.OWNER
    if await is_staff(session, member_id):
        return Role.STAFF
    if community_id is not None and await is_leader(
        session, member_id=member_id, community_id=community_id
    ):
        return Role.LEADER
    return Role.MEMBER


async def menu_role(session: AsyncSession, *, member_id: int, owner_ids: frozenset[int]) -> Role:
    """The role whose private-chat menu the member gets: owner, staff, a leader of any group
    (their leader commands work in private), else member."""
    role = await resolve_role(session, member_id=member_id, community_id=None, owner_ids=owner_ids)
    if role is Role.MEMBER and await led_communities(session, member_id=member_id):
        return Role.LEADER
    return role


async def leader_ids(session: AsyncSession) -> list[int]:
    """Everyone who leads a group now (see led_communities)."""
    rows = await session.execute(
        select(col(LeaderDesignation.member_id))
        .join(Community, col(Community.id) == col(LeaderDesignation.community_id))
        .where(_leads())
        .distinct()
    )
    return sorted(int(m) for m in rows.scalars().all())


async def led_communities(session: AsyncSession, *, member_id: int) -> frozenset[int]:
    """The groups the member leads now: active appointments in groups the bot is in."""
    rows = await session.execute(
        select(col(LeaderDesignation.community_id))
        .join(Community, col(Community.id) == col(LeaderDesignation.community_id))
        .where(col(LeaderDesignation.member_id) == member_id, _leads())
    )
    return frozenset(int(c) for c in rows.scalars().all())
