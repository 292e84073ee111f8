"""Referrals: members' and campaigns' codes, who invited whom, and refused attempts.

Rewards and commission live on the ledger; these tables hold what the ledger cannot say:
which code a newcomer used, the state of each referral, and why an attempt was refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Referral.status values
REFERRAL_PENDING = "pending"  # attributed; the newcomer has not paid an order yet
REFERRAL_QUALIFIED = "qualified"  # first order paid; no reward (daily cap reached, or none due)
REFERRAL_REWARDED = "rewarded"  # first order paid and the referrer's reward posted
REFERRAL_HELD = "held"  # part of a burst of sign-ups through one code: staff review it
REFERRAL_REJECTED = "rejected"  # staff rejected it: no reward, no commission
REFERRAL_REVERSED = "reversed"  # the first order was refunded: its reward was taken back
REFERRAL_STATUSES = (
    REFERRAL_PENDING,
    REFERRAL_QUALIFIED,
    REFERRAL_REWARDED,
    REFERRAL_HELD,
    REFERRAL_REJECTED,
    REFERRAL_REVERSED,
)


class ReferralCampaign(SQLModel, table=True):
    """A staff-issued campaign: its code attributes newcomers to it instead of to a member."""

    __tablename__ = "referral_campaign"
    __table_args__ = (
        CheckConstraint("welcome_points >= 0", name="ck_referral_campaign_welcome"),
        CheckConstraint("reward_points >= 0", name="ck_referral_campaign_reward"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    name: str = Field(max_length=64)
    # points for the newcomer on joining, and on their first paid order
    welcome_points: int = Field(default=0)
    reward_points: int = Field(default=0)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ReferralCode(SQLModel, table=True):
    """A code for deep links (lower case): a member's own, or a campaign's."""

    __tablename__ = "referral_code"
    __table_args__ = (
        UniqueConstraint("code", name="uq_referral_code_code"),
        UniqueConstraint("member_id", name="uq_referral_code_member"),
        UniqueConstraint("campaign_id", name="uq_referral_code_campaign"),
        CheckConstraint(
            "(member_id IS NULL) <> (campaign_id IS NULL)", name="ck_referral_code_owner"
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    code: str = Field(max_length=32)
    member_id: int | None = Field(
        default=None,
        sa_column=Column(TelegramId, ForeignKey("member.id", name="fk_referral_code_member")),
    )
    campaign_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("referral_campaign.id", name="fk_referral_code_campaign")
        ),
    )
    # the member allows their name on group leaderboards (/leaderboard_optin); hidden by default
    show_on_leaderboard: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Referral(SQLModel, table=True):
    """One newcomer's attribution, set once: to a member (referrer) or to a campaign."""

    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint(
            "(referrer_id IS NULL) <> (campaign_id IS NULL)", name="ck_referral_source"
        ),
        CheckConstraint(
            "referrer_id IS NULL OR referrer_id <> invitee_id", name="ck_referral_self"
        ),
    )

    invitee_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_referral_invitee"),
            primary_key=True,
            autoincrement=False,
        )
    )
    referrer_id: int | None = Field(
        default=None,
        sa_column=Column(
            TelegramId, ForeignKey("member.id", name="fk_referral_referrer"), index=True
        ),
    )
    campaign_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey,
            ForeignKey("referral_campaign.id", name="fk_referral_campaign"),
            index=True,
        ),
    )
    code_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("referral_code.id", name="fk_referral_code"),
            nullable=False,
            index=True,
        )
    )
    status: str = Field(default=REFERRAL_PENDING, max_length=16, index=True)
    # the newcomer's first paid order, and the group it was placed in (for per-group stats)
    first_order_id: int | None = Field(default=None, sa_type=SurrogateKey)
    community_id: int | None = Field(default=None, sa_type=TelegramId, index=True)
    qualified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the referrer's points for it (0 until rewarded), and when
    reward_points: int = Field(default=0)
    rewarded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the staff member who approved or rejected a held referral
    reviewed_by: int | None = Field(default=None, sa_type=TelegramId)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class ReferralAttempt(SQLModel, table=True):
    """A refused attribution: who tried which code, and why it was refused."""

    __tablename__ = "referral_attempt"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(sa_type=TelegramId, index=True)
    code: str = Field(max_length=64)  # as typed, cut to 64 characters
    # malformed, unknown, expired, self, bot, cycle, already_member, already_referred
    reason: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ReferralInviteLink(SQLModel, table=True):
    """A group invite link the bot created for one code: joining the group through it
    attributes the newcomer to the code, as `/start <code>` does."""

    __tablename__ = "referral_invite_link"
    __table_args__ = (
        UniqueConstraint("invite_link", name="uq_referral_invite_link_link"),
        UniqueConstraint("code_id", "chat_id", name="uq_referral_invite_link_code_chat"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    code_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("referral_code.id", name="fk_referral_invite_link_code"),
            nullable=False,
        )
    )
    chat_id: int = Field(sa_type=TelegramId)  # the group the link invites into
    invite_link: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
