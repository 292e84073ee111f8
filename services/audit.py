"""The audit log of privileged actions, allowed and refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.audit import AuditEntry
from models.community import Community
from services.paging import Page, count_of, window


@dataclass(frozen=True, slots=True)
class AuditView:
    """One audit row as plain values."""

    at: datetime
    actor_id: int
    chat_id: int | None
    chat_title: str | None  # the group's title when the bot knows the group
    action: str
    allowed: bool
    required_role: str
    detail: str


async def record_action(
    session: AsyncSession,
    *,
    actor_id: int,
    chat_id: int | None,
    action: str,
    allowed: bool,
    now: datetime,
    required_role: str = "",
    detail: str = "",
) -> None:
    """Append who tried what, where, and whether it was allowed (committed by the caller).

    `now` is the caller's clock (the one injected into handlers and jobs), so `/audit 7d`
    and the audit's times agree with every other time the bot keeps."""
    session.add(
        AuditEntry(
            at=now,
            actor_id=actor_id,
            chat_id=chat_id,
            action=action[:64],
            allowed=allowed,
            required_role=required_role[:16],
            detail=detail[:512],
        )
    )


async def audit_page(
    session: AsyncSession,
    *,
    limit: int = 20,
    offset: int = 0,
    actor_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Page[AuditView]:
    """A page of the audit rows, newest first, by one actor and within [start, end) when
    given, and how many there are."""
    limit, offset = window(limit, offset)
    query = select(AuditEntry)
    if actor_id is not None:
        query = query.where(col(AuditEntry.actor_id) == actor_id)
    if start is not None:
        query = query.where(col(AuditEntry.at) >= start)
    if end is not None:
        query = query.where(col(AuditEntry.at) < end)
    total = await count_of(session, query)
    ordered = query.order_by(col(AuditEntry.id).desc()).limit(limit).offset(offset)
    rows = (await session.execute(ordered)).scalars().all()
    chats = {row.chat_id for row in rows if row.chat_id is not None}
    titles: dict[int, str] = {}
    if chats:
        found = await session.execute(
            select(col(Community.id), col(Community.title)).where(col(Community.id).in_(chats))
        )
        titles = {int(ident): str(title) for ident, title in found.all() if title}
    views = [
        AuditView(
            at=row.at,
            actor_id=row.actor_id,
            chat_id=row.chat_id,
            chat_title=titles.get(row.chat_id) if row.chat_id is not None else None,
            action=row.action,
            allowed=row.allowed,
            required_role=row.required_role,
            detail=row.detail,
        )
        for row in rows
    ]
    return Page(views, offset, total)
