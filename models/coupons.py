"""Coupon templates staff create, and the coupons members hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# CouponTemplate.kind values
COUPON_FIXED = "fixed"  # an amount off, in minor units of the template's currency
COUPON_PERCENT = "percent"  # basis points off the order (1000 = 10%)

# MemberCoupon.status values
COUPON_HELD = "held"
COUPON_USED = "used"


class CouponTemplate(SQLModel, table=True):
    """A kind of coupon staff issue: what it takes off, when, for whom."""

    __tablename__ = "coupon_template"
    __table_args__ = (
        CheckConstraint("value > 0", name="ck_coupon_value"),
        CheckConstraint("min_spend >= 0", name="ck_coupon_min_spend"),
        CheckConstraint("per_member_limit > 0", name="ck_coupon_limit"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    code: str = Field(max_length=32, unique=True)  # upper case, what members see and type
    kind: str = Field(max_length=8)
    value: int = Field(sa_type=BigInteger)  # minor units (fixed) or basis points (percent)
    currency: str = Field(max_length=8)  # orders in this currency only
    min_spend: int = Field(default=0, sa_type=BigInteger)  # the order total it needs
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    per_member_limit: int = Field(default=1)  # how many one member may ever hold
    min_rank: int = Field(default=0)  # the lowest tier that may use it
    active: bool = Field(default=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class MemberCoupon(SQLModel, table=True):
    """One coupon a member holds; used at most once, by one order."""

    __tablename__ = "member_coupon"
    __table_args__ = (UniqueConstraint("member_id", "source", name="uq_member_coupon_source"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    template_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("coupon_template.id"), nullable=False)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    status: str = Field(default=COUPON_HELD, max_length=8)
    order_id: int | None = Field(default=None, sa_type=BigInteger)  # the order that used it
    # why the member has it, e.g. grant:<staff id>, reward:<redemption id>; unique per member
    source: str = Field(max_length=64)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
