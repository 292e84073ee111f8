"""An order paid, as one story: the order settled on the ledger, its points granted at the tier
held when paying, the member's tier recomputed, the referral program's first-order reward and
commission booked, and a first buyer's invitation to their buyers' group claimed. Whoever the
money came through (a leader who collected it, a Telegram payment) calls one verb here and
renders the outcome; nothing is told before the commit.

Like every verb, these run in the caller's unit of work (the update's, or a job's
`unit_of_work`): they never talk to Telegram, and what they decide to say is in the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.order import PAYMENT_RECEIVED, PAYMENT_REFUNDED_BACK, REFUND_UNPAYABLE
from services.levels import BuyersInvitation, buyers_invitation
from services.loyalty import reward_paid_order
from services.member import get_member
from services.order import (
    OrderView,
    PaymentOutcome,
    mark_paid_offline,
    mark_refund_due,
    record_telegram_payment,
)
from services.referral import ReferralRules, order_paid
from services.refund import queue_star_refund
from services.role import staff_locales
from services.shipping import ShippingGiven
from services.tiers import TierView


@dataclass(frozen=True, slots=True)
class PaymentRules:
    """What a paid order earns, as configured (handlers build it from the settings)."""

    points_per_unit: int
    tier_currency: str  # the currency (or points) tiers are measured in
    referral: ReferralRules


@dataclass(frozen=True, slots=True)
class Reader:
    """Someone a message of the outcome goes to, in their language."""

    id: int
    locale: str


@dataclass(frozen=True, slots=True)
class ReferralReward:
    """The first-order reward a paid order released."""

    member_id: int  # who got it: the inviter, or the buyer for a campaign's reward
    points: int
    newcomer: bool  # True when the buyer got it (a campaign), not the one who invited them
    reader: Reader | None  # None when they never started the bot and cannot be told


@dataclass(frozen=True, slots=True)
class PaidOrder:
    """What paying an order did."""

    order: OrderView
    points: int  # granted for the order now (0 when none were due or granted before)
    new_tier: TierView | None  # the tier the buyer moved up to, None when it did not rise
    buyer: Reader | None  # None when the buyer never started the bot and cannot be told
    referral: ReferralReward | None
    commission: tuple[tuple[int, int], ...] = ()  # referral commission booked (member, amount)
    # the buyer's first paid order: their invitation to the buyers' group of their area
    buyers_group: BuyersInvitation | None = None


@dataclass(frozen=True, slots=True)
class PaymentTaken:
    """What a successful Telegram payment did: it paid its order, or its money goes back."""

    payment: PaymentOutcome
    paid: PaidOrder | None = None  # the order it paid (PAYMENT_RECEIVED)
    star_refund: bool = False  # Stars that paid nothing, committed as a pending refund
    staff: tuple[Reader, ...] = ()  # to tell that a provider payment must be paid back by hand


async def _reader(session: AsyncSession, member_id: int) -> Reader | None:
    member = await get_member(session, member_id)
    if member is None or not member.started:
        return None
    return Reader(member.id, member.locale)


async def _rewards(
    session: AsyncSession, order: OrderView, *, rules: PaymentRules, now: datetime
) -> PaidOrder:
    """Everything an order's payment earns: points, tier, the referral reward and commission."""
    reward = await reward_paid_order(
        session,
        order_id=order.id,
        points_per_unit=rules.points_per_unit,
        tier_currency=rules.tier_currency,
        now=now,
    )
    referral = await order_paid(session, order_id=order.id, now=now, rules=rules.referral)
    rewarded = None
    if referral.rewarded_id is not None and referral.reward_points:
        rewarded = ReferralReward(
            member_id=referral.rewarded_id,
            points=referral.reward_points,
            newcomer=referral.rewarded_id == referral.invitee_id,
            reader=await _reader(session, referral.rewarded_id),
        )
    return PaidOrder(
        order=order,
        points=reward.points,
        new_tier=reward.change.after if reward.change.moved_up else None,
        buyer=await _reader(session, order.member_id),
        referral=rewarded,
        commission=referral.commission,
        buyers_group=await buyers_invitation(session, order_id=order.id, now=now),
    )


async def pay_order(
    session: AsyncSession, *, order_id: int, actor_id: int, rules: PaymentRules, now: datetime
) -> PaidOrder:
    """A leader collected an order's money offline: the order paid, with all it earns.

    Raises OrderError (nothing changed) when the order cannot be paid."""
    order = await mark_paid_offline(session, order_id=order_id, actor_id=actor_id, now=now)
    return await _rewards(session, order, rules=rules, now=now)


async def take_payment(
    session: AsyncSession,
    *,
    payload: str,
    member_id: int,
    currency: str,
    amount: int,
    charge_id: str,
    provider_charge_id: str,
    rules: PaymentRules,
    now: datetime,
    owner_ids: Iterable[int],
    default_locale: str,
    shipping: ShippingGiven | None = None,
) -> PaymentTaken:
    """A successful Telegram payment, once per charge: it pays its order with all it earns, or,
    when the order can no longer take it, the money goes back (Stars as a pending refund for
    the refunder; another provider's as owed, for staff to pay back by hand)."""
    payment = await record_telegram_payment(
        session,
        payload=payload,
        member_id=member_id,
        currency=currency,
        amount=amount,
        charge_id=charge_id,
        provider_charge_id=provider_charge_id,
        shipping=shipping,
    )
    if not payment.created:  # the same charge again: it did all it does the first time
        return PaymentTaken(payment)
    if payment.status == PAYMENT_RECEIVED and payment.order is not None:
        return PaymentTaken(
            payment, paid=await _rewards(session, payment.order, rules=rules, now=now)
        )
    if payment.status == PAYMENT_REFUNDED_BACK:
        await queue_star_refund(
            session,
            charge_id=payment.charge_id,
            member_id=member_id,
            order_id=payment.order.id if payment.order else None,
            amount=payment.amount,
            currency=payment.currency,
            reason=REFUND_UNPAYABLE,
        )
        return PaymentTaken(payment, star_refund=True)
    await mark_refund_due(session, charge_id=payment.charge_id)
    staff = await staff_locales(session, owner_ids=owner_ids, default_locale=default_locale)
    return PaymentTaken(payment, staff=tuple(Reader(i, locale) for i, locale in staff))
