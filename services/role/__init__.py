"""Roles: owner (config), staff (granted by the owner), leaders (appointed by staff).

A group's Telegram admins are only candidates for leading it: one applies (/lead) and staff
approve, or staff appoint a member outright, or the creator of a group that staff added the bot
to is appointed at once (a setting). Staff suspend, reinstate or remove any leader."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.community import COMMUNITY_ACTIVE, Community
from models.role import (
    LEADER_ACTIVE,
    LEADER_APPLIED,
    LEADER_DECLINED,
    LEADER_REMOVED,
    LEADER_SUSPENDED,
    SOURCE_APPLICATION,
    SOURCE_CREATOR,
    SOURCE_STAFF,
    ChatAdmin,
    LeaderDesignation,
    StaffGrant,
)
from services.audit import record_action
from services.db import insert_for, rowcount, table_of
from services.member import MemberView, UserInfo, get_member, record_member
from services.paging import Page, count_of, window


class Role(IntEnum):
    """What a user may do; each role includes everything below it."""

    MEMBER = 0  # anyone the bot sees
    LEADER = 1  # runs one group (团长): appointed by staff, not suspended or removed
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
    """End the member's staff role, and their dashboard sessions; False when they were not
    staff."""
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


class LeaderError(Exception):
    """A leader change that cannot be made; `reason` is a stable code handlers translate and
    `leader` the row as it stands (None when there is none)."""

    def __init__(self, reason: str, leader: LeaderView | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.leader = leader


@dataclass(frozen=True, slots=True)
class LeaderView:
    """A member's appointment as leader of a group, or their application for one."""

    id: int
    community_id: int
    member_id: int
    status: str  # models.role LEADER_* values
    source: str  # models.role SOURCE_* values
    designated_at: datetime
    decided_by: int | None
    reason: str


def _leader_view(row: LeaderDesignation) -> LeaderView:
    assert row.id is not None
    return LeaderView(
        id=row.id,
        community_id=row.community_id,
        member_id=row.member_id,
        status=row.status,
        source=row.source,
        designated_at=row.designated_at,
        decided_by=row.decided_by,
        reason=row.reason,
    )


