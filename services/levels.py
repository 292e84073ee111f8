"""Layered communities (普通群 / VIP群 / 核心粉丝群): staff give each group a level and, for VIP
and core groups, who may join (a least tier, an invitation, or a paid membership). Joins
to those groups come as Telegram join requests, which the bot approves for members who qualify
and declines for the others; it never removes anyone. A group nearing GROUP_SIZE_LIMIT warns
its leader and staff once per crossing. A member's first paid order brings them a private
invitation to the buyers' group of their area (see `buyers_invitation` for what an area is)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import CommunityTag
from models.community import (
    APPROVAL_APPROVED,
    COMMUNITY_ACTIVE,
    JOIN_INVITE,
    JOIN_PAID,
    JOIN_TIER,
    LEVEL_CORE,
    LEVEL_OPEN,
    LEVEL_VIP,
    LEVELS,
    BuyersGroup,
    BuyersInvite,
    Community,
    CommunityMember,
    GroupInvite,
)
from models.member import Member
from models.membership import MEMBERSHIP_ACTIVE, Membership, MembershipPlan
from models.order import ORDER_FULFILLED, ORDER_PAID, ORDER_REFUNDED, Order
from models.role import LEADER_ACTIVE, LeaderDesignation
from services.audit import record_action
from services.broadcast import TAG_PATTERN
from services.community import get_community, is_open_clause
from services.db import rowcount, upsert
from services.errors import Refused
from services.member import get_member
from services.parsing import Unreadable, parse_zone
from services.tiers import TierView, list_tiers, standing

# the words staff may use for each level and each join rule (case-insensitive)
LEVEL_WORDS = {
    LEVEL_OPEN: ("open", "普通", "普通群", "開放"),
    LEVEL_VIP: ("vip", "vip群"),
    LEVEL_CORE: ("core", "核心", "核心群", "核心粉丝群", "核心粉絲群"),
}
RULE_WORDS = {
    JOIN_INVITE: ("invite", "invitation", "邀请", "邀請"),
    JOIN_PAID: ("paid", "付费", "付費"),
}
LEVEL_RANKS = {LEVEL_OPEN: 0, LEVEL_VIP: 1, LEVEL_CORE: 2}  # a core membership admits to VIP
WARN_SHARE_PERCENT = 90  # a group is warned at this share of GROUP_SIZE_LIMIT

# JoinDecision.reason values
JOINED_QUALIFIES = "qualifies"  # approved: the member meets the rule
DECLINED_TIER = "tier"  # declined: their tier is below the least one
DECLINED_INVITE = "invite"  # declined: the group admits by invitation and they have none
DECLINED_PAID = "paid"  # declined: no active paid membership of the group's level or above


class LevelError(Refused):
    """A level change or invitation refused. Reasons: unknown (no such group), left (the bot
    is not in it), level (not a level), rule (not a tier nor a rule), not_member (an
    invitation for someone the bot does not know), already (invited before), area (neither a
    #tag nor a time zone)."""


class LevelRefusal(StrEnum):
    """The reasons a LevelError gives (its `reason`); the handlers map each to a message."""

    LEVEL = "level"
    RULE = "rule"
    UNKNOWN = "unknown"
    LEFT = "left"
    NOT_MEMBER = "not_member"
    ALREADY = "already"
    AREA = "area"


@dataclass(frozen=True, slots=True)
class LevelView:
    """A group's level and who may join it."""

    community_id: int
    title: str
    level: str
    join_rule: str
    tier: TierView | None  # JOIN_TIER: the least tier


@dataclass(frozen=True, slots=True)
class JoinDecision:
    """What the bot decided on a join request, and what it tells the member."""

    community_id: int
    title: str
    approved: bool
    reason: str
    level: str
    tier: TierView | None  # the least tier the group asks (JOIN_TIER)
    member_tier: TierView  # the requester's own tier
    locale: str  # the member's language


@dataclass(frozen=True, slots=True)
class SizeWarning:
    """A group crossed the warning line: who to tell, and the numbers."""

    community_id: int
    title: str
    count: int
    limit: int
    leader_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LevelLine:
    """One level in /stats: how many groups, and the members Telegram last counted in them."""

    level: str
    groups: int
    members: int


def parse_level(text: str) -> str:
    """A level from staff's word for it; LevelError('level') otherwise."""
    word = text.strip().lower()
    for level, words in LEVEL_WORDS.items():
        if word in words:
            return level
    raise LevelError(LevelRefusal.LEVEL, text)


async def parse_rule(session: AsyncSession, text: str) -> tuple[str, TierView | None]:
    """Who may join, from staff's words: a tier's name or code (that tier and above), invite,
    or paid; LevelError('rule') otherwise."""
    word = text.strip().lower()
    for rule, words in RULE_WORDS.items():
        if word in words:
            return rule, None
    for tier in await list_tiers(session):
        if word in (tier.code.lower(), tier.name.lower()):
            return JOIN_TIER, tier
    raise LevelError(LevelRefusal.RULE, text)


async def set_level(
    session: AsyncSession,
    *,
    community_id: int,
    level: str,
    rule: str,
    tier: TierView | None,
    actor_id: int,
    now: datetime,
) -> LevelView:
    """Staff set a group's level and join rule (an open group has none), audited."""
    if level not in LEVELS:
        raise LevelError(LevelRefusal.LEVEL, level)
    community = await get_community(session, community_id)
    if community is None:
        raise LevelError(LevelRefusal.UNKNOWN, str(community_id))
    if community.status != COMMUNITY_ACTIVE:
        raise LevelError(LevelRefusal.LEFT, str(community_id))
    if level == LEVEL_OPEN:
        rule, tier = "", None
    min_rank = tier.rank if tier is not None and rule == JOIN_TIER else 0
    await session.execute(
        update(Community)
        .where(col(Community.id) == community_id)
        .values(level=level, join_rule=rule, join_min_rank=min_rank, updated_at=now)
    )
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=community_id,
        action="group.level_set",
        allowed=True,
        now=now,
        required_role="staff",
        detail=f"{level} {rule} {min_rank}".strip(),
    )
    return LevelView(community_id, community.title, level, rule, tier if min_rank else None)


