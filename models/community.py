"""Communities: the group chats the bot serves, with their own locale and time zone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey
from sqlmodel import Field, SQLModel

from models.base import TelegramId, UTCDateTime, utcnow

# Community.status values
COMMUNITY_ACTIVE = "active"  # the bot is a member of the group
COMMUNITY_LEFT = "left"  # the bot was removed; history is kept

# Community.approval values: whether the brand lets the group do business (group-buys, drops,
# points, check-ins, referral rewards, commission). Independent of `status`: a group keeps
# its approval while the bot is out of it, and has it again when the bot is added back.
APPROVAL_PENDING = "pending"  # added by someone who is not staff: waiting for staff's review
APPROVAL_APPROVED = "approved"  # added by staff or the owner, or approved by staff: open
APPROVAL_DECLINED = "declined"  # staff declined it: nothing commercial happens there
APPROVAL_SUSPENDED = "suspended"  # approved once, then suspended by staff (open group-buys
# cancelled and refunded); staff may reinstate it

# Community.level values: the layer a group belongs to (普通群 / VIP群 / 核心粉丝群)
LEVEL_OPEN = "open"  # anyone may join (the default)
LEVEL_VIP = "vip"  # joins go through join requests, decided by `join_rule`
LEVEL_CORE = "core"  # the inner circle: joins go through join requests too
LEVELS = (LEVEL_OPEN, LEVEL_VIP, LEVEL_CORE)

# Community.join_rule values: who may join a VIP or core group ("" for an open group)
JOIN_TIER = "tier"  # members of `join_min_rank` or a higher tier
JOIN_INVITE = "invite"  # members staff invited to the group (group_invite rows)
JOIN_PAID = "paid"  # members with an active paid membership of the level (or above)


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
    approval: str = Field(default=APPROVAL_PENDING, max_length=16, index=True)
    # who added the bot to the group last (None: the bot first saw the group otherwise)
    added_by: int | None = Field(default=None, sa_type=TelegramId)
    # the staff member (or owner) who last decided `approval`, and when (None while pending)
    approval_by: int | None = Field(default=None, sa_type=TelegramId)
    approval_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the community's member day (会员日) as a day of the month, 1-28; 0 when it has none
    member_day: int = Field(default=0)
    # the group's layer (LEVELS) and, for VIP and core, who may join and the least tier rank
    level: str = Field(default=LEVEL_OPEN, max_length=8, index=True)
    join_rule: str = Field(default="", max_length=8)
    join_min_rank: int = Field(default=0)
    # members Telegram counted when the bot last asked (getChatMemberCount), and when
    member_count: int = Field(default=0)
    member_count_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # True once the group's leader and staff were warned it nears GROUP_SIZE_LIMIT; cleared
    # when it falls back under the warning line, so they are warned once per crossing
    size_warned: bool = Field(default=False)
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


class GroupInvite(SQLModel, table=True):
    """A member staff invited to a VIP or core group that admits by invitation."""

    __tablename__ = "group_invite"

    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), primary_key=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, index=True)
    )
    invited_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class BuyersGroup(SQLModel, table=True):
    """The buyers' group of an area: a member's first paid order in a group of that area brings
    them a private invitation to it. `area` is "#tag" (the groups with that tag), an IANA time
    zone (the groups in that zone), or "" (every other group)."""

    __tablename__ = "buyers_group"

    area: str = Field(primary_key=True, max_length=64)
    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), nullable=False)
    )
    set_by: int = Field(sa_type=TelegramId)
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class BuyersInvite(SQLModel, table=True):
    """A member invited to a buyers' group after their first paid order: once per member."""

    __tablename__ = "buyers_invite"

    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), primary_key=True, autoincrement=False)
    )
    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), nullable=False)
    )
    order_id: int = Field(sa_type=BigInteger)  # the first paid order that brought it
    invited_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
