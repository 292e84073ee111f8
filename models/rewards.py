"""The redeem catalog: rewards, their redemptions, and physical rewards to hand over."""

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

# Reward.kind values
REWARD_PHYSICAL = "physical"  # a thing staff hand over: redeeming it opens a fulfilment task
REWARD_COUPON = "coupon"  # a coupon put in the member's /coupons at once: nothing to hand over


class Reward(SQLModel, table=True):
    """Something members can redeem points for; stock None means unlimited."""

    __tablename__ = "reward"
    __table_args__ = (
        CheckConstraint("cost > 0", name="ck_reward_cost"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="ck_reward_stock"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    title: str = Field(max_length=128)
    cost: int = Field(sa_type=BigInteger)  # in points
    stock: int | None = Field(default=None)
    # redeeming this reward gives the member a coupon of this template (None: a perk or gift)
    coupon_template_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("coupon_template.id", name="fk_reward_coupon_template_id")
        ),
    )
    # what the member receives (REWARD_PHYSICAL or REWARD_COUPON), which says what happens next
    kind: str = Field(default=REWARD_PHYSICAL, max_length=16)
    active: bool = Field(default=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Redemption(SQLModel, table=True):
    """A member redeemed a reward; staff hand it over and mark it delivered."""

    __tablename__ = "redemption"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    reward_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("reward.id"), nullable=False, index=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    cost: int = Field(sa_type=BigInteger)
    delivered: bool = Field(default=False)  # set when its fulfilment task is handed over
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# Fulfilment.status values
FULFILMENT_OPEN = "open"  # the member waits for the reward; staff see it in /fulfil
FULFILMENT_HANDED_OVER = "handed_over"  # staff handed it over (who and when are kept)


class Fulfilment(SQLModel, table=True):
    """A physical reward staff owe a member: one task per redemption, open until handed over."""

    __tablename__ = "fulfilment"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    redemption_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("redemption.id"), nullable=False, unique=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    title: str = Field(max_length=128)  # the reward's title when it was redeemed
    status: str = Field(default=FULFILMENT_OPEN, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    handed_over_by: int | None = Field(default=None, sa_type=TelegramId)  # the staff member
    handed_over_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
