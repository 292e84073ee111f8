"""Paid membership: staff sell monthly plans as Telegram Stars subscriptions; a plan grants a
tier or a group level (VIP, core) while the membership is active.

The story of one membership, each step one verb in the caller's unit of work:
- the member buys a plan through a subscription invoice link (payload `mship:<plan id>`);
- `take_membership_payment` books each period Telegram charges once (keyed by the charge id):
  the first payment starts the membership, every renewal extends it to Telegram's
  `subscription_expiration_date`; a payment for a plan switched off (or a second subscription
  to a plan the member already holds) is not kept: its Stars go back through the refunder,
  as a payment for an order that can no longer take it does, and the subscription is
  cancelled so Telegram charges it no more;
- `subscription_changed` follows Telegram's `subscription` update (canceled, active, failed);
- `cancel_membership` stops the renewals from the bot (editUserStarSubscription after commit);
- `lapse_membership` ends a membership whose period passed without a renewal (a job).
A tier plan's grant is stored in the member's tier (services/tiers.py recompute takes the
higher of the spend's tier and the active memberships'), recomputed whenever a membership
starts, renews or lapses; a level plan's is read when a join request is decided
(services/levels.py). Only an active membership grants anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import UTCDateTime
from models.community import LEVEL_CORE, LEVEL_VIP
from models.ledger import ACCOUNT_BRAND_REVENUE, ACCOUNT_CUSTOMER_RECEIVABLE
from models.membership import (
    CANCELED_BY_BOT,
    CANCELED_BY_MEMBER,
    MEMBERSHIP_ACTIVE,
    MEMBERSHIP_LAPSED,
    Membership,
    MembershipPeriod,
    MembershipPlan,
)
from models.order import REFUND_MEMBERSHIP, Payment
from services.audit import record_action
from services.db import rowcount
from services.errors import Refused
from services.ledger import STARS, AccountRef, Posting, post
from services.levels import parse_level
from services.member import get_member
from services.order import record_telegram_payment
from services.refund import queue_star_refund
from services.tiers import TierView, list_tiers, recompute
from services.validation import NumberRefused, number

PERIOD = timedelta(days=30)  # Telegram's only subscription period (2592000 seconds)
PERIOD_SECONDS = int(PERIOD.total_seconds())
MAX_STARS = 10_000  # Telegram's highest subscription price
MAX_NAME = 32
# a period that ended is lapsed this long after its end when no renewal came: Telegram
# charges at the end of the period and the payment may arrive a little later
RENEWAL_GRACE = timedelta(hours=1)
PAYLOAD_PREFIX = "mship:"
TX_MEMBERSHIP_PAID = "membership_paid"  # one period of a membership, paid in Stars

# MembershipPaid.kind values
PAID_STARTED = "started"  # the first payment: the membership starts (or starts again)
PAID_RENEWED = "renewed"  # a renewal: the membership runs one more period
PAID_REFUSED = "refused"  # not kept: its Stars go back (see MembershipPaid.refusal)
PAID_AGAIN = "again"  # the same charge delivered again: nothing more happened

# refusal reasons (pre-checkout and payments), keys of the handler's messages
REFUSED_UNKNOWN = "unknown"  # no such plan
REFUSED_OFF = "off"  # staff switched the plan off
REFUSED_PRICE = "price"  # the amount is not the plan's price
REFUSED_HELD = "held"  # the member already holds this plan, renewing


class MembershipError(Refused):
    """A plan or membership change refused. Reasons: name, stars, grant, tier, level (bad
    input to /membership_plan_add), unknown (no such plan), off (switched off already),
    not_member (no active membership of that plan), canceled (its renewals are stopped)."""


class MembershipRefusal(StrEnum):
    """The reasons a MembershipError gives (its `reason`); the handlers map each to a message."""

    STARS = "stars"
    GRANT = "grant"
    TIER = "tier"
    LEVEL = "level"
    NAME = "name"
    UNKNOWN = "unknown"
    OFF = "off"
    NOT_MEMBER = "not_member"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class PlanView:
    """A plan as staff and members see it."""

    id: int
    name: str
    stars: int
    tier: TierView | None  # the tier it grants, or None for a level plan
    level: str  # the group level it grants ("" for a tier plan)
    active: bool
    members: int = 0  # active memberships of it


@dataclass(frozen=True, slots=True)
class MembershipView:
    """A member's membership of a plan."""

    id: int
    member_id: int
    plan: PlanView
    status: str
    period_end: datetime
    renews: bool  # Telegram charges the next period
    canceled_by: str
    subscription_charge_id: str


