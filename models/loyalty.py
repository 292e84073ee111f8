"""Daily check-ins: one row per member and day, with the points it gave."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class CheckIn(SQLModel, table=True):
    """One daily check-in: at most one per member per local day, whatever the concurrency."""

    __tablename__ = "checkin"
    __table_args__ = (UniqueConstraint("member_id", "day", name="uq_checkin_day"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    day: date = Field(sa_column=Column(Date, nullable=False))  # the member's local day
    streak: int = Field(default=1)  # consecutive days ending with this one
    points: int = Field(default=0)  # what it earned, bonus included
    chat_id: int = Field(sa_type=TelegramId)  # where the member checked in
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
