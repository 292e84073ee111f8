"""Each member's lifecycle segment (new, active, loyal, at risk, churned)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    ForeignKey,
)
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime

# MemberSegment.segment values: the lifecycle of a member, recomputed daily
SEGMENT_NEW = "new"  # joined recently, no paid order yet
SEGMENT_ACTIVE = "active"  # a paid order recently
SEGMENT_LOYAL = "loyal"  # several paid orders recently
SEGMENT_AT_RISK = "at_risk"  # the last order is getting old (or none since joining a while ago)
SEGMENT_CHURNED = "churned"  # no order for a long time
SEGMENTS = (SEGMENT_NEW, SEGMENT_ACTIVE, SEGMENT_LOYAL, SEGMENT_AT_RISK, SEGMENT_CHURNED)


class MemberSegment(SQLModel, table=True):
    """The lifecycle segment a member is in now, and since when."""

    __tablename__ = "member_segment"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    segment: str = Field(max_length=16, index=True)
    since: datetime = Field(sa_type=UTCDateTime, nullable=False)