async def invite_member(
    session: AsyncSession, *, community_id: int, member_id: int, actor_id: int, now: datetime
) -> LevelView:
    """Staff invite a member to a group: their join request will be approved, audited."""
    community = await get_community(session, community_id)
    if community is None:
        raise LevelError(LevelRefusal.UNKNOWN, str(community_id))
    if await get_member(session, member_id) is None:
        raise LevelError(LevelRefusal.NOT_MEMBER, str(member_id))
    if await session.get(GroupInvite, (community_id, member_id)) is not None:
        raise LevelError(LevelRefusal.ALREADY, str(member_id))
    await session.execute(
        upsert(
            session,
            GroupInvite,
            {
                "community_id": community_id,
                "member_id": member_id,
                "invited_by": actor_id,
                "created_at": now,
            },
            keys=["community_id", "member_id"],
        )
    )
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=community_id,
        action="group.invited",
        allowed=True,
        now=now,
        required_role="staff",
        detail=str(member_id),
    )
    return await level_of(session, community_id=community_id)


async def level_of(session: AsyncSession, *, community_id: int) -> LevelView:
    """The group's level and rule."""
    row = await session.get(Community, community_id, populate_existing=True)
    if row is None:
        raise LevelError(LevelRefusal.UNKNOWN, str(community_id))
    tier = None
    if row.join_rule == JOIN_TIER:
        tiers = await list_tiers(session)
        tier = next((t for t in tiers if t.rank >= row.join_min_rank), tiers[-1])
    return LevelView(row.id, row.title, row.level, row.join_rule, tier)


async def group_levels(session: AsyncSession, *, community_ids: list[int]) -> list[LevelView]:
    """The level and rule of each of these groups the bot is still in, by title."""
    rows = await session.execute(
        select(Community)
        .where(col(Community.id).in_(community_ids), col(Community.status) == COMMUNITY_ACTIVE)
        .order_by(col(Community.title), col(Community.id))
    )
    tiers = await list_tiers(session)
    views = []
    for row in rows.scalars():
        tier = None
        if row.join_rule == JOIN_TIER:
            tier = next((t for t in tiers if t.rank >= row.join_min_rank), tiers[-1])
        views.append(LevelView(row.id, row.title, row.level, row.join_rule, tier))
    return views


async def decide_join(
    session: AsyncSession, *, community_id: int, member_id: int, now: datetime, default_locale: str
) -> JoinDecision | None:
    """A join request to a VIP or core group: approved when the member meets the group's rule,
    declined otherwise; audited either way. None for a group the bot does not decide for (an
    open group, one not approved, or one it left): its admins decide."""
    row = await session.get(Community, community_id, populate_existing=True)
    if (
        row is None
        or row.level == LEVEL_OPEN
        or row.status != COMMUNITY_ACTIVE
        or row.approval != APPROVAL_APPROVED
    ):
        return None
    view = await level_of(session, community_id=community_id)
    mine = (await standing(session, member_id)).tier
    if row.join_rule == JOIN_TIER and view.tier is not None:
        approved, reason = mine.rank >= view.tier.rank, DECLINED_TIER
    elif row.join_rule == JOIN_PAID:
        approved, reason = await paid_member_of(session, member_id, row.level), DECLINED_PAID
    else:  # invitation only (also a VIP or core group whose rule was never set)
        invited = await session.get(GroupInvite, (community_id, member_id))
        approved, reason = invited is not None, DECLINED_INVITE
    if approved:
        reason = JOINED_QUALIFIES
    await record_action(
        session,
        actor_id=member_id,
        chat_id=community_id,
        action="group.join_approved" if approved else "group.join_declined",
        allowed=approved,
        now=now,
        detail=f"{row.level} {row.join_rule or JOIN_INVITE}: {reason}",
    )
    member = await get_member(session, member_id)
    locale = member.locale if member is not None else default_locale
    return JoinDecision(
        community_id, row.title, approved, reason, row.level, view.tier, mine, locale
    )


