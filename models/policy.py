"""Promotions posted outside the broadcast outbox: the group-buy cards the promotion policy
(services/policy.py) let through, one row per group, so the weekly cap and the gap count them
beside the broadcast rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
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
