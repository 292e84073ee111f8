"""The web dashboard's one-time login links (sessions themselves are signed cookies)."""

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
