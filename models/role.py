"""Roles beyond member: staff granted by the owner, and group leaders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class StaffGrant(SQLModel, table=True):
    """A brand staff member, granted by the owner; revoking deletes nothing but sets revoked_at."""

    __tablename__ = "staff_grant"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    granted_by: int = Field(sa_type=TelegramId, nullable=False)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    revoked_by: int | None = Field(default=None, sa_type=TelegramId)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChatAdmin(SQLModel, table=True):
    """A cached row of a group's Telegram administrators (refreshed from getChatAdministrators)."""

    __tablename__ = "chat_admin"
    __table_args__ = (UniqueConstraint("community_id", "member_id", name="uq_chat_admin"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), nullable=False, index=True)
    )
    member_id: int = Field(sa_type=TelegramId, nullable=False)
    # creator or administrator, as Telegram reports it
    status: str = Field(max_length=16)


class LeaderDesignation(SQLModel, table=True):
    """A member designated leader (团长) of a group by staff, whether or not a Telegram admin."""

    __tablename__ = "leader_designation"
    __table_args__ = (UniqueConstraint("community_id", "member_id", name="uq_leader_designation"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), nullable=False, index=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    designated_by: int = Field(sa_type=TelegramId, nullable=False)
    designated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
