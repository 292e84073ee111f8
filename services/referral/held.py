"""Staff review of held referrals (a burst of sign-ups through one code): the list, and the
decision that approves (with the gifts and rewards they were waiting for) or rejects them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.member import Member
from models.order import ORDER_FULFILLED, ORDER_PAID, Order
from models.referral import (
    REFERRAL_HELD,
    REFERRAL_PENDING,
    REFERRAL_QUALIFIED,
    REFERRAL_REJECTED,
    REFERRAL_REVERSED,
    Referral,
    ReferralCampaign,
    ReferralCode,
)
from services.db import rowcount
from services.paging import Page, count_of, window
from services.referral.rewards import _book_commission, _reward, _welcome
from services.referral.values import (
    HeldReferral,
    ReferralError,
    ReferralRefusal,
    ReferralRules,
    Review,
)
from services.validation import shown


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
