"""The suggestion box: what members suggest, and staff's answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Suggestion.status values
SUGGESTION_NEW = "new"  # waiting for staff
SUGGESTION_ADOPTED = "adopted"  # staff adopted it: the author was told and rewarded
SUGGESTION_DECLINED = "declined"  # staff declined it: the author was told

MAX_SUGGESTION = 500  # characters of a suggestion
MAX_REPLY = 200  # characters of staff's reply


class Suggestion(SQLModel, table=True):
    """A member's idea for the brand, sent with /suggest."""

    __tablename__ = "suggestion"
    __table_args__ = (Index("ix_suggestion_member_created", "member_id", "created_at"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(
        sa_column=Column(
            TelegramId, ForeignKey("member.id", name="fk_suggestion_member"), nullable=False
        )
    )
    # the group it was sent from; None when sent in private
    community_id: int | None = Field(default=None, sa_type=TelegramId, index=True)
    text: str = Field(max_length=MAX_SUGGESTION)
    status: str = Field(default=SUGGESTION_NEW, max_length=12, index=True)
    reply: str = Field(default="", max_length=MAX_REPLY)
    decided_by: int | None = Field(default=None, sa_type=TelegramId)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
