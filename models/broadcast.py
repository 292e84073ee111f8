"""Broadcasts: promotional pushes composed by staff and delivered through an outbox.

A broadcast fans out into one `broadcast_recipient` row per chat. The rows are the schedule
(`not_before`, set by the pacing policy) and the delivery record (status, message id): a
worker claims a row with a conditional UPDATE before sending it, so a row is sent at most once
whatever the number of workers, and a restart resumes where it stopped. The promotional
history the pacing policy needs is the sent and planned rows of each chat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, translations_column, utcnow

# Broadcast.status values
BROADCAST_DRAFT = "draft"  # created, not confirmed (reserved: the wizard keeps drafts in FSM)
BROADCAST_SCHEDULED = "scheduled"  # confirmed; its rows wait for their slot
BROADCAST_RUNNING = "running"  # the first row was claimed; sending
BROADCAST_PAUSED = "paused"  # staff paused it: no row is claimed until resumed
BROADCAST_CANCELLED = "cancelled"  # staff cancelled it: unsent rows were skipped
BROADCAST_DONE = "done"  # every row is sent, skipped or failed

# Broadcast.targets values (a tag follows "tag:")
TARGET_GROUPS = "groups"  # every active community
TARGET_TAG = "tag"  # communities with a tag, as "tag:<name>"
TARGET_MEMBERS = "members"  # every member who opted in to private promotions
TARGET_EVERYONE = "everyone"  # groups and opted-in members
TARGET_TIER = "tier"  # opted-in members of a tier and above, as "tier:<rank>"
TARGET_SEGMENT = "segment"  # opted-in members in a lifecycle segment, as "segment:<name>"
# opted-in members seen in a community and not gone, as "community:<chat id>"
TARGET_COMMUNITY = "community"

# BroadcastRecipient.variant values: the arm of an A/B test a private row is in
VARIANT_A = "a"  # gets the broadcast's text
VARIANT_B = "b"  # gets text_b
VARIANT_HOLDOUT = "holdout"  # eligible but held out: recorded as skipped, never sent
VARIANTS = (VARIANT_A, VARIANT_B, VARIANT_HOLDOUT)
HOLDOUT_MAX = 50  # the largest hold-out share staff may set, in percent

# BroadcastRecipient.kind values
RECIPIENT_GROUP = "group"
RECIPIENT_PRIVATE = "private"

# BroadcastRecipient.status values
RECIPIENT_PENDING = "pending"  # waits for not_before
RECIPIENT_SENDING = "sending"  # claimed by a worker until claimed_until; in flight
RECIPIENT_SENT = "sent"  # delivered; message_id and sent_at are set
RECIPIENT_DEFERRED = "deferred"  # pushed back (pacing, 429, transient error); waits again
RECIPIENT_SKIPPED = "skipped"  # never to be sent (opted out, blocked, cancelled): see reason
RECIPIENT_FAILED = "failed"  # gave up (bad request, retries exhausted, interrupted send)

# rows a worker may still claim
CLAIMABLE = (RECIPIENT_PENDING, RECIPIENT_DEFERRED)
# rows that count as promotional posts for pacing (sent, or planned/in flight)
COUNTED = (RECIPIENT_PENDING, RECIPIENT_SENDING, RECIPIENT_DEFERRED, RECIPIENT_SENT)


# Broadcast.post_kind values
POST_PROMOTION = "promotion"  # counted against the weekly caps, labelled as a promotion
POST_CONTENT = "content"  # knowledge, stories, how-tos: no price, discount or buy link; not counted


class Broadcast(SQLModel, table=True):
    """One promotional message and whom it goes to, as staff confirmed it."""

    __tablename__ = "broadcast"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    # Telegram HTML written by staff (validated by sending them the preview)
    text: str = Field(sa_column=Column(Text, nullable=False))
    # the text in other languages, each recipient gets theirs: {locale: {"text": ...}}
    translations: dict[str, dict[str, str]] | None = Field(
        default=None, sa_column=translations_column()
    )
    photo_file_id: str | None = Field(default=None, max_length=255)
    # an optional button: a link, or a group-buy whose details it opens
    button_text: str | None = Field(default=None, max_length=64)
    button_url: str | None = Field(default=None, max_length=512)
    button_groupbuy_id: int | None = Field(default=None, sa_type=SurrogateKey)
    targets: str = Field(max_length=80)
    # when staff want it to start; each row's not_before is at or after it
    scheduled_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    status: str = Field(default=BROADCAST_SCHEDULED, max_length=12, index=True)
    created_by: int = Field(sa_type=TelegramId)
    # compliance findings at confirmation, and the reason staff gave to send anyway
    findings: int = Field(default=0)
    override_reason: str | None = Field(default=None, max_length=512)
    # sent with allow_paid_broadcast (charged in Stars) at the paid rate
    paid: bool = Field(default=False)
    # a promotion, or content that the weekly caps do not count (POST_*)
    post_kind: str = Field(
        default=POST_PROMOTION,
        sa_column=Column(String(12), nullable=False, server_default=POST_PROMOTION),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # an A/B test among its private recipients (services/abtest.py): the B text (in one
    # language, as staff wrote it) and the share of eligible members held out, in percent
    text_b: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    holdout_pct: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    # when the test's result went to the staff member who made it (claimed once)
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def is_test(self) -> bool:
        """Whether its private recipients were split into variants and/or a hold-out."""
        return bool(self.text_b) or self.holdout_pct > 0


class BroadcastRecipient(SQLModel, table=True):
    """The outbox: one chat that a broadcast goes to, and what became of it."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "chat_id", name="uq_broadcast_recipient_chat"),
        Index("ix_broadcast_recipient_due", "status", "not_before"),
        Index("ix_broadcast_recipient_history", "chat_id", "status"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    broadcast_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("broadcast.id"), nullable=False, index=True)
    )
    chat_id: int = Field(sa_type=TelegramId)
    kind: str = Field(max_length=8)
    status: str = Field(default=RECIPIENT_PENDING, max_length=10)
    # the earliest moment the pacing policy allows (moved on deferral)
    not_before: datetime = Field(sa_type=UTCDateTime, nullable=False)
    attempts: int = Field(default=0)
    # why it was skipped, deferred or failed (a SKIP_* / short error code)
    reason: str | None = Field(default=None, max_length=64)
    message_id: int | None = Field(default=None, sa_type=TelegramId)
    # the arm of the broadcast's A/B test (VARIANT_*); None: not in a test (groups, plain)
    variant: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MarketingConsent(SQLModel, table=True):
    """A member's answer to private promotions, and whether Telegram still lets us reach them.

    Kept beside `member` rather than in it: consent has its own history fields, and /forgetme
    can drop the row whole.
    """

    __tablename__ = "marketing_consent"

    member_id: int = Field(sa_column=Column(TelegramId, primary_key=True, autoincrement=False))
    opted_in: bool = Field(default=False)
    # when the member last opted in or out, and the version of the wording they saw
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    wording_version: str = Field(default="", max_length=32)
    # when a send answered 403 (the member blocked the bot); cleared when they opt in again
    unreachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CommunityTag(SQLModel, table=True):
    """A label staff put on a community to target broadcasts ("tea", "shanghai", ...)."""

    __tablename__ = "community_tag"

    community_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("community.id"), primary_key=True)
    )
    # lower case, letters, digits, _ and -
    tag: str = Field(primary_key=True, max_length=32)
