"""Becoming a leader: applying and staff's decision, appointing a member, and the creator of
a group staff added the bot to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.role import (
    LEADER_ACTIVE,
    LEADER_APPLIED,
    LEADER_DECLINED,
    LEADER_REMOVED,
    LEADER_SUSPENDED,
    SOURCE_APPLICATION,
    SOURCE_CREATOR,
    SOURCE_STAFF,
    LeaderDesignation,
)
from services.audit import record_action
from services.db import insert_for, rowcount, table_of
from services.member import MemberView, UserInfo, record_member
from services.role.staff import AdminInfo, is_staff, sync_admins


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
