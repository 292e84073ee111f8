"""Membership plans: staff add and switch them off, members see those offered, and staff
see how many hold each plan and what each brought in per month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import LEVEL_CORE, LEVEL_VIP
from models.membership import (
    CANCELED_BY_BOT,
    MEMBERSHIP_ACTIVE,
    Membership,
    MembershipPeriod,
    MembershipPlan,
)
from services.audit import record_action
from services.db import rowcount
from services.errors import Refused
from services.levels import parse_level
from services.membership._common import (
    MAX_NAME,
    MAX_STARS,
    MembershipError,
    MembershipRefusal,
    MembershipView,
    PlanCount,
    PlanView,
    _locale,
    _plan_view,
    _view,
)
from services.tiers import list_tiers
from services.validation import NumberRefused, number


def parse_stars(text: str) -> int:
    """A month's price as staff type it ('300', '300 XTR'); MembershipError('stars') when it
    is no whole number of Stars up to MAX_STARS (add_plan refuses 0)."""
    try:
        stars = number(text.strip().upper().removesuffix("XTR"), prefix="", maximum=MAX_STARS)
    except NumberRefused:
        stars = None
    if stars is None:
        raise MembershipError(MembershipRefusal.STARS, text)
    return stars


async def parse_grant(session: AsyncSession, text: str) -> tuple[int | None, str]:
    """What a plan grants, from staff's words: `tier=Gold` (a tier's name or code) or
    `level=vip` / `level=core`; MembershipError('grant' / 'tier' / 'level') otherwise."""
    key, sep, value = text.strip().partition("=")
    key, value = key.strip().lower(), value.strip()
    if not sep or not value:
        raise MembershipError(MembershipRefusal.GRANT, text)
    if key in ("tier", "等级", "等級"):
        for tier in await list_tiers(session):
            if value.lower() in (tier.code.lower(), tier.name.lower()) and tier.rank > 0:
                return tier.rank, ""
        raise MembershipError(MembershipRefusal.TIER, value)
    if key in ("level", "群级", "群級"):
        try:
            level = parse_level(value)
        except Refused:
            level = ""
        if level not in (LEVEL_VIP, LEVEL_CORE):
            raise MembershipError(MembershipRefusal.LEVEL, value)
        return None, level
    raise MembershipError(MembershipRefusal.GRANT, text)


async def add_plan(
    session: AsyncSession,
    *,
    name: str,
    stars: int,
    tier_rank: int | None,
    level: str,
    actor_id: int,
    now: datetime,
) -> PlanView:
    """Staff add a plan for sale, audited."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise MembershipError(MembershipRefusal.NAME, name)
    if not 0 < stars <= MAX_STARS:
        raise MembershipError(MembershipRefusal.STARS, str(stars))
    if (tier_rank is None) == (level == ""):
        raise MembershipError(MembershipRefusal.GRANT, "")
    row = MembershipPlan(
        name=name,
        stars=stars,
        tier_rank=tier_rank,
        level=level,
        created_by=actor_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    grant = f"level={level}" if level else f"tier={tier_rank}"
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=None,
        action="membership.plan_add",
        allowed=True,
        now=now,
        required_role="staff",
        detail=f"#{row.id} {name}: {stars} XTR, {grant}",
    )
    return _plan_view(row, await list_tiers(session))


async def list_plans(session: AsyncSession, *, for_sale: bool = False) -> list[PlanView]:
    """Every plan with its active memberships (only those for sale with `for_sale`)."""
    counts = (
        select(col(Membership.plan_id), func.count().label("n"))
        .where(col(Membership.status) == MEMBERSHIP_ACTIVE)
        .group_by(col(Membership.plan_id))
        .subquery()
    )
    query = (
        select(MembershipPlan, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.plan_id == col(MembershipPlan.id))
        .order_by(col(MembershipPlan.id))
    )
    if for_sale:
        query = query.where(col(MembershipPlan.active).is_(True))
    tiers = await list_tiers(session)
    rows = (await session.execute(query)).all()
    return [_plan_view(plan, tiers, int(n)) for plan, n in rows]


