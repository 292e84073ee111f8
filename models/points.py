"""The daily caps on points: how many points of each kind a member got on a day.

Points themselves live on the ledger (member_points accounts)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    String,
)
from sqlmodel import Field, SQLModel

from models.base import TelegramId


class PointsDay(SQLModel, table=True):
    """Points a member received for one reason on one day, held under the reason's daily cap."""

    __tablename__ = "points_day"
    __table_args__ = (CheckConstraint("total >= 0", name="ck_points_day_total"),)

    member_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    reason: str = Field(sa_column=Column(String(32), primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True))
    total: int = Field(default=0, sa_type=BigInteger)
