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


class PickupPoint(SQLModel, table=True):
    """A place where a group's members pick their orders up (a shop, a leader's door): chosen
    per group; the group's leader and the keepers they name confirm pickups there."""

    __tablename__ = "pickup_point"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    community_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("community.id", name="fk_pickup_point_community"),
            nullable=False,
            index=True,
        )
    )
    name: str = Field(max_length=64)
    address: str = Field(default="", max_length=200)
    hours: str = Field(default="", max_length=100)  # opening hours, as the leader writes them
    active: bool = Field(default=True)  # False: removed; past orders still name it
    created_by: int = Field(sa_type=TelegramId)  # the leader or staff who added it
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PickupKeeper(SQLModel, table=True):
    """A member who confirms pickups (核销) at one point: the leader or a helper they named.
    A keeper acts at their own points only; removing one deletes the row (the audit log keeps
    who added and removed them)."""

    __tablename__ = "pickup_keeper"
    __table_args__ = (UniqueConstraint("point_id", "member_id", name="uq_pickup_keeper"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    point_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("pickup_point.id", name="fk_pickup_keeper_point"),
            nullable=False,
            index=True,
        )
    )
    member_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_pickup_keeper_member"),
            nullable=False,
            index=True,
        )
    )
    added_by: int = Field(sa_type=TelegramId)  # the leader or staff who named the keeper
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class GroupBuyPickupPoint(SQLModel, table=True):
    """A pickup point a group-buy offers: with none, a group-buy offers every active point of
    the group an order was placed in; with some, only those (of that group)."""

    __tablename__ = "groupbuy_pickup_point"
    __table_args__ = (UniqueConstraint("groupbuy_id", "point_id", name="uq_groupbuy_pickup_point"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("groupbuy.id", name="fk_groupbuy_pickup_point_groupbuy"),
            nullable=False,
            index=True,
        )
    )
    point_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("pickup_point.id", name="fk_groupbuy_pickup_point_point"),
            nullable=False,
        )
    )
