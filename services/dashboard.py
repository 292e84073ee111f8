"""Who may open the web dashboard, and how they prove it.

Three ways in, all ending in the same session:
- a one-time login link from /dashboard in private: its token is random, only its SHA-256 is
  stored, and a conditional update marks it used, so it opens one session, once, before it
  expires (several workers race for it and one wins). A token that is not of the shape the bot
  gives is refused before the store is asked, and an unknown one is only read, never written;
- Telegram's Mini App `initData`, whose signature is checked with the bot token (HMAC-SHA256
  keyed by "WebAppData") and whose `auth_date` must be recent (bot/web/dashboard.py, which reads
  Telegram's format); each signed initData signs in once (its `hash` joins a used set kept
  until it would be too old anyway: in Redis when configured, else `dashboard_init_data`);
- the session: a row of `dashboard_session` whose id the cookie carries as
  "<session id>.<expiry>.<HMAC>", signed with a key derived from the bot token, so a forged or
  malformed cookie is refused without a query. A session ends when it expires, when its member
  signs out (one browser, or everywhere), when staff sign the member out, and when the member
  loses the staff role or is suspended or removed as a leader (services/role/).

Every request then asks the store what the member may see now (staff: the whole brand; a
leader: the groups they lead by an active appointment, in groups the bot is still in), so
revoking staff, or suspending or removing a leader, or removing the bot from their group, takes
effect on the next request, pages and CSVs alike.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.dashboard import DashboardInitData, DashboardLink, DashboardSession
from services.analytics import Scope
from services.db import insert_for, rowcount, table_of
from services.role import is_staff, led_communities

# a login token as issue_link makes it (token_urlsafe(24)); anything else is refused unread
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


def well_formed_link_token(token: str) -> bool:
    """Whether the text has the shape of a login token the bot gives (no store is asked)."""
    return LINK_TOKEN.fullmatch(token) is not None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_link(
    session: AsyncSession, *, member_id: int, now: datetime, minutes: int
) -> tuple[str, datetime]:
    """A fresh login token for the member and when it expires (the caller commits)."""
    token = secrets.token_urlsafe(24)
    expires = now + timedelta(minutes=minutes)
    session.add(
        DashboardLink(
            token_hash=_digest(token), member_id=member_id, created_at=now, expires_at=expires
        )
    )
    return token, expires


async def link_usable(session: AsyncSession, *, token: str, now: datetime) -> bool:
    """Whether a login token is well formed, known, unused and unexpired: a read only, so an
    unknown token never costs a write (redeem_link still decides who wins it)."""
    if not well_formed_link_token(token):
        return False
    found = await session.execute(
        select(col(DashboardLink.token_hash)).where(
            col(DashboardLink.token_hash) == _digest(token),
            col(DashboardLink.used_at).is_(None),
            col(DashboardLink.expires_at) > now,
        )
    )
    return found.first() is not None


async def redeem_link(session: AsyncSession, *, token: str, now: datetime) -> int | None:
    """The member a login token was given to, if it is unused and unexpired; it is used up
    by this call (the caller commits). None for a malformed, unknown, used or expired token."""
    if not well_formed_link_token(token):
        return None
    digest = _digest(token)
    claimed = await session.execute(
        update(DashboardLink)
        .where(
            col(DashboardLink.token_hash) == digest,
            col(DashboardLink.used_at).is_(None),
            col(DashboardLink.expires_at) > now,
        )
        .values(used_at=now)
    )
    if rowcount(claimed) != 1:
        return None
    link = await session.get(DashboardLink, digest)
    return None if link is None else link.member_id


async def use_init_data(
    session: AsyncSession, *, digest: str, until: datetime, now: datetime
) -> bool:
    """Mark signed Mini App initData (by its `hash`) used until `until`: True the first time,
    False when it was used already (a conditional insert, so two workers cannot both accept
    it). Forgets the marks that expired (the caller commits)."""
    await session.execute(delete(DashboardInitData).where(col(DashboardInitData.expires_at) <= now))
    inserted = await session.execute(
        insert_for(session, table_of(DashboardInitData))
        .values(digest=digest, expires_at=until)
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    return bool(rowcount(inserted))


async def prune_expired(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    """Deletes login links, sessions and used initData past their expiry (the retention job
    runs it): an expired row opens nothing, so none is kept. How many of each went."""
    pruned: dict[str, int] = {}
    for model in (DashboardLink, DashboardSession, DashboardInitData):
        done = await session.execute(delete(model).where(col(model.expires_at) <= now))
        pruned[table_of(model).name] = rowcount(done)
    return pruned


PICKUP_SIGNED = "pickup:"  # what a keeper page's token signs ahead of its payload
_TOKEN = re.compile(r"[0-9]{1,19}\.[0-9]{1,12}\.[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Signs and checks session cookies with a key derived from the bot token."""

    secret: bytes

    @classmethod
    def for_token(cls, token: str) -> SessionKey:
        return cls(hmac.new(b"dashboard-session", token.encode(), hashlib.sha256).digest())

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def cookie(self, session_id: str, expires: datetime) -> str:
        payload = f"{session_id}.{int(expires.timestamp())}"
        return f"{payload}.{self._sign(payload)}"

    def pickup_token(self, member_id: int, expires: datetime) -> str:
        """The keeper page's token: the member its initData named, until `expires`; signed
        apart from session cookies (a cookie is no token, nor a token a cookie)."""
        payload = f"{member_id}.{int(expires.timestamp())}"
        return f"{payload}.{self._sign(PICKUP_SIGNED + payload)}"

    def pickup_member(self, token: str | None, *, now: datetime) -> int | None:
        """The member a keeper page's token names, if its signature holds and it has not
        expired; no store is asked."""
        if not token or len(token) > 200 or not _TOKEN.fullmatch(token):
            return None
        member_id, expires, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{PICKUP_SIGNED}{member_id}.{expires}")):
            return None
        if now.timestamp() >= int(expires):
            return None
        return int(member_id)

    def session_id(self, cookie: str | None, *, now: datetime) -> str | None:
        """The session a cookie names, if its signature holds and it has not expired; no
        store is asked, so a forged or malformed cookie costs nothing."""
        if not cookie or len(cookie) > 200 or not cookie.isascii() or cookie.count(".") != 2:
            return None
        session_id, expires, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{session_id}.{expires}")):
            return None
        if not expires.isdigit() or now.timestamp() >= int(expires):
            return None
        return session_id


