"""Limits staff set on one leader's trade (leader credit): how many group-buys they may have
open at once, and the largest order they may mark paid in cash by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow


class LeaderLimit(SQLModel, table=True):
    """A leader's limits, one row per leader; a None column is no limit of that kind. Staff
    change it with /leader_limit (audited); the services opening group-buys and marking orders
    paid read it under a row lock."""

    __tablename__ = "leader_limit"
    __table_args__ = (
        CheckConstraint(
            "max_open_groupbuys IS NULL OR max_open_groupbuys >= 0", name="ck_leader_limit_gbs"
        ),
        CheckConstraint(
            "max_cash_order IS NULL OR max_cash_order > 0", name="ck_leader_limit_cash_order"
        ),
    )

    member_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_leader_limit_member"),
            primary_key=True,
            autoincrement=False,
        )
    )
    # group-buys the leader may have open (taking joins) at once; None: no limit
    max_open_groupbuys: int | None = Field(default=None)
    # the largest order total, in minor units of `currency`, the leader may mark paid by hand
    # (cash they collect and owe the brand); None: no limit
    max_cash_order: int | None = Field(default=None, sa_type=BigInteger)
    currency: str = Field(default="", max_length=8)
    set_by: int = Field(sa_type=TelegramId, nullable=False)
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
