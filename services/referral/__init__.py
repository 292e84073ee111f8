"""Referrals: codes, attribution once per newcomer, rewards on the first paid order,
commission up the chain, burst review, and what members and staff read about it.

Rules (../shared/DESIGN.md, "Referrals"): one referrer per member, set once, never self,
never a cycle, never a bot; the referrer is rewarded when the invitee's first order is paid;
commission goes at most `depth` levels up, and never more than three.

"Already a member" means the bot had recorded the person before the update that carries the
code: they had started the bot, or written or acted in one of its groups. Only someone whose
very first contact with the bot is `/start <code>` can be attributed.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.community import Community, CommunityMember
from models.ledger import (
    ACCOUNT_BRAND_COMMISSION_EXPENSE,
    ACCOUNT_MEMBER_COMMISSION,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_POINTS,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.order import ORDER_FULFILLED, ORDER_PAID, Order
from models.referral import (
    REFERRAL_HELD,
    REFERRAL_PENDING,
    REFERRAL_QUALIFIED,
    REFERRAL_REJECTED,
    REFERRAL_REVERSED,
    REFERRAL_REWARDED,
    Referral,
    ReferralAttempt,
    ReferralCampaign,
    ReferralCode,
    ReferralInviteLink,
)
from models.role import LEADER_ACTIVE, LeaderDesignation
from services.commission import CommissionHold, release_held
from services.community import is_open_clause
from services.db import dialect_name, insert_for, rowcount, table_of
from services.errors import Refused
from services.ledger import AccountRef, Posting, balances, post
from services.member import get_member
from services.paging import Page, count_of, window
from services.points import (
    MAX_POINTS,
    REASON_REFERRAL,
    REASON_WELCOME,
    award,
    reserve_daily,
    transaction_kind,
)
from services.validation import shown

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


def new_code() -> str:
    """A fresh random member code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def groupbuy_start_parameter(groupbuy_id: int) -> str:
    """The /start parameter that opens the bot on the member's place in a group-buy."""
    return f"gb-{groupbuy_id}"


def groupbuy_of_start_parameter(parameter: str) -> int | None:
    """The group-buy a /start parameter made by `groupbuy_start_parameter` names, or None."""
    match = GROUPBUY_START.match(parameter.strip())
    return int(match.group(1)) if match else None  # 18 digits: always a 64-bit id


def sheet_start_parameter(groupbuy_id: int) -> str:
    """The /start parameter that opens a group-buy's pickup sheet in private."""
    return f"sheet-{groupbuy_id}"


def sheet_of_start_parameter(parameter: str) -> int | None:
    """The group-buy whose sheet a /start parameter made by `sheet_start_parameter` names."""
    match = SHEET_START.match(parameter.strip())
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class GroupToJoin:
    """A group offered to a newcomer, and whom to ask when the bot cannot make a link."""

    community_id: int
    title: str
    leader_name: str | None  # its leader (the longest serving), None when it has none


@dataclass(frozen=True, slots=True)
class GroupsToJoin:
    """Where a newcomer from a referral can go, and whose invite links take them there."""

    link_owner: int  # the inviter (their links count for them), or the newcomer of a campaign
    of_inviter: bool  # True: the inviter's own group (one); False: open groups to choose from
    groups: tuple[GroupToJoin, ...]


async def _referrer_of(session: AsyncSession, member_id: int) -> int | None:
    found = await session.execute(
        select(col(Referral.referrer_id)).where(col(Referral.invitee_id) == member_id)
    )
    referrer = found.scalar_one_or_none()
    return int(referrer) if referrer is not None else None


async def _leader_name(session: AsyncSession, community_id: int) -> str | None:
    found = await session.execute(
        select(col(LeaderDesignation.member_id))
        .where(
            col(LeaderDesignation.community_id) == community_id,
            col(LeaderDesignation.status) == LEADER_ACTIVE,
        )
        .order_by(col(LeaderDesignation.designated_at), col(LeaderDesignation.id))
        .limit(1)
    )
    leader_id = found.scalar_one_or_none()
    leader = await get_member(session, int(leader_id)) if leader_id is not None else None
    return leader.display_name if leader is not None else None