async def membership_offered(session: AsyncSession, member_id: int) -> bool:
    """True when a plan is for sale or the member has a membership (the menu shows it then)."""
    sold = select(col(MembershipPlan.id)).where(col(MembershipPlan.active).is_(True))
    held = select(col(Membership.id)).where(col(Membership.member_id) == member_id)
    found = await session.execute(sold.union_all(held).limit(1))
    return found.first() is not None


async def get_plan(session: AsyncSession, plan_id: int) -> PlanView | None:
    """One plan with its active memberships, or None."""
    row = await session.get(MembershipPlan, plan_id, populate_existing=True)
    if row is None:
        return None
    members = await session.execute(
        select(func.count()).where(
            col(Membership.plan_id) == plan_id, col(Membership.status) == MEMBERSHIP_ACTIVE
        )
    )
    return _plan_view(row, await list_tiers(session), int(members.scalar_one()))


@dataclass(frozen=True, slots=True)
class SwitchedOff:
    """A plan taken off sale, and the memberships whose renewals the bot stops with it (each
    with its member's locale): the caller cancels their subscriptions after commit."""

    plan: PlanView
    stopped: tuple[tuple[MembershipView, str], ...]


async def switch_off(
    session: AsyncSession,
    *,
    plan_id: int,
    actor_id: int,
    now: datetime,
    default_locale: str,
) -> SwitchedOff:
    """Staff stop selling a plan (claimed by a conditional UPDATE), audited. Its members keep
    it to the end of the period they paid, and the renewals stop (a renewal Telegram charges
    anyway is refunded)."""
    done = await session.execute(
        update(MembershipPlan)
        .where(col(MembershipPlan.id) == plan_id, col(MembershipPlan.active).is_(True))
        .values(active=False, updated_at=now)
    )
    if rowcount(done) != 1:
        plan = await get_plan(session, plan_id)
        raise MembershipError(
            MembershipRefusal.UNKNOWN if plan is None else MembershipRefusal.OFF, str(plan_id)
        )
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=None,
        action="membership.plan_off",
        allowed=True,
        now=now,
        required_role="staff",
        detail=f"#{plan_id}",
    )
    plan = await get_plan(session, plan_id)
    assert plan is not None
    renewing = (
        (
            await session.execute(
                select(Membership).where(
                    col(Membership.plan_id) == plan_id,
                    col(Membership.status) == MEMBERSHIP_ACTIVE,
                    col(Membership.canceled_by) == "",
                )
            )
        )
        .scalars()
        .all()
    )
    stopped = []
    for row in renewing:
        claimed = await session.execute(
            update(Membership)
            .where(col(Membership.id) == row.id, col(Membership.canceled_by) == "")
            .values(canceled_by=CANCELED_BY_BOT, updated_at=now)
        )
        if rowcount(claimed) == 1:
            await session.refresh(row)
            locale = await _locale(session, row.member_id, default_locale)
            stopped.append((_view(row, plan), locale))
    return SwitchedOff(plan, tuple(stopped))


async def membership_stats(session: AsyncSession) -> list[PlanCount]:
    """Active memberships per plan (plans that have or had members, and those for sale)."""
    return [PlanCount(p, p.members) for p in await list_plans(session) if p.members or p.active]


@dataclass(frozen=True, slots=True)
class PlanMonth:
    """One plan's payments in a span: the renewals, and the Stars of every period booked."""

    renewals: int
    stars: int


async def plan_payments(
    session: AsyncSession, *, start: datetime, end: datetime
) -> dict[int, PlanMonth]:
    """Per plan id: the renewals charged and the Stars booked from `start` to `end` (the first
    payments count in the Stars, not in the renewals)."""
    rows = await session.execute(
        select(
            col(Membership.plan_id),
            func.count().filter(col(MembershipPeriod.recurring).is_(True)),
            func.coalesce(func.sum(col(MembershipPeriod.stars)), 0),
        )
        .join(Membership, col(Membership.id) == col(MembershipPeriod.membership_id))
        .where(col(MembershipPeriod.created_at) >= start, col(MembershipPeriod.created_at) < end)
        .group_by(col(Membership.plan_id))
    )
    return {int(plan): PlanMonth(int(renewals), int(stars)) for plan, renewals, stars in rows.all()}
