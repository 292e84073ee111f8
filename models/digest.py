"""The weekly digest staff and leaders get on Monday: who opted out, and whose digest of which
week went out (one row per person per week, the claim that makes it go once)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow


class DigestOptOut(SQLModel, table=True):
    """A staff member or leader who asked for no weekly digest (deleted when they opt back in)."""

    __tablename__ = "digest_opt_out"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class DigestSend(SQLModel, table=True):
    """The digest of one week for one person, claimed before it is sent: the primary key is the
    once-a-week guarantee across sweeps, restarts and workers."""

    __tablename__ = "digest_send"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    week: date = Field(sa_column=Column(Date, primary_key=True))  # the local Monday it is for
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
