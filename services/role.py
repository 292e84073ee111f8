"""Roles: owner (config), staff (granted by the owner), leaders (group admins or designated)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.community import Community
from models.role import ChatAdmin, LeaderDesignation, StaffGrant
from services.db import upsert
from services.member import get_member


class Role(IntEnum):
    """What a user may do; each role includes everything below it."""

    MEMBER = 0  # anyone the bot sees
    LEADER = 1  # runs one group (团长): that group's Telegram admins and designated leaders
    STAFF = 2  # brand staff, granted by the owner; may act as leader in every group
    OWNER = 3  # listed in OWNER_IDS; grants and revokes staff


class RoleError(Exception):
    """A role change that cannot be made; `reason` is a stable code handlers translate."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AdminInfo:
    """A Telegram administrator of a group, as reported by getChatAdministrators."""

    user_id: int
    status: str  # creator or administrator


async def is_staff(session: AsyncSession, member_id: int) -> bool:
    """True while the member holds an unrevoked staff grant."""
    grant = await session.get(StaffGrant, member_id)
    return grant is not None and grant.revoked_at is None


async def admins_stale(session: AsyncSession, *, community_id: int, max_age_seconds: int) -> bool:
    """True when the group's cached Telegram admin list is missing or older than max_age."""
    community = await session.get(Community, community_id)
    if community is None or community.admins_synced_at is None:
        return True
    return utcnow() - community.admins_synced_at > timedelta(seconds=max_age_seconds)


async def sync_admins(
    session: AsyncSession, *, community_id: int, admins: Iterable[AdminInfo]
) -> None:
    """Replace the cached admin list of a registered group with what Telegram reported."""
    await session.execute(delete(ChatAdmin).where(col(ChatAdmin.community_id) == community_id))
    for admin in admins:
        session.add(
            ChatAdmin(community_id=community_id, member_id=admin.user_id, status=admin.status)
        )
    await session.execute(
        update(Community).where(col(Community.id) == community_id).values(admins_synced_at=utcnow())
    )


async def forget_admins(session: AsyncSession, *, community_id: int) -> None:
    """Mark the cached admin list stale, so the next privileged action fetches it again."""
    await session.execute(
        update(Community).where(col(Community.id) == community_id).values(admins_synced_at=None)
    )


async def is_leader(session: AsyncSession, *, member_id: int, community_id: int) -> bool:
    """True for a cached Telegram admin of the group or a designated leader."""
    admin = await session.execute(
        select(col(ChatAdmin.id)).where(
            col(ChatAdmin.community_id) == community_id,
            col(ChatAdmin.member_id) == member_id,
        )
    )
    if admin.first() is not None:
        return True
    designated = await session.execute(
        select(col(LeaderDesignation.id)).where(
            col(LeaderDesignation.community_id) == community_id,
            col(LeaderDesignation.member_id) == member_id,
        )
    )
    return designated.first() is not None


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


async def grant_staff(session: AsyncSession, *, member_id: int, granted_by: int) -> bool:
    """Make the member staff; False when they already were."""
    grant = await session.get(StaffGrant, member_id, with_for_update=True)
    if grant is not None and grant.revoked_at is None:
        return False
    if grant is None:
        session.add(StaffGrant(member_id=member_id, granted_by=granted_by))
    else:
        grant.granted_by = granted_by
        grant.granted_at = utcnow()
        grant.revoked_by = None
        grant.revoked_at = None
    await session.flush()
    return True


async def revoke_staff(session: AsyncSession, *, member_id: int, revoked_by: int) -> bool:
    """End the member's staff role; False when they were not staff."""
    result = await session.execute(
        update(StaffGrant)
        .where(
            col(StaffGrant.member_id) == member_id,
            col(StaffGrant.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow(), revoked_by=revoked_by)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def staff_locales(
    session: AsyncSession, *, owner_ids: Iterable[int], default_locale: str
) -> list[tuple[int, str]]:
    """Every staff member and owner with the locale to write to them in, by id."""
    recipients = []
    for staff_id in sorted(set(await staff_ids(session)) | set(owner_ids)):
        staff = await get_member(session, staff_id)
        recipients.append((staff_id, staff.locale if staff is not None else default_locale))
    return recipients


async def staff_ids(session: AsyncSession) -> list[int]:
    """Every current staff member's id, oldest grant first."""
    result = await session.execute(
        select(col(StaffGrant.member_id))
        .where(col(StaffGrant.revoked_at).is_(None))
        .order_by(col(StaffGrant.granted_at))
    )
    return list(result.scalars().all())


async def designate_leader(
    session: AsyncSession, *, community_id: int, member_id: int, designated_by: int
) -> bool:
    """Make the member a leader of the group; False when they already were designated."""
    statement = upsert(
        session,
        LeaderDesignation,
        {
            "community_id": community_id,
            "member_id": member_id,
            "designated_by": designated_by,
            "designated_at": utcnow(),
        },
        keys=["community_id", "member_id"],
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove_leader(session: AsyncSession, *, community_id: int, member_id: int) -> bool:
    """Withdraw a designation; False when there was none (Telegram admins stay leaders)."""
    result = await session.execute(
        delete(LeaderDesignation).where(
            col(LeaderDesignation.community_id) == community_id,
            col(LeaderDesignation.member_id) == member_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def led_communities(session: AsyncSession, *, member_id: int) -> frozenset[int]:
    """The groups the member leads: as a cached Telegram admin or as a designated leader."""
    admin = select(col(ChatAdmin.community_id)).where(col(ChatAdmin.member_id) == member_id)
    designated = select(col(LeaderDesignation.community_id)).where(
        col(LeaderDesignation.member_id) == member_id
    )
    rows = await session.execute(admin.union(designated))
    return frozenset(int(c) for c in rows.scalars().all())