@dataclass(frozen=True, slots=True)
class MembershipPaid:
    """What a subscription payment did."""

    kind: str  # PAID_* above
    amount: int
    membership: MembershipView | None  # started or renewed (or the one a refusal concerns)
    plan: PlanView | None
    refusal: str = ""  # PAID_REFUSED: why
    # a subscription to cancel after commit (user id, its charge id): a refused one, or a
    # renewal of one the bot had cancelled
    cancel: tuple[int, str] | None = None
    locale: str = "en"


@dataclass(frozen=True, slots=True)
class SubscriptionNews:
    """What Telegram's `subscription` update changed, to tell the member."""

    state: str  # canceled, active or failed
    membership: MembershipView
    lapsed: bool  # a failed renewal after the period ended: the membership lapsed now
    locale: str


@dataclass(frozen=True, slots=True)
class PlanCount:
    """Active memberships of one plan, for /stats."""

    plan: PlanView
    active: int


def payload_of(plan_id: int) -> str:
    """The invoice payload of a plan's subscription link."""
    return f"{PAYLOAD_PREFIX}{plan_id}"


def plan_of_payload(payload: str) -> int | None:
    """The plan a subscription payload names, or None when it names none."""
    digits = payload.removeprefix(PAYLOAD_PREFIX)
    if not payload.startswith(PAYLOAD_PREFIX) or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


def _plan_view(row: MembershipPlan, tiers: tuple[TierView, ...], members: int = 0) -> PlanView:
    assert row.id is not None
    tier = None
    if row.tier_rank is not None:
        tier = next((t for t in tiers if t.rank == row.tier_rank), tiers[-1])
    return PlanView(row.id, row.name, row.stars, tier, row.level, row.active, members)


def _view(row: Membership, plan: PlanView) -> MembershipView:
    assert row.id is not None
    return MembershipView(
        row.id,
        row.member_id,
        plan,
        row.status,
        row.period_end,
        renews=not row.canceled_by,
        canceled_by=row.canceled_by,
        subscription_charge_id=row.subscription_charge_id,
    )


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


async def _membership(session: AsyncSession, *, member_id: int, plan_id: int) -> Membership | None:
    rows = await session.execute(
        select(Membership)
        .where(col(Membership.member_id) == member_id, col(Membership.plan_id) == plan_id)
        .execution_options(populate_existing=True)
    )
    return rows.scalar_one_or_none()


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


async def check_checkout(
    session: AsyncSession, *, payload: str, member_id: int, currency: str, amount: int
) -> str | None:
    """None when Telegram may take the first payment of a subscription; else why not."""
    plan_id = plan_of_payload(payload)
    plan = await session.get(MembershipPlan, plan_id) if plan_id is not None else None
    if plan is None:
        return REFUSED_UNKNOWN
    if not plan.active:
        return REFUSED_OFF
    if currency != STARS or amount != plan.stars:
        return REFUSED_PRICE
    held = await _membership(session, member_id=member_id, plan_id=plan_id or 0)
    if held is not None and held.status == MEMBERSHIP_ACTIVE and not held.canceled_by:
        return REFUSED_HELD
    return None


async def _locale(session: AsyncSession, member_id: int, default_locale: str) -> str:
    member = await get_member(session, member_id)
    return member.locale if member is not None else default_locale