async def paid_member_of(session: AsyncSession, member_id: int, level: str) -> bool:
    """True when an active paid membership grants the member `level` or a higher one."""
    rows = await session.execute(
        select(col(MembershipPlan.level))
        .join(Membership, col(Membership.plan_id) == col(MembershipPlan.id))
        .where(
            col(Membership.member_id) == member_id,
            col(Membership.status) == MEMBERSHIP_ACTIVE,
            col(MembershipPlan.level) != "",
        )
    )
    need = LEVEL_RANKS.get(level, 0)
    return any(LEVEL_RANKS.get(granted, 0) >= need for granted in rows.scalars())


def warning_line(limit: int) -> int:
    """The member count at which a group is warned: 90% of the limit, rounded up."""
    return -(-limit * WARN_SHARE_PERCENT // 100)


async def record_member_count(
    session: AsyncSession, *, community_id: int, count: int, limit: int, now: datetime
) -> SizeWarning | None:
    """Keeps the member count Telegram gave; a SizeWarning the first time the group reaches
    the warning line (claimed by a conditional UPDATE, so once per crossing whatever runs it);
    falling back under the line re-arms the warning."""
    line = warning_line(limit)
    await session.execute(
        update(Community)
        .where(col(Community.id) == community_id)
        .values(member_count=count, member_count_at=now)
    )
    if count < line:
        await session.execute(
            update(Community)
            .where(col(Community.id) == community_id, col(Community.size_warned).is_(True))
            .values(size_warned=False)
        )
        return None
    claimed = await session.execute(
        update(Community)
        .where(col(Community.id) == community_id, col(Community.size_warned).is_(False))
        .values(size_warned=True)
    )
    if rowcount(claimed) != 1:
        return None
    row = await session.get(Community, community_id)
    leaders = await session.execute(
        select(col(LeaderDesignation.member_id)).where(
            col(LeaderDesignation.community_id) == community_id,
            col(LeaderDesignation.status) == LEADER_ACTIVE,
        )
    )
    title = row.title if row is not None else ""
    return SizeWarning(community_id, title, count, limit, tuple(int(i) for i in leaders.scalars()))


async def groups_to_count(session: AsyncSession) -> list[int]:
    """The approved groups the bot is in, whose member count it reads."""
    rows = await session.execute(
        select(col(Community.id))
        .where(
            col(Community.status) == COMMUNITY_ACTIVE,
            col(Community.approval) == APPROVAL_APPROVED,
        )
        .order_by(col(Community.id))
    )
    return [int(i) for i in rows.scalars()]


async def level_stats(
    session: AsyncSession, *, community_ids: list[int] | None = None
) -> list[LevelLine]:
    """Groups and members per level (the groups the bot is in; `community_ids` narrows it)."""
    query = (
        select(
            col(Community.level),
            func.count(col(Community.id)),
            func.coalesce(func.sum(col(Community.member_count)), 0),
        )
        .where(col(Community.status) == COMMUNITY_ACTIVE)
        .group_by(col(Community.level))
    )
    if community_ids is not None:
        query = query.where(col(Community.id).in_(community_ids))
    found = {level: (int(n), int(m)) for level, n, m in (await session.execute(query)).all()}
    return [LevelLine(level, *found.get(level, (0, 0))) for level in LEVELS]


EVERY_AREA = ""  # BuyersGroup.area of the brand's buyers' group for every other area
# orders that were paid once (a refunded one too): a member with one is no first buyer
PAID_ONCE = (ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED)


@dataclass(frozen=True, slots=True)
class BuyersGroupView:
    """A buyers' group and the area it is for."""

    area: str  # "#tag", an IANA zone, or EVERY_AREA
    community_id: int
    title: str


@dataclass(frozen=True, slots=True)
class BuyersInvitation:
    """A first buyer to invite, in their language, to the buyers' group of their area."""

    member_id: int
    locale: str
    community_id: int
    title: str


def parse_area(text: str) -> str:
    """An area as staff write it: #tag (the groups with that tag) or a time zone (a zone name,
    a city, an offset: the groups in that zone); LevelError('area') otherwise."""
    word = text.strip()
    if word.startswith("#"):
        tag = word.removeprefix("#").lower()
        if not TAG_PATTERN.match(tag):
            raise LevelError(LevelRefusal.AREA, text)
        return f"#{tag}"
    try:
        return parse_zone(word)
    except Unreadable:
        raise LevelError(LevelRefusal.AREA, text) from None


async def set_buyers_group(
    session: AsyncSession, *, community_id: int, area: str, actor_id: int, now: datetime
) -> BuyersGroupView:
    """Staff make a group the buyers' group of an area (EVERY_AREA: of every area that has
    none of its own), replacing the one before, audited."""
    community = await get_community(session, community_id)
    if community is None:
        raise LevelError(LevelRefusal.UNKNOWN, str(community_id))
    if community.status != COMMUNITY_ACTIVE:
        raise LevelError(LevelRefusal.LEFT, str(community_id))
    values = {"community_id": community_id, "set_by": actor_id, "set_at": now}
    await session.execute(
        upsert(session, BuyersGroup, {"area": area, **values}, keys=["area"], update=values)
    )
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=community_id,
        action="group.buyers_set",
        allowed=True,
        now=now,
        required_role="staff",
        detail=area or "*",
    )
    return BuyersGroupView(area, community_id, community.title)


