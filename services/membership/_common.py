"""What the membership verbs share: the period and limits, payment outcomes and refusals,
the views they return, the invoice payload, and reading a membership row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.membership import Membership, MembershipPlan
from services.errors import Refused
from services.member import get_member
from services.tiers import TierView

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


async def _membership(session: AsyncSession, *, member_id: int, plan_id: int) -> Membership | None:
    rows = await session.execute(
        select(Membership)
        .where(col(Membership.member_id) == member_id, col(Membership.plan_id) == plan_id)
        .execution_options(populate_existing=True)
    )
    return rows.scalar_one_or_none()


async def _locale(session: AsyncSession, member_id: int, default_locale: str) -> str:
    member = await get_member(session, member_id)
    return member.locale if member is not None else default_locale
