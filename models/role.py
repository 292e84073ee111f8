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


# LeaderDesignation.status values
LEADER_APPLIED = "applied"  # a Telegram admin of the group asked to lead; staff have not decided
LEADER_ACTIVE = "active"  # appointed: leads the group
LEADER_SUSPENDED = "suspended"  # appointed, but staff suspended them (reason given); reinstatable
LEADER_REMOVED = "removed"  # staff ended the appointment; only a new appointment brings it back
LEADER_DECLINED = "declined"  # staff declined the application; the candidate may apply again

# LeaderDesignation.source values: how the appointment came about
SOURCE_STAFF = "staff"  # staff appointed them with /leader_add
SOURCE_APPLICATION = "application"  # they applied with /lead and staff approved
SOURCE_CREATOR = "creator"  # the Telegram creator of a group staff added the bot to
SOURCE_MIGRATED = "migrated"  # a Telegram admin who acted as leader before appointments existed


class LeaderDesignation(SQLModel, table=True):
    """A member's appointment as leader (团长) of a group, or their application for one: only
    an active row makes a leader, whether or not the member is a Telegram admin of the group.
    One row per member and group holds the current state; the audit log holds its history."""

    __tablename__ = "leader_designation"
    __table_args__ = (UniqueConstraint("community_id", "member_id", name="uq_leader_designation"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), nullable=False, index=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    # who made the row: the staff member who appointed, the applicant themselves, or 0 (the bot)
    designated_by: int = Field(sa_type=TelegramId, nullable=False)
    designated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    status: str = Field(default=LEADER_ACTIVE, max_length=16, index=True)
    source: str = Field(default=SOURCE_STAFF, max_length=16)
    # the staff member behind the latest decision (approve, decline, suspend, reinstate, remove)
    decided_by: int | None = Field(default=None, sa_type=TelegramId)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # why staff suspended or removed the leader (the leader is told it); "" otherwise
    reason: str = Field(default="", max_length=500)
