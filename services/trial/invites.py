"""Answering a trial's invitation: a place is taken by a conditional UPDATE (never more than
`places` win), and the winner gets a free trial order, booked as a marketing expense.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import ACCOUNT_BRAND_GOODS_GIVEN, ACCOUNT_BRAND_MARKETING_EXPENSE
from models.order import DELIVERY_PICKUP, DELIVERY_SHIP, ORDER_PAID, Order, OrderEvent
from models.product import FULFIL_DELIVERY, Product, ProductVariant
from models.trial import (
    INVITE_ACCEPTED,
    INVITE_DECLINED,
    INVITE_INVITED,
    INVITE_MISSED,
    PAYMENT_TRIAL,
    TRIAL_OPEN,
    Trial,
    TrialInvite,
)
from services.db import rowcount
from services.ledger import AccountRef, Posting, post
from services.nps import home_community
from services.order import OrderView, get_order, new_pickup_code
from services.trial.read import _view, get_trial_view
from services.trial.values import TrialError, TrialRefusal, TrialView

TX_TRIAL_ORDER = "trial_order"  # a free trial order's value, spent on marketing


@dataclass(frozen=True, slots=True)
class Answer:
    """A member's answer to an invitation: `won` a place (with the free order), or `missed`
    one (every place was taken), or declined."""

    trial: TrialView
    accepted: bool
    won: bool
    order: OrderView | None = None


async def answer_invite(
    session: AsyncSession, *, trial_id: int, member_id: int, accept: bool, now: datetime
) -> Answer:
    """Accept or decline an invitation, once. Accepting takes a place by a conditional UPDATE
    (never past `places`, whatever the concurrency) and makes the free trial order, its value
    booked as a marketing expense; when no place is left the invitation is marked missed."""
    trial = await session.get(Trial, trial_id)
    if trial is None:
        raise TrialError(TrialRefusal.NO_TRIAL, str(trial_id))
    invite = await session.get(TrialInvite, (trial_id, member_id))
    if invite is None:
        raise TrialError(TrialRefusal.NOT_INVITED, str(trial_id))
    if invite.status != INVITE_INVITED:
        raise TrialError(TrialRefusal.ANSWERED, invite.status)
    if accept and (trial.status != TRIAL_OPEN or trial.due_at <= now):
        raise TrialError(TrialRefusal.CLOSED, str(trial_id))
    claimed = await session.execute(
        update(TrialInvite)
        .where(
            col(TrialInvite.trial_id) == trial_id,
            col(TrialInvite.member_id) == member_id,
            col(TrialInvite.status) == INVITE_INVITED,
        )
        .values(status=INVITE_ACCEPTED if accept else INVITE_DECLINED, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        raise TrialError(TrialRefusal.ANSWERED, "")
    if not accept:
        return Answer(await get_trial_view(session, trial_id), accepted=False, won=False)
    place = await session.execute(
        update(Trial)
        .where(
            col(Trial.id) == trial_id,
            col(Trial.status) == TRIAL_OPEN,
            col(Trial.taken) < col(Trial.places),
        )
        .values(taken=col(Trial.taken) + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(place) != 1:
        await session.execute(
            update(TrialInvite)
            .where(col(TrialInvite.trial_id) == trial_id, col(TrialInvite.member_id) == member_id)
            .values(status=INVITE_MISSED)
            .execution_options(synchronize_session=False)
        )
        return Answer(await get_trial_view(session, trial_id), accepted=True, won=False)
    order_id = await _trial_order(session, trial, member_id, now)
    await session.execute(
        update(TrialInvite)
        .where(col(TrialInvite.trial_id) == trial_id, col(TrialInvite.member_id) == member_id)
        .values(order_id=order_id)
        .execution_options(synchronize_session=False)
    )
    return Answer(
        await get_trial_view(session, trial_id),
        accepted=True,
        won=True,
        order=await get_order(session, order_id),
    )


async def _trial_order(session: AsyncSession, trial: Trial, member_id: int, now: datetime) -> int:
    """The free trial order: nothing to pay (paid_amount stays 0, so it is no revenue), ready
    for pickup with its code, or for delivery when the product is only delivered; its value is
    booked from the brand's goods to its marketing expense."""
    view = await _view(session, trial)
    product = await session.get(Product, trial.product_id)
    assert product is not None
    variant = await session.get(ProductVariant, trial.variant_id) if trial.variant_id else None
    # the group the member orders in (so a shared review goes there), else their private chat
    chat_id = await home_community(session, member_id) or member_id
    row = Order(
        member_id=member_id,
        chat_id=chat_id,
        product_id=trial.product_id,
        title=product.title,
        variant_id=trial.variant_id,
        variant_name=variant.name if variant is not None else "",
        quantity=1,
        unit_price=view.value,
        currency=view.currency,
        payment_mode=PAYMENT_TRIAL,
        status=ORDER_PAID,
        pickup_code=await new_pickup_code(session),
        delivery=DELIVERY_SHIP if product.fulfilment == FULFIL_DELIVERY else DELIVERY_PICKUP,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    session.add(
        OrderEvent(
            order_id=row.id,
            to_status=ORDER_PAID,
            actor_id=member_id,
            note=f"free trial #{trial.id}",
            at=now,
        )
    )
    await post(
        session,
        key=f"trial:{trial.id}:{member_id}",
        kind=TX_TRIAL_ORDER,
        postings=[
            Posting(AccountRef(ACCOUNT_BRAND_MARKETING_EXPENSE), view.currency, -view.value),
            Posting(AccountRef(ACCOUNT_BRAND_GOODS_GIVEN), view.currency, view.value),
        ],
        memo=f"free trial #{trial.id}: order #{row.id} {view.title}",
        actor_id=member_id,
        order_id=row.id,
    )
    return row.id
