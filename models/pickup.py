"""Pickup (提货): what the leader of a formed group-buy has done about its unpaid members.

The pickup sheet itself is read from the orders; what the orders cannot say is whom the
leader already reminded to pay, so a second tap on "Remind unpaid" reminds nobody twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class PickupReminder(SQLModel, table=True):
    """A member of a group-buy reminded to pay: at most one per member per group-buy."""

    __tablename__ = "pickup_reminder"
    __table_args__ = (UniqueConstraint("groupbuy_id", "member_id", name="uq_pickup_reminder"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("groupbuy.id", name="fk_pickup_reminder_groupbuy"),
            nullable=False,
            index=True,
        )
    )
    member_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_pickup_reminder_member"),
            nullable=False,
            index=True,
        )
    )
    reminded_by: int = Field(sa_type=TelegramId)  # the leader or staff who tapped the button
    reminded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
