"""A/B tests of promotions: who a care rule reached, in which arm, and what it gave them.

A broadcast's arms live on its outbox rows (`broadcast_recipient.variant`). A care rule acts
on one member at a time, when they enter a segment: each time it does (or holds the member
out), one `care_exposure` row records the moment, the arm and the points and coupon given, so
what the rule won back and what it cost can be counted against its hold-out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime


class CareExposure(SQLModel, table=True):
    """One member a care rule acted on (or held out), once per segment entry."""

    __tablename__ = "care_exposure"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    rule_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("care_rule.id", name="fk_care_exposure_rule_id"),
            nullable=False,
            index=True,
        )
    )
    member_id: int = Field(sa_type=TelegramId, index=True)
    arm: str = Field(max_length=8)  # models.broadcast VARIANT_A / VARIANT_B / VARIANT_HOLDOUT
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    points: int = Field(default=0, sa_type=BigInteger)  # points the rule awarded this time
    # the member_coupon the rule granted this time, if any
    coupon_id: int | None = Field(default=None, sa_type=SurrogateKey)
    # "<rule id>:<member>:<segment>:<day>": one exposure per transition, whatever the reruns
    key: str = Field(sa_column=Column(String(96), nullable=False, unique=True))