async def take_membership_payment(
    session: AsyncSession,
    *,
    payload: str,
    member_id: int,
    currency: str,
    amount: int,
    charge_id: str,
    first: bool,
    expires_at: datetime | None,
    now: datetime,
    default_locale: str,
    tier_currency: str,
) -> MembershipPaid:
    """A subscription payment, once per charge: it starts or extends the membership and books
    the period on the ledger; or, for a plan no longer sold (or one the member holds through
    another subscription), its Stars go back and the subscription is cancelled."""
    locale = await _locale(session, member_id, default_locale)
    booked = (
        await session.execute(
            select(col(MembershipPeriod.id)).where(col(MembershipPeriod.charge_id) == charge_id)
        )
    ).scalar_one_or_none()
    refused = (
        await session.execute(
            select(col(Payment.id)).where(col(Payment.telegram_charge_id) == charge_id)
        )
    ).scalar_one_or_none()
    if booked is not None or refused is not None:
        return MembershipPaid(PAID_AGAIN, amount, None, None, locale=locale)
    plan_id = plan_of_payload(payload)
    plan_row = await session.get(MembershipPlan, plan_id) if plan_id is not None else None
    plan = _plan_view(plan_row, await list_tiers(session)) if plan_row is not None else None
    row = await _membership(session, member_id=member_id, plan_id=plan_id or 0)
    # the subscription this payment belongs to: its first charge, or the one on the row
    subscription = charge_id if first or row is None else row.subscription_charge_id
    refusal = ""
    if plan is None:
        refusal = REFUSED_UNKNOWN
    elif not plan.active:
        refusal = REFUSED_OFF
    elif currency != STARS:
        refusal = REFUSED_PRICE
    elif (
        first
        and row is not None
        and row.status == MEMBERSHIP_ACTIVE
        and row.subscription_charge_id != charge_id
        and not row.canceled_by
    ):
        refusal = REFUSED_HELD  # a second subscription to a plan they hold and renew
    if refusal:
        await record_telegram_payment(
            session,
            payload=payload,
            member_id=member_id,
            currency=currency,
            amount=amount,
            charge_id=charge_id,
        )
        if currency == STARS:
            await queue_star_refund(
                session,
                charge_id=charge_id,
                member_id=member_id,
                order_id=None,
                amount=amount,
                currency=currency,
                reason=REFUND_MEMBERSHIP,
            )
        if row is not None and subscription == row.subscription_charge_id:
            await session.execute(
                update(Membership)
                .where(col(Membership.id) == row.id)
                .values(canceled_by=CANCELED_BY_BOT, updated_at=now)
            )
            await session.refresh(row)
        return MembershipPaid(
            PAID_REFUSED,
            amount,
            _view(row, plan) if row is not None and plan is not None else None,
            plan,
            refusal=refusal,
            cancel=(member_id, subscription),
            locale=locale,
        )
    assert plan is not None and plan_id is not None
    period_end = expires_at if expires_at is not None else now + PERIOD
    starts = row is None or first or row.status != MEMBERSHIP_ACTIVE
    # a renewal of a subscription the bot had asked to cancel: Telegram charged anyway, so the
    # period is kept, and the cancellation asked again
    cancel_again = not first and row is not None and row.canceled_by == CANCELED_BY_BOT
    if row is None:
        row = Membership(
            member_id=member_id,
            plan_id=plan_id,
            status=MEMBERSHIP_ACTIVE,
            subscription_charge_id=charge_id,
            period_end=period_end,
            started_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
    else:
        values: dict[str, object] = {
            "status": MEMBERSHIP_ACTIVE,
            # a renewal never shortens the period, whichever of two renewals commits last
            "period_end": period_end
            if starts
            else case(
                (col(Membership.period_end) < period_end, literal(period_end, UTCDateTime())),
                else_=col(Membership.period_end),
            ),
            "failed_at": None,
            "updated_at": now,
        }
        if first:
            values |= {"subscription_charge_id": charge_id, "canceled_by": "", "started_at": now}
        await session.execute(update(Membership).where(col(Membership.id) == row.id).values(values))
        await session.refresh(row)
    assert row.id is not None
    session.add(
        MembershipPeriod(
            membership_id=row.id,
            charge_id=charge_id,
            stars=amount,
            period_end=row.period_end,
            recurring=not first,
            created_at=now,
        )
    )
    await post(
        session,
        key=f"membership:{charge_id}:paid",
        kind=TX_MEMBERSHIP_PAID,
        postings=[
            Posting(AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, member_id), STARS, -amount),
            Posting(AccountRef(ACCOUNT_BRAND_REVENUE), STARS, amount),
        ],
        memo=f"membership #{row.id} {plan.name} to {row.period_end:%Y-%m-%d}",
        actor_id=member_id,
        at=now,
    )
    await recompute(session, member_id=member_id, currency=tier_currency, now=now)
    return MembershipPaid(
        PAID_STARTED if first else PAID_RENEWED,
        amount,
        _view(row, plan),
        plan,
        cancel=(member_id, row.subscription_charge_id) if cancel_again else None,
        locale=locale,
    )


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
