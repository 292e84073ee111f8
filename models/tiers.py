"""Member tiers: the ladder staff set up, and each member's tier as last computed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
)
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class Tier(SQLModel, table=True):
    """A membership tier; rank 0 is the tier everyone starts in, higher ranks need more spend."""

    __tablename__ = "tier"
    __table_args__ = (
        CheckConstraint("rank >= 0", name="ck_tier_rank"),
        CheckConstraint("min_spend >= 0", name="ck_tier_min_spend"),
        CheckConstraint("discount_bps >= 0 AND discount_bps <= 5000", name="ck_tier_discount"),
        CheckConstraint("multiplier_pct >= 100 AND multiplier_pct <= 1000", name="ck_tier_mult"),
        CheckConstraint("birthday_points >= 0", name="ck_tier_birthday"),
    )

    rank: int = Field(sa_column=Column(SurrogateKey, primary_key=True, autoincrement=False))
    # a stable code for the default tiers (member, silver, gold, diamond), translated on display
    code: str = Field(default="", max_length=32)
    # the name staff gave it; shown as is when the tier has no default code
    name: str = Field(max_length=32)
    # paid spend over the last 12 months, in minor units of the brand's currency, to reach it
    min_spend: int = Field(default=0, sa_type=BigInteger)
    discount_bps: int = Field(default=0)  # off every order at checkout (500 = 5%)
    multiplier_pct: int = Field(default=100)  # points multiplier in percent (150 = 1.5x)
    birthday_points: int = Field(default=0)  # the birthday gift in points
    vip_access: bool = Field(default=False)  # may join group-buys in their VIP window
    member_day_double: bool = Field(default=False)  # double points on the member day


class MemberTier(SQLModel, table=True):
    """The tier a member is in now, with the spend it was computed from."""

    __tablename__ = "member_tier"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    rank: int = Field(default=0)
    spend: int = Field(default=0, sa_type=BigInteger)  # paid spend over the last 12 months
    # when the member was last told, gently, that their tier will soon drop (once a month)
    warned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