async def open_session(
    session: AsyncSession, *, key: SessionKey, member_id: int, now: datetime, hours: int
) -> str:
    """A new session for the member: the cookie that names it (the caller commits)."""
    session_id = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    session.add(
        DashboardSession(id=session_id, member_id=member_id, created_at=now, expires_at=expires)
    )
    return key.cookie(session_id, expires)


async def session_member(session: AsyncSession, *, session_id: str, now: datetime) -> int | None:
    """The member of an open session: not revoked, not expired; None otherwise."""
    found = await session.execute(
        select(col(DashboardSession.member_id)).where(
            col(DashboardSession.id) == session_id,
            col(DashboardSession.revoked_at).is_(None),
            col(DashboardSession.expires_at) > now,
        )
    )
    return found.scalars().first()


async def end_session(session: AsyncSession, *, session_id: str, now: datetime) -> bool:
    """Sign one browser out; False when the session was over already (the caller commits)."""
    ended = await session.execute(
        update(DashboardSession)
        .where(col(DashboardSession.id) == session_id, col(DashboardSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return bool(rowcount(ended))


async def end_member_sessions(session: AsyncSession, *, member_id: int, now: datetime) -> int:
    """Sign the member out everywhere: how many open sessions ended (the caller commits)."""
    ended = await session.execute(
        update(DashboardSession)
        .where(
            col(DashboardSession.member_id) == member_id,
            col(DashboardSession.revoked_at).is_(None),
            col(DashboardSession.expires_at) > now,
        )
        .values(revoked_at=now)
    )
    return rowcount(ended)


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A signed-in member as staff see it on the sessions page."""

    member_id: int
    sessions: int  # how many browsers
    since: datetime  # the oldest
    until: datetime  # the last to expire


async def open_sessions(
    session: AsyncSession, *, now: datetime, limit: int = 200
) -> list[OpenSession]:
    """Who is signed in to the dashboard now, most recent sign-in first."""
    rows = await session.execute(
        select(
            col(DashboardSession.member_id),
            func.count(),
            func.min(col(DashboardSession.created_at)),
            func.max(col(DashboardSession.expires_at)),
        )
        .where(col(DashboardSession.revoked_at).is_(None), col(DashboardSession.expires_at) > now)
        .group_by(col(DashboardSession.member_id))
        .order_by(func.max(col(DashboardSession.created_at)).desc())
        .limit(limit)
    )
    return [OpenSession(int(m), int(n), since, until) for m, n, since, until in rows.all()]


@dataclass(frozen=True, slots=True)
class Reader:
    """A signed-in dashboard reader and what they may see."""

    member_id: int
    scope: Scope  # None: the whole brand (staff); otherwise the groups they lead

    @property
    def staff(self) -> bool:
        return self.scope is None


async def reader_for(
    session: AsyncSession, *, member_id: int, owner_ids: frozenset[int]
) -> Reader | None:
    """What the member may read now: staff and owners everything, a leader the groups they are
    appointed to (not suspended or removed, the bot still there); None for anyone else."""
    if member_id in owner_ids or await is_staff(session, member_id):
        return Reader(member_id, None)
    led = await led_communities(session, member_id=member_id)
    return Reader(member_id, led) if led else None
