"""Staff and group admins: granting and revoking the staff role, staff's ids and locales,
and the admins of a group as Telegram last reported them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.community import Community
from models.role import ChatAdmin, StaffGrant
from services.db import rowcount
from services.member import forget_staff, get_member, known_staff


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
    """True while the member holds an unrevoked staff grant (read with the update's member when
    it is theirs, services.community.record_context)."""
    known = known_staff(session, member_id)
    if known is not None:
        return known
    found = await session.execute(
        select(col(StaffGrant.member_id)).where(
            col(StaffGrant.member_id) == member_id, col(StaffGrant.revoked_at).is_(None)
        )
    )
    return found.first() is not None


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


async def chat_admin_status(
    session: AsyncSession, *, member_id: int, community_id: int
) -> str | None:
    """The member's status in the group's cached Telegram admin list (creator or
    administrator), or None when it does not hold them."""
    found = await session.execute(
        select(col(ChatAdmin.status)).where(
            col(ChatAdmin.community_id) == community_id, col(ChatAdmin.member_id) == member_id
        )
    )
    return found.scalars().first()


async def is_chat_admin(session: AsyncSession, *, member_id: int, community_id: int) -> bool:
    """True when the group's cached Telegram admin list holds the member (a candidate)."""
    return (
        await chat_admin_status(session, member_id=member_id, community_id=community_id) is not None
    )


async def grant_staff(session: AsyncSession, *, member_id: int, granted_by: int) -> bool:
    """Make the member staff; False when they already were."""
    forget_staff(session)
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
    """End the member's staff role, and their dashboard sessions; False when they were not
    staff."""
    forget_staff(session)
    now = utcnow()
    result = await session.execute(
        update(StaffGrant)
        .where(
            col(StaffGrant.member_id) == member_id,
            col(StaffGrant.revoked_at).is_(None),
        )
        .values(revoked_at=now, revoked_by=revoked_by)
    )
    if not rowcount(result):
        return False
    await _sign_out_of_dashboard(session, member_id=member_id, now=now)
    return True


async def _sign_out_of_dashboard(session: AsyncSession, *, member_id: int, now: datetime) -> None:
    """A member who loses a role is signed out of the web dashboard everywhere (if another
    role still lets them in, they sign in again)."""
    # imported here: services.dashboard reads roles from this module
    from services.dashboard import end_member_sessions

    await end_member_sessions(session, member_id=member_id, now=now)


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
