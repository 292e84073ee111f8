"""Co-creation polls: one question asked in several groups as native Telegram polls.

A poll is posted once per target group (`poll_post`, one Telegram poll each). For a
non-anonymous poll each member holds one ballot per poll whichever copy they voted in
(`poll_ballot`, unique per poll and member), so a member in two groups counts once. For an
anonymous poll Telegram reports only counts, kept per posted copy (`poll_post.counts`).
With ambassadors first, the tagged trial ambassadors get early copies in private (`early`),
and the groups get theirs once the head start is over; early votes count in the same poll.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Poll.status values
POLL_OPEN = "open"  # posted; votes count until closes_at
POLL_CLOSED = "closed"  # stopped by the scheduler or staff; the result is final

MIN_OPTIONS = 2
MAX_OPTIONS = 12  # Telegram's limit for a poll


class Poll(SQLModel, table=True):
    """A question staff asked their communities, and how its votes count."""

    __tablename__ = "poll"
    __table_args__ = (
        CheckConstraint("points_per_vote >= 0", name="ck_poll_points"),
        CheckConstraint(
            f"option_count BETWEEN {MIN_OPTIONS} AND {MAX_OPTIONS}", name="ck_poll_options"
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    question: str = Field(max_length=300)
    option_count: int
    allows_multiple: bool = Field(default=False)
    anonymous: bool = Field(default=False)
    points_per_vote: int = Field(default=0)
    # weigh each ballot by 1 + the voter's tier rank in the weighted result (never anonymous)
    tier_weighted: bool = Field(default=False)
    closes_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    status: str = Field(default=POLL_OPEN, max_length=12, index=True)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # ambassadors first: the tagged trial ambassadors get the poll in private at once, and the
    # groups in `held_chats` get it at `first_until` (claimed once, by setting `released_at`)
    first_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    held_chats: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the pre-sale group-buy opened from the winning option (C2M), once
    presale_groupbuy_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("groupbuy.id", name="fk_poll_presale_groupbuy"), nullable=True
        ),
    )


class PollOption(SQLModel, table=True):
    """One answer of a poll, by its position (Telegram's option id)."""

    __tablename__ = "poll_option"
    __table_args__ = (UniqueConstraint("poll_id", "position", name="uq_poll_option"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    poll_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("poll.id", name="fk_poll_option_poll"),
            nullable=False,
            index=True,
        )
    )
    position: int
    text: str = Field(max_length=100)


class PollPost(SQLModel, table=True):
    """The native Telegram poll that carries a poll in one group."""

    __tablename__ = "poll_post"
    __table_args__ = (
        UniqueConstraint("poll_id", "chat_id", name="uq_poll_post"),
        UniqueConstraint("telegram_poll_id", name="uq_poll_post_telegram"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    poll_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("poll.id", name="fk_poll_post_poll"),
            nullable=False,
            index=True,
        )
    )
    chat_id: int = Field(sa_type=TelegramId)
    telegram_poll_id: str = Field(max_length=64)
    message_id: int = Field(sa_type=TelegramId)
    # anonymous polls: the voter count of each option as Telegram last reported it
    counts: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    stopped: bool = Field(default=False)
    # an ambassador's early copy in their private chat (ambassadors first), not a group's
    early: bool = Field(default=False)


class PollBallot(SQLModel, table=True):
    """A member's current answer to a non-anonymous poll, from whichever copy they last used.

    `options` is a bit set of option positions (bit i = option i), at most 12 bits.
    """

    __tablename__ = "poll_ballot"
    __table_args__ = (
        UniqueConstraint("poll_id", "member_id", name="uq_poll_ballot"),
        CheckConstraint("options > 0", name="ck_poll_ballot_options"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    poll_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("poll.id", name="fk_poll_ballot_poll"),
            nullable=False,
            index=True,
        )
    )
    member_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_poll_ballot_member"),
            nullable=False,
            index=True,
        )
    )
    chat_id: int = Field(sa_type=TelegramId)  # the group whose copy holds this ballot
    options: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
