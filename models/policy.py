"""Promotions posted outside the broadcast outbox: the group-buy cards the promotion policy
(services/policy.py) let through, one row per group, so the weekly cap and the gap count them
beside the broadcast rows; the cards waiting for their first allowed moment (`scheduled_post`);
and one lock row per group that serializes the policy's decisions for that group."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime

# PromotionPost.kind values (services.policy.KIND_*)
POST_DROP = "drop"  # a staff drop's card
POST_GROUPBUY = "groupbuy"  # a group-buy card a staff member opened in a group
POST_PRESALE = "presale"  # a pre-sale card of a poll's winner
POST_LEADER = "leader"  # a leader's own group-buy in their group: the leader cap, not the group's


class PromotionPost(SQLModel, table=True):
    """One group-buy card posted in one group as a promotion."""

    __tablename__ = "promotion_post"
    __table_args__ = (Index("ix_promotion_post_chat", "chat_id", "posted_at"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    # the group chat (a community id, never a member)
    chat_id: int = Field(sa_type=TelegramId)
    kind: str = Field(max_length=12)
    groupbuy_id: int = Field(sa_type=SurrogateKey)
    posted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


# ScheduledPost.status values
SCHEDULED_PENDING = "pending"  # waits for `due_at`; counts against the cap at that moment
SCHEDULED_POSTING = "posting"  # claimed by a worker, the card is being posted
SCHEDULED_POSTED = "posted"  # the card is in the group (a PromotionPost row counts it now)
SCHEDULED_DROPPED = "dropped"  # not posted: the group-buy closed or the group left first
SCHEDULED_FAILED = "failed"  # Telegram refused the card, or a worker died while posting it
SCHEDULED_WAITING = (SCHEDULED_PENDING, SCHEDULED_POSTING)  # not posted yet, counted at due_at


class ScheduledPost(SQLModel, table=True):
    """A group-buy card to post in one group at the first moment the promotion policy allows:
    at once (due now, posted after the commit) or later (quiet hours, the gap, the cap)."""

    __tablename__ = "scheduled_post"
    __table_args__ = (
        UniqueConstraint("groupbuy_id", "chat_id", name="uq_scheduled_post"),
        Index("ix_scheduled_post_due", "status", "due_at"),
        Index("ix_scheduled_post_chat", "chat_id", "due_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    # the group chat (a community id, never a member)
    chat_id: int = Field(sa_type=TelegramId)
    kind: str = Field(max_length=12)  # POST_*: what sends the card
    groupbuy_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("groupbuy.id"), nullable=False)
    )
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # why it waits past the moment it was asked for (services.policy.WAIT_*), None when not
    reason: str | None = Field(default=None, max_length=12)
    status: str = Field(default=SCHEDULED_PENDING, max_length=8)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PromotionLock(SQLModel, table=True):
    """One row per group, written by every promotion decision for the group before it reads the
    group's history: the row lock makes two decisions for one group take turns, so two staff
    posting at the same moment cannot both take the cap's last place (whatever the workers)."""

    __tablename__ = "promotion_lock"

    # the group chat (a community id, never a member)
    chat_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    decided_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
