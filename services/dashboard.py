"""Who may open the web dashboard, and how they prove it.

Three ways in, all ending in the same signed session cookie:
- a one-time login link from /dashboard in private: its token is random, only its SHA-256 is
  stored, and a conditional update marks it used, so it opens one session, once, before it
  expires (several workers race for it and one wins);
- Telegram's Mini App `initData`, whose signature is checked with the bot token (HMAC-SHA256
  keyed by "WebAppData") and whose `auth_date` must be recent (bot/dashboard.py, which reads
  Telegram's format);
- the session cookie itself: "<member id>.<expiry>.<HMAC>", signed with a key derived from the
  bot token, so any worker can check it without a session store.

Every request then asks the store what the member may see now (staff: the whole brand; a
leader: the groups they lead by an active appointment, in groups the bot is still in), so
revoking staff, or suspending or removing a leader, or removing the bot from their group, takes
effect on the next request, pages and CSVs alike.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.dashboard import DashboardLink
from services.analytics import Scope
from services.role import is_staff, led_communities


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


async def redeem_link(session: AsyncSession, *, token: str, now: datetime) -> int | None:
    """The member a login token was given to, if it is unused and unexpired; it is used up
    by this call (the caller commits). None for an unknown, used or expired token."""
    if not token or len(token) > 128:
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
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    link = await session.get(DashboardLink, digest)
    return None if link is None else link.member_id


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Signs and checks session cookies with a key derived from the bot token."""

    secret: bytes

    @classmethod
    def for_token(cls, token: str) -> SessionKey:
        return cls(hmac.new(b"dashboard-session", token.encode(), hashlib.sha256).digest())

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, member_id: int, *, now: datetime, hours: int) -> str:
        expires = int((now + timedelta(hours=hours)).timestamp())
        payload = f"{member_id}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def member(self, cookie: str | None, *, now: datetime) -> int | None:
        """The member a cookie was issued to, if its signature holds and it has not expired."""
        if not cookie or cookie.count(".") != 2:
            return None
        member, expires, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{member}.{expires}")):
            return None
        try:
            member_id, until = int(member), int(expires)
        except ValueError:
            return None
        return member_id if now.timestamp() < until else None


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
