"""Alerts staff set on a number: when it crosses their threshold, staff are told, at most once a
day per alert (`fired_on` is claimed by a conditional UPDATE)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, Date, Index, text
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Alert.metric values
ALERT_ACTIVE = "active_rate"  # the last full week's active rate, in basis points
ALERT_FISSION = "fission_rate"  # the last full week's fission rate, in basis points
ALERT_REPURCHASE = "repurchase_rate"  # the last full week's repurchase rate, in basis points
ALERT_NPS = "nps"  # NPS of the last 30 days, -100..100
ALERT_REFUNDS = "refund_rate"  # orders paid in the last 30 days since refunded, basis points

# Alert.op values
ALERT_BELOW = "<"  # fires while the value is below the threshold
ALERT_ABOVE = ">"  # fires while the value is above it


class Alert(SQLModel, table=True):
    """A threshold on one number of the brand or of one group."""

    __tablename__ = "alert"
    __table_args__ = (
        # community_id is NULL for the whole brand: coalesced, so that NULLs collide too
        Index(
            "uq_alert_rule",
            "metric",
            "op",
            "threshold",
            text("coalesce(community_id, 0)"),
            unique=True,
        ),
        CheckConstraint("op IN ('<', '>')", name="ck_alert_op"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    metric: str = Field(max_length=24)
    op: str = Field(max_length=1)
    threshold: int  # basis points for a rate (4000 = 40%), the score itself for NPS
    community_id: int | None = Field(default=None, sa_type=TelegramId, nullable=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # the brand's local day it last fired on (NULL: never), and the value it saw then
    fired_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    fired_value: int | None = Field(default=None)
