"""The audit log of privileged actions, allowed and refused."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.audit import AuditEntry
from models.community import Community
from models.member import Member
from services.paging import Page, count_of, window
from services.validation import shown

# characters written out as escapes in the audit log: line breaks and every other control
# character (C0, C1), and the invisible format characters (bidi overrides and isolates, ...),
# so no input can start a line of its own or turn a line around (the zero-width joiners that
# emoji are made of stay as they are)
_KEPT_FORMAT = frozenset("\u200c\u200d")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """The text on one line: control and invisible format characters as escapes (a newline
    as \\n, others as \\uXXXX). Idempotent: escaped text has none left to escape."""
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(_escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    category = unicodedata.category(ch)
    if category in ("Cc", "Zl", "Zp") or (category == "Cf" and ch not in _KEPT_FORMAT):
        code = ord(ch)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return ch


@dataclass(frozen=True, slots=True)
class AuditView:
    """One audit row as plain values."""

    at: datetime
    actor_id: int
    actor_name: str | None  # the member's first name (else @username) when the bot knows one
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
    Every text is stored on one line: control characters are written as escapes.

    `now` is the caller's clock (the one injected into handlers and jobs), so `/audit 7d`
    and the audit's times agree with every other time the bot keeps."""
    session.add(
        AuditEntry(
            at=now,
            actor_id=actor_id,
            chat_id=chat_id,
            action=escape_controls(action)[:64],
            allowed=allowed,
            required_role=escape_controls(required_role)[:16],
            detail=escape_controls(detail)[:512],
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
    names = await _names(session, {row.actor_id for row in rows})
    views = [
        AuditView(
            at=row.at,
            actor_id=row.actor_id,
            actor_name=names.get(row.actor_id),
            chat_id=row.chat_id,
            chat_title=escape_controls(titles[row.chat_id]) if row.chat_id in titles else None,
            # rows written before the escaping are escaped on the way out
            action=escape_controls(row.action),
            allowed=row.allowed,
            required_role=escape_controls(row.required_role),
            detail=escape_controls(row.detail),
        )
        for row in rows
    ]
    return Page(views, offset, total)


async def _names(session: AsyncSession, member_ids: set[int]) -> dict[int, str]:
    """The names the members go by (first name, else @username), of those who have one."""
    if not member_ids:
        return {}
    found = await session.execute(
        select(col(Member.id), col(Member.first_name), col(Member.username)).where(
            col(Member.id).in_(member_ids)
        )
    )
    names: dict[int, str] = {}
    for ident, first_name, username in found.all():
        name = shown(first_name or "") or (f"@{username}" if username else "")
        if name:
            names[int(ident)] = name
    return names
