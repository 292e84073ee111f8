"""The web dashboard's one-time login links, its sessions, and the Mini App sign-ins used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow


class DashboardLink(SQLModel, table=True):
    """A login link given by /dashboard: only the SHA-256 of its token is kept, and it is
    used once (`used_at` is set by a conditional update) before it expires."""

    __tablename__ = "dashboard_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DashboardSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries the id (signed), so a session can be ended
    here: by its member ("sign out everywhere"), by staff, or when the member loses the
    staff or leader role that let them in."""

    __tablename__ = "dashboard_session"

    id: str = Field(primary_key=True, max_length=43)  # random, url-safe
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DashboardInitData(SQLModel, table=True):
    """Mini App initData already used to sign in, by its `hash`, kept until it would be too old
    to be accepted anyway (without Redis; with it the used set lives there)."""

    __tablename__ = "dashboard_init_data"

    digest: str = Field(primary_key=True, max_length=64)  # the initData's `hash` field
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
