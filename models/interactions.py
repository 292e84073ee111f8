"""How much each member talked and tapped in each group, per day (issue #26's interaction
rate). Rows are written in batches by each process's counter (bot/interactions.py), never one
statement per update; several processes add into the same row."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Column, Date
from sqlmodel import Field, SQLModel

from models.base import TelegramId


class MemberInteraction(SQLModel, table=True):
    """A member's messages and button taps in one group on one local day of the group.

    No foreign keys: a counter may flush a member whose first update rolled back, and the
    figures join this table with `community_member` anyway."""

    __tablename__ = "member_interaction"

    community_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    member_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    # the day in the group's time zone
    day: date = Field(sa_column=Column(Date, primary_key=True, index=True))
    messages: int = Field(default=0)
    taps: int = Field(default=0)
