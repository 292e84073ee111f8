"""A member's memberships and how they end: Telegram's subscription updates, cancelling
from the bot, and lapsing when a period passed without a renewal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.membership import (
    CANCELED_BY_MEMBER,
    MEMBERSHIP_ACTIVE,
    MEMBERSHIP_LAPSED,
    Membership,
    MembershipPlan,
)
from services.audit import record_action
from services.db import rowcount
from services.membership._common import (
    RENEWAL_GRACE,
    MembershipError,
    MembershipRefusal,
    MembershipView,
    SubscriptionNews,
    _locale,
    _membership,
    _plan_view,
    _view,
    plan_of_payload,
)
from services.membership.plans import get_plan
from services.tiers import list_tiers, recompute


async def memberships_of(session: AsyncSession, member_id: int) -> list[MembershipView]:
    """The member's memberships, active first, then by plan."""
    rows = (
        await session.execute(
            select(Membership, MembershipPlan)
            .join(MembershipPlan, col(MembershipPlan.id) == col(Membership.plan_id))
            .where(col(Membership.member_id) == member_id)
            .order_by(col(Membership.status), col(Membership.plan_id))
        )
    ).all()
    tiers = await list_tiers(session)
    return [_view(m, _plan_view(p, tiers)) for m, p in rows]


async def subscription_changed(
    session: AsyncSession,
    *,
    payload: str,
    member_id: int,
    state: str,
    now: datetime,
    default_locale: str,
    tier_currency: str,
) -> SubscriptionNews | None:
    """Telegram's `subscription` update: the member cancelled the renewals (canceled), turned
    them back on (active), or a renewal could not be charged (failed: the membership lapses
    at the end of its period, at once when that passed). None for a subscription the bot
    does not know."""
    plan_id = plan_of_payload(payload)
    row = await _membership(session, member_id=member_id, plan_id=plan_id or 0)
    if row is None or row.id is None:
        return None
    values: dict[str, object] = {"updated_at": now}
    lapsed = False
    if state == "canceled":
        values["canceled_by"] = CANCELED_BY_MEMBER
    elif state == "active":
        values |= {"canceled_by": "", "failed_at": None}
    elif state == "failed":
        values["failed_at"] = now
        lapsed = row.status == MEMBERSHIP_ACTIVE and row.period_end <= now
        if lapsed:
            values["status"] = MEMBERSHIP_LAPSED
    else:
        return None
    await session.execute(update(Membership).where(col(Membership.id) == row.id).values(values))
    await session.refresh(row)
    if lapsed:  # the grant goes with it
        await recompute(session, member_id=member_id, currency=tier_currency, now=now)
    plan = await get_plan(session, row.plan_id)
    assert plan is not None
    locale = await _locale(session, member_id, default_locale)
    return SubscriptionNews(state, _view(row, plan), lapsed, locale)


async def cancel_membership(
    session: AsyncSession, *, member_id: int, plan_id: int, now: datetime
) -> MembershipView:
    """The member stops the renewals from the bot (claimed by a conditional UPDATE), audited;
    the caller then asks Telegram (editUserStarSubscription) after commit. The membership
    holds to the end of the period paid."""
    done = await session.execute(
        update(Membership)
        .where(
            col(Membership.member_id) == member_id,
            col(Membership.plan_id) == plan_id,
            col(Membership.status) == MEMBERSHIP_ACTIVE,
            col(Membership.canceled_by) == "",
        )
        .values(canceled_by=CANCELED_BY_MEMBER, updated_at=now)
    )
    row = await _membership(session, member_id=member_id, plan_id=plan_id)
    if rowcount(done) != 1 or row is None:
        active = row is not None and row.status == MEMBERSHIP_ACTIVE
        raise MembershipError(
            MembershipRefusal.CANCELED if active else MembershipRefusal.NOT_MEMBER, str(plan_id)
        )
    await record_action(
        session,
        actor_id=member_id,
        chat_id=None,
        action="membership.cancel",
        allowed=True,
        now=now,
        detail=f"#{plan_id}",
    )
    plan = await get_plan(session, plan_id)
    assert plan is not None
    return _view(row, plan)


async def due_to_lapse(session: AsyncSession, *, now: datetime) -> list[int]:
    """Active memberships whose period ended (with the grace) without a renewal."""
    rows = await session.execute(
        select(col(Membership.id))
        .where(
            col(Membership.status) == MEMBERSHIP_ACTIVE,
            col(Membership.period_end) <= now - RENEWAL_GRACE,
        )
        .order_by(col(Membership.id))
    )
    return [int(i) for i in rows.scalars() if i is not None]


async def lapse_membership(
    session: AsyncSession,
    *,
    membership_id: int,
    now: datetime,
    default_locale: str,
    tier_currency: str,
) -> tuple[MembershipView, str] | None:
    """End one membership whose period passed unrenewed (claimed by a conditional UPDATE, so
    once whoever runs it); the membership and its member's locale, or None when not due."""
    done = await session.execute(
        update(Membership)
        .where(
            col(Membership.id) == membership_id,
            col(Membership.status) == MEMBERSHIP_ACTIVE,
            col(Membership.period_end) <= now - RENEWAL_GRACE,
        )
        .values(status=MEMBERSHIP_LAPSED, updated_at=now)
    )
    if rowcount(done) != 1:
        return None
    row = await session.get(Membership, membership_id, populate_existing=True)
    assert row is not None
    # the tier it granted goes (down to what the spend reaches, or another membership grants)
    await recompute(session, member_id=row.member_id, currency=tier_currency, now=now)
    plan = await get_plan(session, row.plan_id)
    assert plan is not None
    await record_action(
        session,
        actor_id=row.member_id,
        chat_id=None,
        action="membership.lapsed",
        allowed=True,
        now=now,
        detail=f"#{row.plan_id}",
    )
    return _view(row, plan), await _locale(session, row.member_id, default_locale)
