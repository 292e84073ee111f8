"""Communities: the group chats the bot serves, with their own locale and time zone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow

# Community.status values
COMMUNITY_ACTIVE = "active"  # the bot is a member of the group
COMMUNITY_LEFT = "left"  # the bot was removed; history is kept


class Community(SQLModel, table=True):
    """A group or supergroup the bot has been added to."""

    __tablename__ = "community"

    id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    title: str = Field(default="", max_length=255)
    # Telegram chat type: group or supergroup
    chat_type: str = Field(default="supergroup", max_length=16)
    locale: str = Field(default="en", max_length=16)
    timezone: str = Field(default="UTC", max_length=64)
    status: str = Field(default=COMMUNITY_ACTIVE, max_length=16)
    # the community's member day (会员日) as a day of the month, 1-28; 0 when it has none
    member_day: int = Field(default=0)
    # when the Telegram admin list was last fetched into chat_admin (None: never)
    admins_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class CommunityMember(SQLModel, table=True):
    """A member the bot has seen in a community (a message, a button, a join), and whether they
    left. Only what the bot saw: Telegram gives bots no member list of a group."""

    __tablename__ = "community_member"

    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), primary_key=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, index=True)
    )
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # when the member left or was removed (None while they are in); seen again clears it
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
