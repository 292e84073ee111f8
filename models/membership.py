"""Paid membership: plans staff sell as monthly Telegram Stars subscriptions, each member's
membership of a plan, and every period Telegram charged for it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Membership.status values
MEMBERSHIP_ACTIVE = "active"  # paid up to `period_end`: the plan's grant holds
MEMBERSHIP_LAPSED = "lapsed"  # the period ended without a renewal: the grant is gone
MEMBERSHIP_STATUSES = (MEMBERSHIP_ACTIVE, MEMBERSHIP_LAPSED)

# Membership.canceled_by values: who stopped the renewals ("" while Telegram renews it)
CANCELED_BY_MEMBER = "member"  # the member, in Telegram's settings or from the bot
CANCELED_BY_BOT = "bot"  # the bot (a renewal of a plan staff switched off)


class MembershipPlan(SQLModel, table=True):
    """A monthly membership staff sell for Stars, granting a tier or a group level."""

    __tablename__ = "membership_plan"
    __table_args__ = (
        CheckConstraint("stars > 0", name="ck_membership_plan_stars"),
        CheckConstraint("(tier_rank IS NULL) <> (level = '')", name="ck_membership_plan_one_grant"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    name: str = Field(max_length=32)
    stars: int = Field(sa_type=BigInteger)  # the price of one 30-day period, in Stars
    # what it grants while active: a tier (its rank), or a group level (vip, core)
    tier_rank: int | None = Field(default=None)
    level: str = Field(default="", max_length=8)
    # False once staff switched it off: no longer sold, renewals refunded and cancelled
    active: bool = Field(default=True, index=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Membership(SQLModel, table=True):
    """A member's subscription to a plan: one row per member and plan, kept across lapses (a
    new subscription to the same plan takes the row over)."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("member_id", "plan_id", name="uq_membership_member_plan"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    plan_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("membership_plan.id"), nullable=False)
    )
    status: str = Field(default=MEMBERSHIP_ACTIVE, max_length=16, index=True)
    # the charge id of the subscription's first payment: Telegram's name for the subscription
    # (editUserStarSubscription takes it)
    subscription_charge_id: str = Field(max_length=128)
    period_end: datetime = Field(sa_type=UTCDateTime, index=True)
    # who stopped the renewals ("" while Telegram renews it every period)
    canceled_by: str = Field(default="", max_length=8)
    # when Telegram last said a renewal failed (None once a later period was paid)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class MembershipPeriod(SQLModel, table=True):
    """One period Telegram charged for a membership, booked once per charge."""

    __tablename__ = "membership_period"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    membership_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("membership.id"), nullable=False, index=True)
    )
    charge_id: str = Field(max_length=128, unique=True)
    stars: int = Field(sa_type=BigInteger)
    period_end: datetime = Field(sa_type=UTCDateTime)
    recurring: bool = Field(default=False)  # a renewal (not the subscription's first payment)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
