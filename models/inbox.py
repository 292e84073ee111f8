"""Webhook updates accepted but not yet handled: the worker's durable inbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Integer, Text, text
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow


class InboxUpdate(SQLModel, table=True):
    """A raw update a webhook worker acknowledged to Telegram before handling it.

    The row is written before the worker answers 200 and deleted once the update was handled
    (or found already handled). While a worker holds it, `lease_until` says until when; a row
    whose lease ran out (its worker died or stopped) is claimed by another worker's sweep with
    a conditional UPDATE. The claim of the update id (processed_update) stays the guard against
    handling it twice."""

    __tablename__ = "webhook_inbox"

    update_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    body: str = Field(sa_column=Column(Text, nullable=False))  # the update as Telegram sent it
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # the worker holding the row and until when; NULL: free for any sweep
    owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # how many times a worker took it; a row that keeps failing is given up after a few
    attempts: int = Field(
        default=1, sa_column=Column(Integer, nullable=False, server_default=text("1"))
    )
