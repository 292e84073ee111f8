"""Membership tiers: reached by paid spend (or points earned) over a rolling 12 months, each
with its perks.

Until staff change them, the tiers are the four defaults below (kept in code, not in the
store); the first change with /tier_set writes all of them to the `tier` table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.ledger import ACCOUNT_MEMBER_POINTS, POINTS, LedgerAccount
from models.membership import MEMBERSHIP_ACTIVE, Membership, MembershipPlan
from models.order import ORDER_FULFILLED, ORDER_PAID, ORDER_REFUNDED, Order, OrderEvent
from models.tiers import MemberTier, Tier
from services.db import upsert
from services.errors import Refused
from services.points import points_earned

SPEND_WINDOW = timedelta(days=365)
MAX_TIERS = 8
MAX_SPEND = 10**15


class TierError(Refused):
    """A tier change that was refused; `reason` names why, for a localized message."""


class TierRefusal(StrEnum):
    """The reasons a TierError gives (its `reason`); the handlers map each to a message."""

    BAD_RANK = "bad_rank"
    BAD_NAME = "bad_name"
    BAD_SPEND = "bad_spend"
    BAD_DISCOUNT = "bad_discount"
    BAD_MULTIPLIER = "bad_multiplier"
    BAD_BIRTHDAY = "bad_birthday"
    NOT_ASCENDING = "not_ascending"


@dataclass(frozen=True, slots=True)
class TierView:
    rank: int
    code: str  # member, silver, gold, diamond for the defaults (translated); "" for others
    name: str
    min_spend: int
    discount_bps: int
    multiplier_pct: int
    birthday_points: int
    vip_access: bool
    member_day_double: bool


DEFAULT_TIERS = (
    TierView(0, "member", "Member", 0, 0, 100, 0, False, False),
    TierView(1, "silver", "Silver", 50_000, 200, 120, 50, False, True),
    TierView(2, "gold", "Gold", 200_000, 500, 150, 200, True, True),
    TierView(3, "diamond", "Diamond", 1_000_000, 800, 200, 500, True, True),
)


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a member stands: their tier, their spend, and what the next tier needs."""

    tier: TierView
    spend: int
    next_tier: TierView | None

    @property
    def to_next(self) -> int:
        return max(0, self.next_tier.min_spend - self.spend) if self.next_tier else 0


@dataclass(frozen=True, slots=True)
class TierChange:
    before: TierView
    after: TierView
    spend: int

    @property
    def moved_up(self) -> bool:
        return self.after.rank > self.before.rank

    @property
    def moved_down(self) -> bool:
        return self.after.rank < self.before.rank


def _view(row: Tier) -> TierView:
    return TierView(
        rank=row.rank,
        code=row.code,
        name=row.name,
        min_spend=row.min_spend,
        discount_bps=row.discount_bps,
        multiplier_pct=row.multiplier_pct,
        birthday_points=row.birthday_points,
        vip_access=row.vip_access,
        member_day_double=row.member_day_double,
    )


async def list_tiers(session: AsyncSession) -> tuple[TierView, ...]:
    """Every tier, lowest first."""
    rows = (await session.execute(select(Tier).order_by(col(Tier.rank)))).scalars().all()
    return tuple(_view(r) for r in rows) if rows else DEFAULT_TIERS


def tier_for_spend(tiers: tuple[TierView, ...], spend: int) -> TierView:
    reached = [t for t in tiers if t.min_spend <= spend]
    return reached[-1] if reached else tiers[0]


async def save_tier(session: AsyncSession, tier: TierView) -> tuple[TierView, ...]:
    """Add or change one tier; ranks stay ordered by the spend they need."""
    if not 0 <= tier.rank < MAX_TIERS:
        raise TierError(TierRefusal.BAD_RANK, str(tier.rank))
    if not tier.name.strip() or len(tier.name) > 32:
        raise TierError(TierRefusal.BAD_NAME, tier.name)
    if not 0 <= tier.min_spend <= MAX_SPEND or (tier.rank == 0 and tier.min_spend != 0):
        raise TierError(TierRefusal.BAD_SPEND, str(tier.min_spend))
    if not 0 <= tier.discount_bps <= 5000:
        raise TierError(TierRefusal.BAD_DISCOUNT, str(tier.discount_bps))
    if not 100 <= tier.multiplier_pct <= 1000:
        raise TierError(TierRefusal.BAD_MULTIPLIER, str(tier.multiplier_pct))
    if not 0 <= tier.birthday_points <= 10**9:
        raise TierError(TierRefusal.BAD_BIRTHDAY, str(tier.birthday_points))
    tiers = {t.rank: t for t in await list_tiers(session)}
    if tier.rank > len(tiers):
        raise TierError(TierRefusal.BAD_RANK, str(tier.rank))
    tiers[tier.rank] = tier
    ordered = [tiers[rank] for rank in sorted(tiers)]
    if any(a.min_spend >= b.min_spend for a, b in pairwise(ordered)):
        raise TierError(TierRefusal.NOT_ASCENDING, str(tier.rank))
    await session.execute(delete(Tier))
    for t in ordered:
        session.add(
            Tier(
                rank=t.rank,
                code=t.code,
                name=t.name,
                min_spend=t.min_spend,
                discount_bps=t.discount_bps,
                multiplier_pct=t.multiplier_pct,
                birthday_points=t.birthday_points,
                vip_access=t.vip_access,
                member_day_double=t.member_day_double,
            )
        )
    await session.flush()
    return tuple(ordered)