async def buyers_groups(session: AsyncSession) -> list[BuyersGroupView]:
    """Every buyers' group staff set, by area."""
    rows = await session.execute(
        select(col(BuyersGroup.area), col(BuyersGroup.community_id), col(Community.title))
        .join(Community, col(Community.id) == col(BuyersGroup.community_id))
        .order_by(col(BuyersGroup.area))
    )
    return [BuyersGroupView(area, int(group), title) for area, group, title in rows.all()]


async def buyers_invitation(
    session: AsyncSession, *, order_id: int, now: datetime
) -> BuyersInvitation | None:
    """After an order is paid: the invitation to the buyers' group of the buyer's area when it
    is their first paid order, claimed once per member (an insert that does nothing the second
    time). None when it is not their first, no buyers' group fits, the group is not open, they
    are in it already, or they cannot be written to (never started the bot).

    The area is the group the order was placed in: a buyers' group set for one of its tags
    first (staff tag groups by district: #pudong), then one set for its time zone (the one area
    every group has, services/zones.py), then the brand's one for every area."""
    order = await session.get(Order, order_id)
    if order is None or await session.get(BuyersInvite, order.member_id) is not None:
        return None  # invited before: nothing more to read
    buyer = await session.get(Member, order.member_id)
    if buyer is None or not buyer.started or buyer.forgotten_at is not None:
        return None
    earlier = await session.scalar(
        select(col(Order.id)).where(
            col(Order.member_id) == order.member_id,
            col(Order.id) != order_id,
            col(Order.status).in_(PAID_ONCE),
        )
    )
    if earlier is not None:
        return None
    placed_in = await session.get(Community, order.chat_id)
    tags = await session.scalars(
        select(col(CommunityTag.tag)).where(col(CommunityTag.community_id) == order.chat_id)
    )
    areas = [f"#{tag}" for tag in sorted(tags)]
    if placed_in is not None:
        areas.append(placed_in.timezone)
    areas.append(EVERY_AREA)
    rows = await session.execute(
        select(col(BuyersGroup.area), col(Community.id), col(Community.title))
        .join(Community, col(Community.id) == col(BuyersGroup.community_id))
        .where(col(BuyersGroup.area).in_(areas), is_open_clause())
    )
    found = {area: (int(group), title) for area, group, title in rows.all()}
    area = next((a for a in areas if a in found), None)
    if area is None:
        return None
    group_id, title = found[area]
    inside = await session.scalar(
        select(col(CommunityMember.member_id)).where(
            col(CommunityMember.community_id) == group_id,
            col(CommunityMember.member_id) == order.member_id,
            col(CommunityMember.left_at).is_(None),
        )
    )
    if inside is not None:
        return None
    claimed = await session.execute(
        upsert(
            session,
            BuyersInvite,
            {
                "member_id": order.member_id,
                "community_id": group_id,
                "order_id": order_id,
                "invited_at": now,
            },
            keys=["member_id"],
        ).returning(col(BuyersInvite.member_id))
    )
    if claimed.scalar_one_or_none() is None:
        return None
    return BuyersInvitation(order.member_id, buyer.locale, group_id, title)
