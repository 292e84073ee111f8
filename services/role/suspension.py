"""Staff suspend, reinstate or remove a leader (with a reason), and list a group's leaders."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import COMMUNITY_ACTIVE, Community
from models.role import (
    LEADER_ACTIVE,
    LEADER_APPLIED,
    LEADER_REMOVED,
    LEADER_SUSPENDED,
    LeaderDesignation,
)
from services.paging import Page, count_of, window
from services.role.leaders import LeaderError, LeaderView, _leader_view
from services.role.staff import _sign_out_of_dashboard


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
    return await _end_leading(
        session,
        member_id=member_id,
        community_id=community_id,
        from_statuses=(LEADER_ACTIVE,),
        status=LEADER_SUSPENDED,
        staff_id=staff_id,
        reason=reason,
        now=now,
    )


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
    return await _end_leading(
        session,
        member_id=member_id,
        community_id=community_id,
        from_statuses=(LEADER_ACTIVE, LEADER_SUSPENDED),
        status=LEADER_REMOVED,
        staff_id=staff_id,
        reason=reason,
        now=now,
    )


async def _end_leading(
    session: AsyncSession,
    *,
    member_id: int,
    community_id: int | None,
    from_statuses: tuple[str, ...],
    status: str,
    staff_id: int,
    reason: str,
    now: datetime,
) -> list[int]:
    """Suspend or remove: the appointments in `from_statuses` get `status` and the reason, and
    a member it changed is signed out of the dashboard; the groups changed."""
    changed = await _change_leader(
        session,
        member_id=member_id,
        community_id=community_id,
        from_statuses=from_statuses,
        values={
            "status": status,
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
