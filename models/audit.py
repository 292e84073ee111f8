"""The audit log: who tried which privileged action, where, when, and whether it was allowed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    """One privileged action attempted by a user; rows are only ever added."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor_id: int = Field(sa_type=TelegramId, nullable=False, index=True)
    # the chat where it happened (the user's id for private chats)
    chat_id: int | None = Field(default=None, sa_type=TelegramId)
    # a stable action name such as "staff.grant" or "community.settings"
    action: str = Field(max_length=64)
    allowed: bool
    # the role the action needed, and free detail (target user, new value, refusal reason)
    required_role: str = Field(default="", max_length=16)
    detail: str = Field(default="", max_length=512)