def renamed(tier: TierView, name: str) -> TierView:
    """The tier under a name staff chose: it is no longer translated as a default."""
    return replace(tier, name=name, code="") if name != tier.name else tier


def discount_amount(gross: int, bps: int) -> int:
    """The discount of `bps` basis points on a gross amount, rounded down, leaving at least 1."""
    if gross <= 1 or bps <= 0:
        return 0
    return min(gross - 1, gross * bps // 10_000)


async def tier_discount(session: AsyncSession, *, member_id: int, gross: int) -> int:
    """What the member's tier takes off an order of `gross` minor units."""
    return discount_amount(gross, (await standing(session, member_id)).tier.discount_bps)


async def qualifying(session: AsyncSession, *, member_id: int, currency: str, now: datetime) -> int:
    """What tiers are measured by over the last 12 months: paid spend in `currency`, or
    points earned when `currency` is the points asset (TIER_BASIS=points)."""
    if currency == POINTS:
        return await points_earned(session, member_id=member_id, since=now - SPEND_WINDOW)
    return await paid_spend(session, member_id=member_id, currency=currency, now=now)


async def paid_spend(session: AsyncSession, *, member_id: int, currency: str, now: datetime) -> int:
    """What the member paid, net of refunds, for orders paid in the last 12 months."""
    paid_since = (
        select(col(OrderEvent.order_id))
        .where(col(OrderEvent.to_status) == ORDER_PAID, col(OrderEvent.at) >= now - SPEND_WINDOW)
        .scalar_subquery()
    )
    total = (
        await session.execute(
            select(func.coalesce(func.sum(Order.paid_amount - Order.refunded_amount), 0)).where(
                col(Order.member_id) == member_id,
                col(Order.currency) == currency,
                col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED)),
                col(Order.id).in_(paid_since),
            )
        )
    ).scalar_one()
    return int(total)


async def standing(session: AsyncSession, member_id: int) -> Standing:
    """The member's tier as last computed, and the next one up."""
    tiers = await list_tiers(session)
    row = await session.get(MemberTier, member_id)
    rank = row.rank if row else 0
    spend = row.spend if row else 0
    current = next((t for t in tiers if t.rank == rank), tiers[0])
    higher = [t for t in tiers if t.rank > current.rank]
    return Standing(tier=current, spend=spend, next_tier=higher[0] if higher else None)


async def membership_rank(session: AsyncSession, member_id: int) -> int:
    """The highest tier an active paid membership grants the member (0 when none does)."""
    granted = await session.execute(
        select(func.max(MembershipPlan.tier_rank))
        .join(Membership, col(Membership.plan_id) == col(MembershipPlan.id))
        .where(
            col(Membership.member_id) == member_id,
            col(Membership.status) == MEMBERSHIP_ACTIVE,
        )
    )
    return int(granted.scalar_one_or_none() or 0)


async def recompute(
    session: AsyncSession, *, member_id: int, currency: str, now: datetime
) -> TierChange:
    """Recompute the member's tier from their spend and store it: the tier the spend reaches,
    or the higher one an active paid membership grants (services/membership/), so that every
    reader of the stored tier (discounts, VIP windows, joins, broadcasts by tier) sees it."""
    tiers = await list_tiers(session)
    before = (await standing(session, member_id)).tier
    spend = await qualifying(session, member_id=member_id, currency=currency, now=now)
    after = tier_for_spend(tiers, spend)
    granted = await membership_rank(session, member_id)
    if granted > after.rank:  # a paid membership holds the member higher than their spend
        after = next((t for t in tiers if t.rank == granted), after)
    await session.execute(
        upsert(
            session,
            MemberTier,
            {"member_id": member_id, "rank": after.rank, "spend": spend, "updated_at": now},
            keys=["member_id"],
            update={"rank": after.rank, "spend": spend, "updated_at": now},
        )
    )
    return TierChange(before=before, after=after, spend=spend)


async def members_to_recompute(session: AsyncSession) -> list[int]:
    """Members whose tier may change: anyone with a tier row, a paid order or points."""
    with_tier = select(col(MemberTier.member_id))
    buyers = select(col(Order.member_id)).where(
        col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED))
    )
    earners = select(col(LedgerAccount.owner_id)).where(
        col(LedgerAccount.kind) == ACCOUNT_MEMBER_POINTS
    )
    rows = await session.execute(with_tier.union(buyers, earners))
    return sorted(int(r[0]) for r in rows.all())


WARN_AHEAD = timedelta(days=30)
WARN_EVERY = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class DropAhead:
    """The member's tier will fall to `lower` within 30 days unless they spend `to_keep`."""

    current: TierView
    lower: TierView
    to_keep: int


async def drop_ahead(
    session: AsyncSession, *, member_id: int, currency: str, now: datetime
) -> DropAhead | None:
    """A coming tier drop worth a gentle word: once a month at most, and only when real."""
    row = await session.get(MemberTier, member_id)
    if row is None or row.rank == 0:
        return None
    if row.warned_at is not None and now - row.warned_at < WARN_EVERY:
        return None
    tiers = await list_tiers(session)
    current = next((t for t in tiers if t.rank == row.rank), None)
    if current is None:
        return None
    later = await qualifying(session, member_id=member_id, currency=currency, now=now + WARN_AHEAD)
    lower = tier_for_spend(tiers, later)
    if await membership_rank(session, member_id) >= current.rank:
        return None  # a paid membership holds the tier (its own notices say when it ends)
    if lower.rank >= current.rank:
        return None
    row.warned_at = now
    await session.flush()
    return DropAhead(current=current, lower=lower, to_keep=current.min_spend - later)
