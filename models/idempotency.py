"""Updates already handled, so that one delivered twice has one effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow


class ProcessedUpdate(SQLModel, table=True):
    """A Telegram update id claimed by the transaction that handled it."""

    __tablename__ = "processed_update"

    update_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    handled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
