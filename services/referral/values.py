"""Referral values: the limits and formats of codes, the ledger transaction kinds, the statuses
that count, why an attribution is refused, and the plain dataclasses the verbs return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from models.referral import (
    REFERRAL_PENDING,
    REFERRAL_QUALIFIED,
    REFERRAL_REVERSED,
    REFERRAL_REWARDED,
)
from services.errors import Refused
from services.points import REASON_REFERRAL, REASON_WELCOME, transaction_kind

MAX_DEPTH = 3  # the legal ceiling, whatever the configuration says
# Telegram's rule for /start parameters; a code itself is shorter
START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CAMPAIGN_CODE = re.compile(r"^[A-Za-z0-9_-]{4,32}$")
# the deep-link parameter that opens the bot on the member's place in a group-buy (the
# "Open the bot" button under a join confirmation): never a referral or campaign code
GROUPBUY_START = re.compile(r"^gb-(\d{1,18})$", re.IGNORECASE)
# the deep-link parameter that opens a group-buy's pickup sheet for its leader (the button in
# the group when the leader never started the bot): never a referral or campaign code either
SHEET_START = re.compile(r"^sheet-(\d{1,18})$", re.IGNORECASE)
# no 0/o, 1/l/i: a code read off a poster is typed without confusion
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 8  # 31^8 ≈ 8.5 * 10^11 codes: not guessable by trying
TX_REFERRAL_COMMISSION = "referral_commission"  # pending until the refund window ends
TX_REFERRAL_COMMISSION_RELEASE = "referral_commission_release"
# a partial refund scales an order's pending commissions (the leader's and the referral
# chain's) down to what is still paid: pending accounts give back to the brand's expense
TX_COMMISSION_ADJUST = "commission_adjust"
TX_REFERRAL_POINTS = transaction_kind(REASON_REFERRAL)
TX_WELCOME_POINTS = transaction_kind(REASON_WELCOME)
DAILY_COUNTER = "referral_rewards"  # the per-referrer counter of rewarded referrals per day
# referrals whose link carries commission up the chain (held and rejected links do not)
COMMISSION_STATUSES = (REFERRAL_PENDING, REFERRAL_QUALIFIED, REFERRAL_REWARDED, REFERRAL_REVERSED)
QUALIFIED_STATUSES = (REFERRAL_QUALIFIED, REFERRAL_REWARDED)

# why an attribution was refused (ReferralAttempt.reason)
REFUSED_MALFORMED = "malformed"
REFUSED_UNKNOWN = "unknown"
REFUSED_EXPIRED = "expired"
REFUSED_SELF = "self"
REFUSED_BOT = "bot"
REFUSED_CYCLE = "cycle"
REFUSED_ALREADY_MEMBER = "already_member"
REFUSED_ALREADY_REFERRED = "already_referred"


class ReferralError(Refused):
    """A referral action that was refused; `reason` is a stable code handlers translate."""


class ReferralRefusal(StrEnum):
    """The reasons a ReferralError gives (its `reason`); the handlers map each to a message."""

    BUSY = "busy"
    BAD_NAME = "bad_name"
    BAD_POINTS = "bad_points"
    BAD_CODE = "bad_code"
    CODE_TAKEN = "code_taken"
    NOT_FOUND = "not_found"
    NOT_HELD = "not_held"


@dataclass(frozen=True, slots=True)
class ReferralRules:
    """The program's configuration, as plain values (built from the settings by handlers)."""

    reward_points: int = 100
    welcome_points: int = 0
    rates: tuple[int, ...] = (300, 100)  # basis points per level, at most MAX_DEPTH of them
    daily_limit: int = 10
    points_cap: int | None = None  # the daily cap of "referral" points per member
    burst_count: int = 5
    burst_minutes: int = 10
    timezone: str = "UTC"

    @property
    def levels(self) -> tuple[int, ...]:
        return self.rates[:MAX_DEPTH]


@dataclass(frozen=True, slots=True)
class Attribution:
    """What `/start <code>` did: attributed (maybe held), or refused with a reason."""

    refused: str | None  # a REFUSED_* reason, or None when attributed
    referrer_id: int | None = None
    campaign: str | None = None  # the campaign's name when the code was a campaign's
    held: bool = False
    welcome_points: int = 0


@dataclass(frozen=True, slots=True)
class PaidOutcome:
    """What a paid order did for referrals: the first-order reward and the commission."""

    rewarded_id: int | None = None  # who got the first-order reward (referrer or newcomer)
    reward_points: int = 0
    invitee_id: int | None = None
    commission: tuple[tuple[int, int], ...] = ()  # (member, amount) per level
    currency: str = ""


@dataclass(frozen=True, slots=True)
class HeldReferral:
    """A referral waiting for staff review."""

    invitee_id: int
    invitee_name: str
    referrer_id: int | None
    referrer_name: str
    campaign: str | None
    code: str
    created_at: datetime
    first_order_id: int | None


@dataclass(frozen=True, slots=True)
class Review:
    """A staff decision on a held referral."""

    invitee_id: int
    approved: bool
    status: str  # the referral's status after the decision
    reward_points: int = 0


@dataclass(frozen=True, slots=True)
class MemberReferrals:
    """What /referrals shows a member."""

    code: str | None
    invited: int
    qualified: int
    pending: int
    rewarded: int
    points: int  # referral reward points still standing
    commission_pending: dict[str, int]
    commission_available: dict[str, int]


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One inviter on a group's leaderboard; `name` is None unless they allowed it."""

    member_id: int
    name: str | None
    qualified: int


@dataclass
class StatsRow:
    """Program figures for one slice (all, a campaign, a community) over a period."""

    label: str
    key: int | None = None  # the campaign or community id
    invited: int = 0
    qualified: int = 0
    member_qualified: int = 0  # of `qualified`, those a member invited (not a campaign)
    referrers: int = 0
    reward_points: int = 0  # first-order rewards and welcome gifts, in points
    commission: dict[str, int] = field(default_factory=dict)

    @property
    def conversion(self) -> float | None:
        return self.qualified / self.invited if self.invited else None

    @property
    def viral_coefficient(self) -> float | None:
        """Qualified invites per referring member (campaign sign-ups have no member to count)."""
        return self.member_qualified / self.referrers if self.referrers else None


@dataclass(frozen=True, slots=True)
class CampaignView:
    id: int
    name: str
    code: str
    welcome_points: int
    reward_points: int
    expires_at: datetime | None