async def get_leader(
    session: AsyncSession, *, community_id: int, member_id: int
) -> LeaderView | None:
    """The member's appointment or application in the group, whatever its state."""
    row = (
        await session.execute(
            select(LeaderDesignation)
            .where(
                col(LeaderDesignation.community_id) == community_id,
                col(LeaderDesignation.member_id) == member_id,
            )
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    return _leader_view(row) if row is not None else None


async def get_leader_by_id(session: AsyncSession, leader_id: int) -> LeaderView | None:
    """An appointment or application by its id (a staff card's button carries it)."""
    row = (
        await session.execute(
            select(LeaderDesignation)
            .where(col(LeaderDesignation.id) == leader_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    return _leader_view(row) if row is not None else None


async def _claim_row(
    session: AsyncSession,
    *,
    community_id: int,
    member_id: int,
    values: dict[str, Any],
    replaces: Iterable[str],
) -> LeaderView | None:
    """Write `values` as the member's row in the group: a new row, or over a row whose status
    is one of `replaces` (a conditional write, so two at once make one). None when a row in
    another state stands in the way."""
    statement = (
        insert_for(session, table_of(LeaderDesignation))
        .values(community_id=community_id, member_id=member_id, **values)
        .on_conflict_do_nothing(index_elements=["community_id", "member_id"])
    )
    inserted = await session.execute(statement)
    if not rowcount(inserted):
        updated = await session.execute(
            update(LeaderDesignation)
            .where(
                col(LeaderDesignation.community_id) == community_id,
                col(LeaderDesignation.member_id) == member_id,
                col(LeaderDesignation.status).in_(list(replaces)),
            )
            .values(**values)
        )
        if not rowcount(updated):
            return None
    return await get_leader(session, community_id=community_id, member_id=member_id)


async def apply_to_lead(
    session: AsyncSession, *, community_id: int, member_id: int, now: datetime
) -> LeaderView:
    """A candidate (the caller checked they are a Telegram admin of the group) asks to lead it.

    A first application, or one after a decline or a removal, waits for staff. Raises
    LeaderError: `leader` (they lead it already), `applied` (waiting already), `suspended`."""
    claimed = await _claim_row(
        session,
        community_id=community_id,
        member_id=member_id,
        values={
            "status": LEADER_APPLIED,
            "source": SOURCE_APPLICATION,
            "designated_by": member_id,
            "designated_at": now,
            "decided_by": None,
            "decided_at": None,
            "reason": "",
        },
        replaces=(LEADER_DECLINED, LEADER_REMOVED),
    )
    if claimed is not None:
        return claimed
    current = await get_leader(session, community_id=community_id, member_id=member_id)
    reason = {LEADER_ACTIVE: "leader", LEADER_SUSPENDED: "suspended"}.get(
        current.status if current else "", "applied"
    )
    raise LeaderError(reason, current)


async def decide_application(
    session: AsyncSession, *, leader_id: int, approve: bool, staff_id: int, now: datetime
) -> LeaderView:
    """Staff approve (appoint) or decline an application, once: a second decision, from the
    same card or another staff member's, raises LeaderError `decided` with the row as it is;
    `not_found` for an id that is no application."""
    decided = await session.execute(
        update(LeaderDesignation)
        .where(
            col(LeaderDesignation.id) == leader_id,
            col(LeaderDesignation.status) == LEADER_APPLIED,
        )
        .values(
            status=LEADER_ACTIVE if approve else LEADER_DECLINED,
            decided_by=staff_id,
            decided_at=now,
        )
    )
    current = await get_leader_by_id(session, leader_id)
    if current is None:
        raise LeaderError("not_found")
    if not rowcount(decided):
        raise LeaderError("decided", current)
    return current


async def appoint_leader(
    session: AsyncSession,
    *,
    community_id: int,
    member_id: int,
    appointed_by: int,
    now: datetime,
    source: str = SOURCE_STAFF,
) -> LeaderView:
    """Staff appoint the member leader of the group (a pending application is approved by it).

    Raises LeaderError `leader` when they lead it already, `suspended` when they are suspended
    there (reinstate them instead)."""
    claimed = await _claim_row(
        session,
        community_id=community_id,
        member_id=member_id,
        values={
            "status": LEADER_ACTIVE,
            "source": source,
            "designated_by": appointed_by,
            "designated_at": now,
            "decided_by": appointed_by,
            "decided_at": now,
            "reason": "",
        },
        replaces=(LEADER_APPLIED, LEADER_DECLINED, LEADER_REMOVED),
    )
    if claimed is not None:
        return claimed
    current = await get_leader(session, community_id=community_id, member_id=member_id)
    raise LeaderError(
        "suspended" if current and current.status == LEADER_SUSPENDED else "leader", current
    )


async def appoint_creator(
    session: AsyncSession, *, community_id: int, member_id: int, appointed_by: int, now: datetime
) -> LeaderView | None:
    """The group's Telegram creator leads it, staff having added the bot: appointed unless
    staff already decided about them there (removed, suspended or declined stays so). None
    when nothing changed."""
    return await _claim_row(
        session,
        community_id=community_id,
        member_id=member_id,
        values={
            "status": LEADER_ACTIVE,
            "source": SOURCE_CREATOR,
            "designated_by": appointed_by,
            "designated_at": now,
            "decided_by": appointed_by,
            "decided_at": now,
            "reason": "",
        },
        replaces=(LEADER_APPLIED,),
    )


async def creator_leads_group(
    session: AsyncSession,
    *,
    community_id: int,
    admins: list[AdminInfo],
    creator: UserInfo | None,
    appointed_by: int,
    owner_ids: frozenset[int],
    default_locale: str,
    now: datetime,
) -> MemberView | None:
    """Staff (`appointed_by`) added the bot to the group, whose Telegram admins are `admins`
    (cached here) and whose creator is `creator`: the creator is appointed its leader, and the
    appointment audited. None when nobody was appointed: no creator known, a creator who is
    staff (they lead every group), or one staff already decided about here."""
    await sync_admins(session, community_id=community_id, admins=admins)
    if creator is None:
        return None
    leader = await record_member(session, user=creator, default_locale=default_locale)
    if creator.id in owner_ids or await is_staff(session, creator.id):
        return None
    appointed = await appoint_creator(
        session,
        community_id=community_id,
        member_id=creator.id,
        appointed_by=appointed_by,
        now=now,
    )
    if appointed is None:
        return None
    await record_action(
        session,
        actor_id=appointed_by,
        chat_id=community_id,
        action="leader.appointed",
        allowed=True,
        now=now,
        required_role="staff",
        detail=f"{creator.id}: creator",
    )
    return leader


async def _change_leader(
    session: AsyncSession,
    *,
    member_id: int,
    community_id: int | None,
    from_statuses: Iterable[str],
    values: dict[str, Any],
) -> list[int]:
    """Move the member's appointments (in one group, or in all) from one state to another;
    the groups whose row changed, by id."""
    where = [
        col(LeaderDesignation.member_id) == member_id,
        col(LeaderDesignation.status).in_(list(from_statuses)),
    ]
    if community_id is not None:
        where.append(col(LeaderDesignation.community_id) == community_id)
    changed = await session.execute(
        update(LeaderDesignation)
        .where(*where)
        .values(**values)
        .returning(col(LeaderDesignation.community_id))
    )
    return sorted(int(c) for c in changed.scalars().all())


REASON_LIMIT = 500  # characters of a suspension or removal reason


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise LeaderError("no_reason")
    if len(reason) > REASON_LIMIT:
        raise LeaderError("reason_too_long")
    return reason


async def suspend_leader(
    session: AsyncSession,
    *,
    member_id: int,
    community_id: int | None,
    staff_id: int,
    reason: str,
    now: datetime,
) -> list[int]:
    """Suspend the member as leader of the group (None: of every group they lead), and end
    their dashboard sessions; the groups it changed. Raises LeaderError `no_reason`,
    `reason_too_long`."""
    changed = await _change_leader(
        session,
        member_id=member_id,
        community_id=community_id,
        from_statuses=(LEADER_ACTIVE,),
        values={
            "status": LEADER_SUSPENDED,
            "decided_by": staff_id,
            "decided_at": now,
            "reason": _reason(reason),
        },
    )
    if changed:
        await _sign_out_of_dashboard(session, member_id=member_id, now=now)
    return changed


async def reinstate_leader(
    session: AsyncSession, *, member_id: int, community_id: int | None, staff_id: int, now: datetime
) -> list[int]:
    """Lift the member's suspension in the group (None: in every group); the groups changed."""
    return await _change_leader(
        session,
        member_id=member_id,
        community_id=community_id,
        from_statuses=(LEADER_SUSPENDED,),
        values={"status": LEADER_ACTIVE, "decided_by": staff_id, "decided_at": now, "reason": ""},
    )


async def remove_leader(
    session: AsyncSession,
    *,
    member_id: int,
    community_id: int | None,
    staff_id: int,
    reason: str,
    now: datetime,
) -> list[int]:
    """End the member's appointment, active or suspended, in the group (None: in every group),
    and their dashboard sessions; the groups changed. Raises LeaderError `no_reason`,
    `reason_too_long`."""
    changed = await _change_leader(
        session,
        member_id=member_id,
        community_id=community_id,
        from_statuses=(LEADER_ACTIVE, LEADER_SUSPENDED),
        values={
            "status": LEADER_REMOVED,
            "decided_by": staff_id,
            "decided_at": now,
            "reason": _reason(reason),
        },
    )
    if changed:
        await _sign_out_of_dashboard(session, member_id=member_id, now=now)
    return changed


async def leaders_of(
    session: AsyncSession, *, community_id: int | None, limit: int, offset: int = 0
) -> Page[LeaderView]:
    """A page of the leaders, suspended leaders and open applications of the group (None: of
    every group the bot is in), by group, then state, then since when; and how many there are."""
    limit, offset = window(limit, offset)
    statement = (
        select(LeaderDesignation)
        .join(Community, col(Community.id) == col(LeaderDesignation.community_id))
        .where(
            col(LeaderDesignation.status).in_([LEADER_ACTIVE, LEADER_SUSPENDED, LEADER_APPLIED]),
            col(Community.status) == COMMUNITY_ACTIVE,
        )
        .order_by(
            col(Community.title),
            col(LeaderDesignation.community_id),
            col(LeaderDesignation.status),
            col(LeaderDesignation.designated_at),
            col(LeaderDesignation.id),
        )
        .execution_options(populate_existing=True)
    )
    if community_id is not None:
        statement = statement.where(col(LeaderDesignation.community_id) == community_id)
    total = await count_of(session, statement)
    rows = await session.execute(statement.limit(limit).offset(offset))
    return Page([_leader_view(row) for row in rows.scalars()], offset, total)


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