async def _open_groups_of(session: AsyncSession, member_id: int, *, limit: int) -> list[Any]:
    """Open groups the member is in (as far as the bot saw): those they lead first, then the
    one they were last seen in."""
    leads = (
        select(col(LeaderDesignation.community_id))
        .where(
            col(LeaderDesignation.member_id) == member_id,
            col(LeaderDesignation.status) == LEADER_ACTIVE,
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(col(Community.id), col(Community.title))
        .join(CommunityMember, col(CommunityMember.community_id) == col(Community.id))
        .where(
            col(CommunityMember.member_id) == member_id,
            col(CommunityMember.left_at).is_(None),
            is_open_clause(),
        )
        .order_by(
            col(Community.id).in_(leads).desc(),
            col(CommunityMember.last_seen_at).desc(),
            col(Community.id),
        )
        .limit(limit)
    )
    return list(rows.all())


async def groups_to_join(
    session: AsyncSession, *, invitee_id: int, limit: int = 10
) -> GroupsToJoin:
    """Where a newcomer can go: the open group their inviter is in, or else the brand's open
    groups (by title, those the newcomer is not in already)."""
    referrer_id = await _referrer_of(session, invitee_id)
    rows = await _open_groups_of(session, referrer_id, limit=1) if referrer_id else []
    of_inviter = bool(rows)
    if not rows:
        already = select(col(CommunityMember.community_id)).where(
            col(CommunityMember.member_id) == invitee_id, col(CommunityMember.left_at).is_(None)
        )
        found = await session.execute(
            select(col(Community.id), col(Community.title))
            .where(is_open_clause(), col(Community.id).not_in(already))
            .order_by(col(Community.title), col(Community.id))
            .limit(limit)
        )
        rows = list(found.all())
    groups = [
        GroupToJoin(int(chat_id), str(title), await _leader_name(session, int(chat_id)))
        for chat_id, title in rows
    ]
    return GroupsToJoin(referrer_id or invitee_id, of_inviter, tuple(groups))


async def group_to_join(
    session: AsyncSession, *, invitee_id: int, community_id: int
) -> tuple[int, GroupToJoin] | None:
    """The open group a newcomer chose, with whose link takes them there; None when the group
    is not open (any more)."""
    found = await session.execute(
        select(col(Community.title)).where(col(Community.id) == community_id, is_open_clause())
    )
    title = found.scalar_one_or_none()
    if title is None:
        return None
    owner = await _referrer_of(session, invitee_id) or invitee_id
    return owner, GroupToJoin(community_id, str(title), await _leader_name(session, community_id))


def invite_link_name(code: str) -> str:
    """The name the bot gives a group invite link it creates for a code (at most 32 chars)."""
    return f"ref-{code}"[:32]


async def group_invite_link(session: AsyncSession, *, member_id: int, chat_id: int) -> str | None:
    """The invite link into the group the bot already created for the member's code, if any."""
    return (
        await session.execute(
            select(col(ReferralInviteLink.invite_link))
            .join(ReferralCode, col(ReferralCode.id) == col(ReferralInviteLink.code_id))
            .where(
                col(ReferralCode.member_id) == member_id,
                col(ReferralInviteLink.chat_id) == chat_id,
            )
        )
    ).scalar_one_or_none()


async def save_group_invite_link(
    session: AsyncSession, *, member_id: int, chat_id: int, invite_link: str
) -> str:
    """Keep the link created for the member's code in the group; returns the link that holds
    (the one saved first when two requests raced)."""
    code = await member_code(session, member_id)
    code_id = (
        await session.execute(select(col(ReferralCode.id)).where(col(ReferralCode.code) == code))
    ).scalar_one()
    await session.execute(
        insert_for(session, table_of(ReferralInviteLink))
        .values(
            code_id=code_id, chat_id=chat_id, invite_link=invite_link[:255], created_at=utcnow()
        )
        .on_conflict_do_nothing()
    )
    saved = await group_invite_link(session, member_id=member_id, chat_id=chat_id)
    assert saved is not None
    return saved


async def code_of_invite_link(
    session: AsyncSession, *, chat_id: int, invite_link: str
) -> str | None:
    """The code behind an invite link the bot created in the group, or None for other links."""
    return (
        await session.execute(
            select(col(ReferralCode.code))
            .join(ReferralInviteLink, col(ReferralInviteLink.code_id) == col(ReferralCode.id))
            .where(
                col(ReferralInviteLink.chat_id) == chat_id,
                col(ReferralInviteLink.invite_link) == invite_link,
            )
        )
    ).scalar_one_or_none()


async def member_code(session: AsyncSession, member_id: int) -> str:
    """The member's referral code, created on first use (one per member, even concurrently)."""
    for _attempt in range(10):
        existing = (
            await session.execute(
                select(col(ReferralCode.code)).where(col(ReferralCode.member_id) == member_id)
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing
        # a concurrent request or a (rare) code collision makes the insert do nothing: look again
        created = (
            await session.execute(
                insert_for(session, table_of(ReferralCode))
                .values(code=new_code(), member_id=member_id, show_on_leaderboard=False)
                .on_conflict_do_nothing()
                .returning(col(ReferralCode.code))
            )
        ).scalar_one_or_none()
        if created is not None:
            return created
    raise ReferralError(ReferralRefusal.BUSY, str(member_id))


async def create_campaign(
    session: AsyncSession,
    *,
    name: str,
    created_by: int,
    welcome_points: int = 0,
    reward_points: int = 0,
    expires_at: datetime | None = None,
    code: str | None = None,
) -> CampaignView:
    """A named campaign with its own code (given, or generated) and reward rules."""
    name = " ".join(name.split())
    if not name or len(name) > 64:
        raise ReferralError(ReferralRefusal.BAD_NAME)
    for points in (welcome_points, reward_points):
        if not 0 <= points <= MAX_POINTS:
            raise ReferralError(ReferralRefusal.BAD_POINTS)
    if code is not None and (
        not CAMPAIGN_CODE.match(code) or GROUPBUY_START.match(code) or SHEET_START.match(code)
    ):
        raise ReferralError(ReferralRefusal.BAD_CODE)
    campaign = ReferralCampaign(
        name=name,
        welcome_points=welcome_points,
        reward_points=reward_points,
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(campaign)
    await session.flush()
    assert campaign.id is not None
    wanted = code.lower() if code is not None else None
    for _attempt in range(10):
        value = wanted or new_code()
        inserted = await session.execute(
            insert_for(session, table_of(ReferralCode))
            .values(code=value, campaign_id=campaign.id, show_on_leaderboard=False)
            .on_conflict_do_nothing()
            .returning(col(ReferralCode.id))
        )
        if inserted.scalar_one_or_none() is not None:
            return CampaignView(campaign.id, name, value, welcome_points, reward_points, expires_at)
        if wanted is not None:
            raise ReferralError(ReferralRefusal.CODE_TAKEN, wanted)
    raise ReferralError(ReferralRefusal.BUSY)


async def _chain(
    session: AsyncSession, member_id: int, *, statuses: tuple[str, ...] | None
) -> list[int]:
    """The referrers above a member, nearest first (a guard stops at any repeated member)."""
    chain: list[int] = []
    seen = {member_id}
    current = member_id
    for _level in range(64):
        query = select(col(Referral.referrer_id)).where(col(Referral.invitee_id) == current)
        if statuses is not None:
            query = query.where(col(Referral.status).in_(statuses))
        above = (await session.execute(query)).scalar_one_or_none()
        if above is None or above in seen:
            break
        chain.append(above)
        seen.add(above)
        current = above
    return chain


async def _refuse(
    session: AsyncSession, *, member_id: int, code: str, reason: str, now: datetime
) -> Attribution:
    session.add(ReferralAttempt(member_id=member_id, code=code[:64], reason=reason, created_at=now))
    return Attribution(refused=reason)


async def attribute(
    session: AsyncSession,
    *,
    member_id: int,
    code: str,
    is_bot: bool,
    first_seen: bool,
    now: datetime,
    rules: ReferralRules,
) -> Attribution:
    """Attribute a newcomer to the code's member or campaign, once; refusals are recorded.

    A burst (`rules.burst_count` sign-ups through one code within `rules.burst_minutes`) is
    held for staff review, with the rest of the burst: no welcome gift, no reward, no commission
    until approved.
    """
    if not START_PARAMETER.match(code):
        return await _refuse(
            session, member_id=member_id, code=code, reason=REFUSED_MALFORMED, now=now
        )
    found = select(ReferralCode).where(col(ReferralCode.code) == code.lower())
    if dialect_name(session) == "postgresql":
        # sign-ups through one code queue on its row, so each burst count below sees the
        # sign-ups committed before it (SQLite transactions are serialised: BEGIN IMMEDIATE)
        found = found.with_for_update()
    row = (await session.execute(found)).scalar_one_or_none()
    if row is None:
        return await _refuse(
            session, member_id=member_id, code=code, reason=REFUSED_UNKNOWN, now=now
        )
    campaign = await session.get(ReferralCampaign, row.campaign_id) if row.campaign_id else None
    if campaign is not None and campaign.expires_at is not None and campaign.expires_at <= now:
        return await _refuse(
            session, member_id=member_id, code=code, reason=REFUSED_EXPIRED, now=now
        )
    reason = None
    if row.member_id == member_id:
        reason = REFUSED_SELF
    elif is_bot:
        reason = REFUSED_BOT
    elif await session.get(Referral, member_id) is not None:
        reason = REFUSED_ALREADY_REFERRED
    elif row.member_id is not None and member_id in await _chain(
        session, row.member_id, statuses=None
    ):
        reason = REFUSED_CYCLE
    elif not first_seen:
        reason = REFUSED_ALREADY_MEMBER
    if reason is not None:
        return await _refuse(session, member_id=member_id, code=code, reason=reason, now=now)
    assert row.id is not None
    inserted = await session.execute(
        insert_for(session, table_of(Referral))
        .values(
            invitee_id=member_id,
            referrer_id=row.member_id,
            campaign_id=row.campaign_id,
            code_id=row.id,
            status=REFERRAL_PENDING,
            reward_points=0,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(col(Referral.invitee_id))
    )
    if inserted.scalar_one_or_none() is None:  # a concurrent /start attributed them first
        return await _refuse(
            session, member_id=member_id, code=code, reason=REFUSED_ALREADY_REFERRED, now=now
        )
    since = now - timedelta(minutes=rules.burst_minutes)
    recent = (
        await session.execute(
            select(func.count()).where(
                col(Referral.code_id) == row.id, col(Referral.created_at) > since
            )
        )
    ).scalar_one()
    held = int(recent) >= rules.burst_count
    if held:
        # the whole burst waits for staff, not only the sign-up that revealed it
        await session.execute(
            update(Referral)
            .where(
                col(Referral.code_id) == row.id,
                col(Referral.created_at) > since,
                col(Referral.status) == REFERRAL_PENDING,
            )
            .values(status=REFERRAL_HELD)
        )
    welcome = 0
    if not held:
        welcome = await _welcome(
            session, member_id=member_id, campaign=campaign, now=now, rules=rules
        )
    return Attribution(
        refused=None,
        referrer_id=row.member_id,
        campaign=campaign.name if campaign else None,
        held=held,
        welcome_points=welcome,
    )


def _day(now: datetime, rules: ReferralRules) -> date:
    return now.astimezone(ZoneInfo(rules.timezone)).date()


async def _welcome(
    session: AsyncSession,
    *,
    member_id: int,
    campaign: ReferralCampaign | None,
    now: datetime,
    rules: ReferralRules,
) -> int:
    points = campaign.welcome_points if campaign is not None else rules.welcome_points
    if points <= 0:
        return 0
    grant = await award(
        session,
        member_id=member_id,
        reason=REASON_WELCOME,
        points=points,
        key=f"referral:{member_id}:welcome",
        day=_day(now, rules),
        memo="welcome gift for joining through an invitation",
        at=now,
    )
    return grant.points


async def _reward(
    session: AsyncSession, *, referral: Referral, order_id: int, now: datetime, rules: ReferralRules
) -> tuple[int | None, int]:
    """Post the first-order reward once: to the referrer (within their daily limit of rewarded
    referrals and the daily points cap) or, for a campaign, to the newcomer. Returns who got
    how many points; the status becomes rewarded, or stays qualified when nothing was due."""
    day = _day(now, rules)
    if referral.referrer_id is not None:
        recipient, points = referral.referrer_id, rules.reward_points
    else:
        campaign = await session.get(ReferralCampaign, referral.campaign_id)
        recipient, points = referral.invitee_id, campaign.reward_points if campaign else 0
    if points <= 0:
        return None, 0
    if referral.referrer_id is not None and not await reserve_daily(
        session,
        member_id=recipient,
        reason=DAILY_COUNTER,
        day=day,
        wanted=1,
        cap=rules.daily_limit,
    ):
        return None, 0
    grant = await award(
        session,
        member_id=recipient,
        reason=REASON_REFERRAL,
        points=points,
        key=f"referral:{referral.invitee_id}:reward",
        day=day,
        cap=rules.points_cap,
        memo=f"first order #{order_id} of an invited friend",
        order_id=order_id,
        at=now,
    )
    if grant.points <= 0:
        return None, 0
    await session.execute(
        update(Referral)
        .where(
            col(Referral.invitee_id) == referral.invitee_id,
            col(Referral.status) == REFERRAL_QUALIFIED,
        )
        .values(status=REFERRAL_REWARDED, reward_points=grant.points, rewarded_at=now)
    )
    return recipient, grant.points


async def order_paid(
    session: AsyncSession, *, order_id: int, now: datetime, rules: ReferralRules
) -> PaidOutcome:
    """After an order is paid: qualify the buyer's referral on their first paid order (and
    reward it), then book commission up the chain as pending. Safe to call again."""
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None or order.status not in (ORDER_PAID, ORDER_FULFILLED):
        return PaidOutcome()
    referral = await session.get(Referral, order.member_id, populate_existing=True)
    if referral is None:
        return PaidOutcome()
    buyer = await session.get(Member, order.member_id)
    if buyer is not None and buyer.forgotten_at is not None:
        # a member who asked to be forgotten starts fresh: their old referral pays no more
        return PaidOutcome()
    rewarded_id, points = None, 0
    first = await session.execute(
        update(Referral)
        .where(col(Referral.invitee_id) == order.member_id, col(Referral.first_order_id).is_(None))
        .values(first_order_id=order_id, community_id=order.chat_id, qualified_at=now)
    )
    if rowcount(first) == 1:
        moved = await session.execute(
            update(Referral)
            .where(
                col(Referral.invitee_id) == order.member_id,
                col(Referral.status) == REFERRAL_PENDING,
            )
            .values(status=REFERRAL_QUALIFIED)
        )
        if rowcount(moved) == 1:
            await session.refresh(referral)
            rewarded_id, points = await _reward(
                session, referral=referral, order_id=order_id, now=now, rules=rules
            )
    commission = await _book_commission(session, order=order, now=now, rules=rules)
    return PaidOutcome(
        rewarded_id=rewarded_id,
        reward_points=points,
        invitee_id=order.member_id,
        commission=commission,
        currency=order.currency,
    )


async def _book_commission(
    session: AsyncSession, *, order: Order, now: datetime, rules: ReferralRules
) -> tuple[tuple[int, int], ...]:
    assert order.id is not None
    levels = rules.levels
    if not levels:
        return ()
    chain = await _chain(session, order.member_id, statuses=COMMISSION_STATUSES)
    shares = tuple(
        (member, order.paid_amount * rate // 10_000)
        for member, rate in zip(chain[: len(levels)], levels, strict=False)
    )
    shares = tuple((member, amount) for member, amount in shares if amount > 0)
    if not shares:
        return ()
    total = sum(amount for _member, amount in shares)
    await post(
        session,
        key=f"order:{order.id}:referral-commission",
        kind=TX_REFERRAL_COMMISSION,
        postings=[
            Posting(AccountRef(ACCOUNT_BRAND_COMMISSION_EXPENSE), order.currency, -total),
            *(
                Posting(
                    AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, member), order.currency, amount
                )
                for member, amount in shares
            ),
        ],
        memo=f"referral commission on order #{order.id}",
        order_id=order.id,
        at=now,
    )
    return shares


async def order_refunded(session: AsyncSession, *, order_id: int) -> None:
    """A full refund of a first order: its referral counts as reversed (the ledger side is
    undone by the refund itself: the reward clawed back, the commission reversed)."""
    await session.execute(
        update(Referral)
        .where(
            col(Referral.first_order_id) == order_id,
            col(Referral.status).in_((REFERRAL_QUALIFIED, REFERRAL_REWARDED)),
        )
        .values(status=REFERRAL_REVERSED)
    )


REFERRAL_HOLD = CommissionHold(
    booked=(TX_REFERRAL_COMMISSION, TX_COMMISSION_ADJUST),
    pending=ACCOUNT_MEMBER_COMMISSION_PENDING,
    earned=ACCOUNT_MEMBER_COMMISSION,
    release=TX_REFERRAL_COMMISSION_RELEASE,
    key="referral-commission-release",
    label="referral commission",
)


async def release_referral_commissions(
    session: AsyncSession, *, now: datetime, window: timedelta
) -> int:
    """Release the pending referral commission of orders paid longer ago than the refund window
    and not refunded, each once. Returns how many orders were released."""
    return await release_held(session, REFERRAL_HOLD, now=now, window=window)


async def held_referrals(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> Page[HeldReferral]:
    """A page of the referrals waiting for staff review, oldest first, and how many wait."""
    limit, offset = window(limit, offset)
    statement = (
        select(Referral, ReferralCode)
        .join(ReferralCode, col(ReferralCode.id) == col(Referral.code_id))
        .where(col(Referral.status) == REFERRAL_HELD)
        .order_by(col(Referral.created_at), col(Referral.invitee_id))
    )
    total = await count_of(session, statement)
    rows = (await session.execute(statement.limit(limit).offset(offset))).all()
    out = []
    for referral, code in rows:
        invitee = await session.get(Member, referral.invitee_id)
        referrer = await session.get(Member, referral.referrer_id) if referral.referrer_id else None
        campaign = (
            await session.get(ReferralCampaign, referral.campaign_id)
            if referral.campaign_id
            else None
        )
        out.append(
            HeldReferral(
                invitee_id=referral.invitee_id,
                invitee_name=_name(invitee, referral.invitee_id),
                referrer_id=referral.referrer_id,
                referrer_name=_name(referrer, referral.referrer_id or 0),
                campaign=campaign.name if campaign else None,
                code=code.code,
                created_at=referral.created_at,
                first_order_id=referral.first_order_id,
            )
        )
    return Page(out, offset, total)


def _name(member: Member | None, member_id: int) -> str:
    if member is None:
        return str(member_id)
    return shown(member.first_name) or (
        f"@{member.username}" if member.username else str(member_id)
    )


async def review(
    session: AsyncSession,
    *,
    invitee_id: int,
    approve: bool,
    staff_id: int,
    now: datetime,
    rules: ReferralRules,
) -> Review:
    """Approve or reject a held referral, once (a conditional UPDATE on its held status).

    Approved: the welcome gift follows, and if the first order was already paid (and not
    refunded) the reward too, with the commission of the orders paid meanwhile. Rejected: no
    reward and no commission, ever.
    """
    referral = await session.get(Referral, invitee_id, populate_existing=True)
    if referral is None:
        raise ReferralError(ReferralRefusal.NOT_FOUND, str(invitee_id))
    target = REFERRAL_REJECTED
    if approve:
        target = REFERRAL_PENDING if referral.first_order_id is None else REFERRAL_QUALIFIED
    decided = await session.execute(
        update(Referral)
        .where(col(Referral.invitee_id) == invitee_id, col(Referral.status) == REFERRAL_HELD)
        .values(status=target, reviewed_by=staff_id, reviewed_at=now)
    )
    if rowcount(decided) != 1:
        raise ReferralError(ReferralRefusal.NOT_HELD, str(invitee_id))
    await session.refresh(referral)
    points = 0
    if approve:
        campaign = (
            await session.get(ReferralCampaign, referral.campaign_id)
            if referral.campaign_id
            else None
        )
        await _welcome(session, member_id=invitee_id, campaign=campaign, now=now, rules=rules)
        if referral.first_order_id is not None:
            order = await session.get(Order, referral.first_order_id)
            if order is None or order.status not in (ORDER_PAID, ORDER_FULFILLED):
                await session.execute(
                    update(Referral)
                    .where(col(Referral.invitee_id) == invitee_id)
                    .values(status=REFERRAL_REVERSED)
                )
            else:
                _who, points = await _reward(
                    session,
                    referral=referral,
                    order_id=referral.first_order_id,
                    now=now,
                    rules=rules,
                )
        # commission on orders paid while the link was held, booked now (once per order)
        paid = await session.execute(
            select(Order).where(
                col(Order.member_id) == invitee_id,
                col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED)),
            )
        )
        for order in paid.scalars().all():
            await _book_commission(session, order=order, now=now, rules=rules)
    await session.refresh(referral)
    return Review(invitee_id, approve, referral.status, points)


async def member_referrals(session: AsyncSession, member_id: int) -> MemberReferrals:
    """A member's referral figures: counts by status, points and commission earned."""
    counts: dict[str, int] = {
        status: int(count)
        for status, count in (
            await session.execute(
                select(col(Referral.status), func.count())
                .where(col(Referral.referrer_id) == member_id)
                .group_by(col(Referral.status))
            )
        ).all()
    }
    points = (
        await session.execute(
            select(func.coalesce(func.sum(col(Referral.reward_points)), 0)).where(
                col(Referral.referrer_id) == member_id,
                col(Referral.status) == REFERRAL_REWARDED,
            )
        )
    ).scalar_one()
    code = (
        await session.execute(
            select(col(ReferralCode.code)).where(col(ReferralCode.member_id) == member_id)
        )
    ).scalar_one_or_none()
    return MemberReferrals(
        code=code,
        invited=sum(counts.values()),
        qualified=sum(counts.get(s, 0) for s in (*QUALIFIED_STATUSES, REFERRAL_REVERSED)),
        pending=counts.get(REFERRAL_PENDING, 0) + counts.get(REFERRAL_HELD, 0),
        rewarded=counts.get(REFERRAL_REWARDED, 0),
        points=int(points),
        commission_pending=await balances(
            session, AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, member_id)
        ),
        commission_available=await balances(
            session, AccountRef(ACCOUNT_MEMBER_COMMISSION, member_id)
        ),
    )


async def toggle_leaderboard(session: AsyncSession, *, member_id: int) -> bool:
    """Show or hide the member's name on group leaderboards; returns the new setting."""
    await member_code(session, member_id)
    result = await session.execute(
        update(ReferralCode)
        .where(col(ReferralCode.member_id) == member_id)
        .values(show_on_leaderboard=~col(ReferralCode.show_on_leaderboard))
        .returning(col(ReferralCode.show_on_leaderboard))
    )
    return bool(result.scalar_one())


async def leaderboard(
    session: AsyncSession, *, community_id: int, limit: int = 10
) -> list[LeaderboardRow]:
    """The group's top inviters by qualified referrals (first orders placed in the group)."""
    qualified = func.count().label("qualified")
    rows = await session.execute(
        select(
            col(Referral.referrer_id),
            qualified,
            col(Member.first_name),
            col(ReferralCode.show_on_leaderboard),
        )
        .join(Member, col(Member.id) == col(Referral.referrer_id))
        .join(ReferralCode, col(ReferralCode.member_id) == col(Referral.referrer_id))
        .where(
            col(Referral.community_id) == community_id,
            col(Referral.status).in_(QUALIFIED_STATUSES),
        )
        .group_by(
            col(Referral.referrer_id), col(Member.first_name), col(ReferralCode.show_on_leaderboard)
        )
        .order_by(qualified.desc(), col(Referral.referrer_id))
        .limit(limit)
    )
    return [
        LeaderboardRow(int(member or 0), (name or str(member)) if listed else None, int(count))
        for member, count, name, listed in rows.all()
    ]


async def program_stats(
    session: AsyncSession, *, start: datetime, end: datetime
) -> tuple[StatsRow, list[StatsRow], list[StatsRow]]:
    """Invited, qualified, conversion, reward cost and viral coefficient over [start, end):
    for the whole program, per campaign, and per community (where first orders were placed)."""
    total = StatsRow(label="")
    by_campaign: dict[int, StatsRow] = {}
    by_community: dict[int, StatsRow] = {}
    names = {
        c.id: c.name for c in (await session.execute(select(ReferralCampaign))).scalars().all()
    }
    referrers: dict[object, set[int]] = defaultdict(set)
    rows = (
        await session.execute(
            select(Referral).where(
                (col(Referral.created_at) >= start) & (col(Referral.created_at) < end)
                | (col(Referral.qualified_at) >= start) & (col(Referral.qualified_at) < end)
            )
        )
    ).scalars()
    for referral in rows:
        slices: list[tuple[object, StatsRow]] = [("all", total)]
        if referral.campaign_id is not None:
            row = by_campaign.setdefault(
                referral.campaign_id,
                StatsRow(label=names.get(referral.campaign_id, "?"), key=referral.campaign_id),
            )
            slices.append((("campaign", referral.campaign_id), row))
        if referral.community_id is not None:
            row = by_community.setdefault(
                referral.community_id, StatsRow(label="", key=referral.community_id)
            )
            slices.append((("community", referral.community_id), row))
        invited = start <= referral.created_at < end
        qualified = (
            referral.qualified_at is not None
            and start <= referral.qualified_at < end
            and referral.status in (*QUALIFIED_STATUSES, REFERRAL_REVERSED)
        )
        rewarded = referral.status == REFERRAL_REWARDED and referral.rewarded_at is not None
        for key, row in slices:
            # a referral belongs to a group only once its first order is placed there: groups
            # count qualified referrals and the members who brought them, not sign-ups
            in_group = isinstance(key, tuple) and key[0] == "community"
            row.invited += int(invited and not in_group)
            row.qualified += int(qualified)
            row.member_qualified += int(qualified and referral.referrer_id is not None)
            if rewarded and start <= referral.rewarded_at < end:  # type: ignore[operator]
                row.reward_points += referral.reward_points
            counted = qualified if in_group else invited
            if counted and referral.referrer_id is not None:
                referrers[key].add(referral.referrer_id)
    total.referrers = len(referrers["all"])
    for campaign_id, row in by_campaign.items():
        row.referrers = len(referrers[("campaign", campaign_id)])
    for community_id, row in by_community.items():
        row.referrers = len(referrers[("community", community_id)])
    # commission booked in the period and not reversed, by the group the order was placed in
    reversed_ids = select(col(LedgerTransaction.reverses_id)).where(
        col(LedgerTransaction.reverses_id).is_not(None)
    )
    booked = await session.execute(
        select(col(Order.chat_id), col(LedgerEntry.asset), func.sum(col(LedgerEntry.amount)))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .join(Order, col(Order.id) == col(LedgerTransaction.order_id))
        .where(
            col(LedgerTransaction.kind) == TX_REFERRAL_COMMISSION,
            col(LedgerTransaction.created_at) >= start,
            col(LedgerTransaction.created_at) < end,
            col(LedgerTransaction.id).not_in(reversed_ids),
            col(LedgerEntry.amount) > 0,
        )
        .group_by(col(Order.chat_id), col(LedgerEntry.asset))
    )
    for chat_id, asset, amount in booked.all():
        total.commission[asset] = total.commission.get(asset, 0) + int(amount)
        row = by_community.setdefault(int(chat_id), StatsRow(label="", key=int(chat_id)))
        row.commission[asset] = row.commission.get(asset, 0) + int(amount)
    # welcome gifts given in the period and not taken back, by the campaign the newcomer used
    gifts = await session.execute(
        select(col(Referral.campaign_id), func.sum(col(LedgerEntry.amount)))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(Referral, col(Referral.invitee_id) == col(LedgerAccount.owner_id))
        .where(
            col(LedgerTransaction.kind) == TX_WELCOME_POINTS,
            col(LedgerAccount.kind) == ACCOUNT_MEMBER_POINTS,
            col(LedgerTransaction.created_at) >= start,
            col(LedgerTransaction.created_at) < end,
            col(LedgerTransaction.id).not_in(reversed_ids),
            col(LedgerEntry.amount) > 0,
        )
        .group_by(col(Referral.campaign_id))
    )
    for gift_campaign, points in gifts.all():
        total.reward_points += int(points)
        if gift_campaign is not None:
            slice_ = by_campaign.setdefault(
                int(gift_campaign),
                StatsRow(label=names.get(int(gift_campaign), "?"), key=int(gift_campaign)),
            )
            slice_.reward_points += int(points)
    return (
        total,
        sorted(by_campaign.values(), key=lambda r: (-r.qualified, r.label)),
        [by_community[k] for k in sorted(by_community, key=lambda k: -by_community[k].qualified)],
    )
