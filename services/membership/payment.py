"""Paying for a membership: the checkout's check, and booking each period Telegram charges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import UTCDateTime
from models.ledger import ACCOUNT_BRAND_REVENUE, ACCOUNT_CUSTOMER_RECEIVABLE
from models.membership import (
    CANCELED_BY_BOT,
    MEMBERSHIP_ACTIVE,
    Membership,
    MembershipPeriod,
    MembershipPlan,
)
from models.order import REFUND_MEMBERSHIP, Payment
from services.ledger import STARS, AccountRef, Posting, post
from services.membership._common import (
    PAID_AGAIN,
    PAID_REFUSED,
    PAID_RENEWED,
    PAID_STARTED,
    PERIOD,
    REFUSED_HELD,
    REFUSED_OFF,
    REFUSED_PRICE,
    REFUSED_UNKNOWN,
    TX_MEMBERSHIP_PAID,
    MembershipPaid,
    PlanView,
    _locale,
    _membership,
    _plan_view,
    _view,
    plan_of_payload,
)
from services.order import record_telegram_payment
from services.refund import queue_star_refund
from services.tiers import list_tiers, recompute


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


@dataclass(frozen=True, slots=True)
class _Charge:
    """One subscription charge, as Telegram reported it."""

    payload: str
    member_id: int
    currency: str
    amount: int
    charge_id: str
    first: bool


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
    charge = _Charge(payload, member_id, currency, amount, charge_id, first)
    locale = await _locale(session, member_id, default_locale)
    if await _taken_before(session, charge_id):
        return MembershipPaid(PAID_AGAIN, amount, None, None, locale=locale)
    plan_id = plan_of_payload(payload)
    plan_row = await session.get(MembershipPlan, plan_id) if plan_id is not None else None
    plan = _plan_view(plan_row, await list_tiers(session)) if plan_row is not None else None
    row = await _membership(session, member_id=member_id, plan_id=plan_id or 0)
    # the subscription this payment belongs to: its first charge, or the one on the row
    subscription = charge_id if first or row is None else row.subscription_charge_id
    refusal = _refusal(charge, plan, row)
    if refusal:
        return await _refuse(session, charge, plan, row, subscription, refusal, locale, now)
    assert plan is not None and plan_id is not None
    period_end = expires_at if expires_at is not None else now + PERIOD
    # a renewal of a subscription the bot had asked to cancel: Telegram charged anyway, so the
    # period is kept, and the cancellation asked again
    cancel_again = not first and row is not None and row.canceled_by == CANCELED_BY_BOT
    row = await _start_or_extend(session, charge, plan_id, row, period_end, now)
    await _book_period(session, charge, plan, row, now)
    await recompute(session, member_id=member_id, currency=tier_currency, now=now)
    return MembershipPaid(
        PAID_STARTED if first else PAID_RENEWED,
        amount,
        _view(row, plan),
        plan,
        cancel=(member_id, row.subscription_charge_id) if cancel_again else None,
        locale=locale,
    )


async def _taken_before(session: AsyncSession, charge_id: str) -> bool:
    """Whether this charge was booked as a period, or kept as a refused payment, already."""
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
    return booked is not None or refused is not None


def _refusal(charge: _Charge, plan: PlanView | None, row: Membership | None) -> str:
    """Why the payment cannot be kept (a REFUSED_ code), or "" when it can."""
    if plan is None:
        return REFUSED_UNKNOWN
    if not plan.active:
        return REFUSED_OFF
    if charge.currency != STARS:
        return REFUSED_PRICE
    if (
        charge.first
        and row is not None
        and row.status == MEMBERSHIP_ACTIVE
        and row.subscription_charge_id != charge.charge_id
        and not row.canceled_by
    ):
        return REFUSED_HELD  # a second subscription to a plan they hold and renew
    return ""


async def _refuse(
    session: AsyncSession,
    charge: _Charge,
    plan: PlanView | None,
    row: Membership | None,
    subscription: str,
    refusal: str,
    locale: str,
    now: datetime,
) -> MembershipPaid:
    """Keep the refused payment on record, send its Stars back, and mark the subscription to
    be cancelled when it is the membership's."""
    await record_telegram_payment(
        session,
        payload=charge.payload,
        member_id=charge.member_id,
        currency=charge.currency,
        amount=charge.amount,
        charge_id=charge.charge_id,
    )
    if charge.currency == STARS:
        await queue_star_refund(
            session,
            charge_id=charge.charge_id,
            member_id=charge.member_id,
            order_id=None,
            amount=charge.amount,
            currency=charge.currency,
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
        charge.amount,
        _view(row, plan) if row is not None and plan is not None else None,
        plan,
        refusal=refusal,
        cancel=(charge.member_id, subscription),
        locale=locale,
    )


async def _start_or_extend(
    session: AsyncSession,
    charge: _Charge,
    plan_id: int,
    row: Membership | None,
    period_end: datetime,
    now: datetime,
) -> Membership:
    """The membership, started (a new row, or a first charge) or extended to `period_end`."""
    starts = row is None or charge.first or row.status != MEMBERSHIP_ACTIVE
    if row is None:
        row = Membership(
            member_id=charge.member_id,
            plan_id=plan_id,
            status=MEMBERSHIP_ACTIVE,
            subscription_charge_id=charge.charge_id,
            period_end=period_end,
            started_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        return row
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
    if charge.first:
        values |= {
            "subscription_charge_id": charge.charge_id,
            "canceled_by": "",
            "started_at": now,
        }
    await session.execute(update(Membership).where(col(Membership.id) == row.id).values(values))
    await session.refresh(row)
    return row


async def _book_period(
    session: AsyncSession, charge: _Charge, plan: PlanView, row: Membership, now: datetime
) -> None:
    """The paid period on record, and its Stars on the ledger as the brand's revenue."""
    assert row.id is not None
    session.add(
        MembershipPeriod(
            membership_id=row.id,
            charge_id=charge.charge_id,
            stars=charge.amount,
            period_end=row.period_end,
            recurring=not charge.first,
            created_at=now,
        )
    )
    await post(
        session,
        key=f"membership:{charge.charge_id}:paid",
        kind=TX_MEMBERSHIP_PAID,
        postings=[
            Posting(
                AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, charge.member_id), STARS, -charge.amount
            ),
            Posting(AccountRef(ACCOUNT_BRAND_REVENUE), STARS, charge.amount),
        ],
        memo=f"membership #{row.id} {plan.name} to {row.period_end:%Y-%m-%d}",
        actor_id=charge.member_id,
        at=now,
    )
