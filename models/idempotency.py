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


class ProcessedDelivery(SQLModel, table=True):
    """What an update carries that Telegram never sends twice as new (a callback query id, a
    pre-checkout query id, a chat's message id), claimed by the transaction that handled it:
    the same tap or message arriving again under a new update id is then skipped too.

    The key is a digest, so no chat or member id is kept here in clear."""

    __tablename__ = "processed_delivery"

    key: str = Field(primary_key=True, max_length=40)
    handled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
