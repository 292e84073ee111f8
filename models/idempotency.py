"""Updates already handled, so that one delivered twice has one effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow


class ProcessedUpdate(SQLModel, table=True):
    """A Telegram update claimed by the transaction that handled it: its update id, and what it
    carries that Telegram never sends twice as new (`delivery_key`: a callback query id, a
    pre-checkout query id, a chat's message id), so that the same tap or message arriving again
    under a new update id is skipped too. Both are unique, so one insert claims both.

    The delivery key is a digest, so no chat or member id is kept here in clear."""

    __tablename__ = "processed_update"

    update_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    delivery_key: str | None = Field(default=None, max_length=40, unique=True)
    handled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
