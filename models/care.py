"""Member care rules: what a segment of members is given, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
)
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class CareRule(SQLModel, table=True):
    """What staff want to happen when a member enters a segment: a message, points, a coupon."""

    __tablename__ = "care_rule"
    __table_args__ = (CheckConstraint("points >= 0", name="ck_care_rule_points"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    to_segment: str = Field(max_length=16)
    from_segment: str | None = Field(default=None, max_length=16)  # None: from any segment
    text: str = Field(default="", max_length=1024)  # staff's words, sent as plain text
    points: int = Field(default=0, sa_type=BigInteger)
    coupon_template_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("coupon_template.id", name="fk_care_rule_coupon_template_id")
        ),
    )
    active: bool = Field(default=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # an A/B test (services/abtest.py): a second text, and the share of members entering the
    # segment who get nothing from the rule, in percent, to measure what it wins back
    text_b: str = Field(
        default="", sa_column=Column(String(1024), nullable=False, server_default="")
    )
    holdout_pct: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
