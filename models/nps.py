"""NPS surveys: the answers members give, and whom the bot asked when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

MAX_COMMENT = 500  # characters of an NPS comment


class NpsSurvey(SQLModel, table=True):
    """One NPS question asked of a member, and their answer once they give it."""

    __tablename__ = "nps_survey"
    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 10)", name="ck_nps_score"),
        Index("ix_nps_survey_member_asked", "member_id", "asked_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(
        sa_column=Column(
            TelegramId, ForeignKey("member.id", name="fk_nps_survey_member"), nullable=False
        )
    )
    # the group of the picked-up order that prompted it (or of the member's latest order when
    # staff or the member asked); None when unknown
    community_id: int | None = Field(default=None, sa_type=TelegramId, index=True)
    asked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    score: int | None = Field(default=None)
    comment: str = Field(default="", max_length=MAX_COMMENT)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NpsAsked(SQLModel, table=True):
    """When a member was last asked for NPS: one row per member, moved forward only by a
    conditional upsert once the interval has passed, so two pickups at once ask once."""

    __tablename__ = "nps_asked"

    member_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_nps_asked_member"),
            primary_key=True,
            autoincrement=False,
        )
    )
    asked_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
