"""What a referral earns: the newcomer's welcome gift, the referrer's reward on the invitee's
first paid order (under a daily cap), commission up the chain (held until the refund window
ends, then released), and what a refund takes back.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import (
    ACCOUNT_BRAND_COMMISSION_EXPENSE,
    ACCOUNT_MEMBER_COMMISSION,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
)
from models.member import Member
from models.order import ORDER_FULFILLED, ORDER_PAID, Order
from models.referral import (
    REFERRAL_PENDING,
    REFERRAL_QUALIFIED,
    REFERRAL_REVERSED,
    REFERRAL_REWARDED,
    Referral,
    ReferralCampaign,
)
from services.commission import CommissionHold, release_held
from services.db import rowcount
from services.ledger import AccountRef, Posting, post
from services.points import REASON_REFERRAL, REASON_WELCOME, award, reserve_daily
from services.referral.values import (
    COMMISSION_STATUSES,
    DAILY_COUNTER,
    TX_COMMISSION_ADJUST,
    TX_REFERRAL_COMMISSION,
    TX_REFERRAL_COMMISSION_RELEASE,
    PaidOutcome,
    ReferralRules,
)


async def _chain(
    session: AsyncSession, member_id: int, *, statuses: tuple[str, ...] | None
) -> list[int]:
    """The referrers above a member, nearest first (a guard stops at any repeated member)."""
    chain: list[int] = []
    seen = {member_id}
    current = member_id
    for _level in range(64):
        query = select(col(Referral.referrer_id)).where(col(Referral.invitee_id) == current)
        if statuses is not None:
            query = query.where(col(Referral.status).in_(statuses))
        above = (await session.execute(query)).scalar_one_or_none()
        if above is None or above in seen:
            break
        chain.append(above)
        seen.add(above)
        current = above
    return chain


def _day(now: datetime, rules: ReferralRules) -> date:
    return now.astimezone(ZoneInfo(rules.timezone)).date()


async def _welcome(
    session: AsyncSession,
    *,
    member_id: int,
    campaign: ReferralCampaign | None,
    now: datetime,
    rules: ReferralRules,
) -> int:
    points = campaign.welcome_points if campaign is not None else rules.welcome_points
    if points <= 0:
        return 0
    grant = await award(
        session,
        member_id=member_id,
        reason=REASON_WELCOME,
        points=points,
        key=f"referral:{member_id}:welcome",
        day=_day(now, rules),
        memo="welcome gift for joining through an invitation",
        at=now,
    )
    return grant.points


async def _reward(
    session: AsyncSession, *, referral: Referral, order_id: int, now: datetime, rules: ReferralRules
) -> tuple[int | None, int]:
    """Post the first-order reward once: to the referrer (within their daily limit of rewarded
    referrals and the daily points cap) or, for a campaign, to the newcomer. Returns who got
    how many points; the status becomes rewarded, or stays qualified when nothing was due."""
    day = _day(now, rules)
    if referral.referrer_id is not None:
        recipient, points = referral.referrer_id, rules.reward_points
    else:
        campaign = await session.get(ReferralCampaign, referral.campaign_id)
        recipient, points = referral.invitee_id, campaign.reward_points if campaign else 0
    if points <= 0:
        return None, 0
    if referral.referrer_id is not None and not await reserve_daily(
        session,
        member_id=recipient,
        reason=DAILY_COUNTER,
        day=day,
        wanted=1,
        cap=rules.daily_limit,
    ):
        return None, 0
    grant = await award(
        session,
        member_id=recipient,
        reason=REASON_REFERRAL,
        points=points,
        key=f"referral:{referral.invitee_id}:reward",
        day=day,
        cap=rules.points_cap,
        memo=f"first order #{order_id} of an invited friend",
        order_id=order_id,
        at=now,
    )
    if grant.points <= 0:
        return None, 0
    await session.execute(
        update(Referral)
        .where(
            col(Referral.invitee_id) == referral.invitee_id,
            col(Referral.status) == REFERRAL_QUALIFIED,
        )
        .values(status=REFERRAL_REWARDED, reward_points=grant.points, rewarded_at=now)
    )
    return recipient, grant.points


async def order_paid(
    session: AsyncSession, *, order_id: int, now: datetime, rules: ReferralRules
) -> PaidOutcome:
    """After an order is paid: qualify the buyer's referral on their first paid order (and
    reward it), then book commission up the chain as pending. Safe to call again."""
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None or order.status not in (ORDER_PAID, ORDER_FULFILLED):
        return PaidOutcome()
    referral = await session.get(Referral, order.member_id, populate_existing=True)
    if referral is None:
        return PaidOutcome()
    buyer = await session.get(Member, order.member_id)
    if buyer is not None and buyer.forgotten_at is not None:
        # a member who asked to be forgotten starts fresh: their old referral pays no more
        return PaidOutcome()
    rewarded_id, points = None, 0
    first = await session.execute(
        update(Referral)
        .where(col(Referral.invitee_id) == order.member_id, col(Referral.first_order_id).is_(None))
        .values(first_order_id=order_id, community_id=order.chat_id, qualified_at=now)
    )
    if rowcount(first) == 1:
        moved = await session.execute(
            update(Referral)
            .where(
                col(Referral.invitee_id) == order.member_id,
                col(Referral.status) == REFERRAL_PENDING,
            )
            .values(status=REFERRAL_QUALIFIED)
        )
        if rowcount(moved) == 1:
            await session.refresh(referral)
            rewarded_id, points = await _reward(
                session, referral=referral, order_id=order_id, now=now, rules=rules
            )
    commission = await _book_commission(session, order=order, now=now, rules=rules)
    return PaidOutcome(
        rewarded_id=rewarded_id,
        reward_points=points,
        invitee_id=order.member_id,
        commission=commission,
        currency=order.currency,
    )


async def _book_commission(
    session: AsyncSession, *, order: Order, now: datetime, rules: ReferralRules
) -> tuple[tuple[int, int], ...]:
    assert order.id is not None
    levels = rules.levels
    if not levels:
        return ()
    chain = await _chain(session, order.member_id, statuses=COMMISSION_STATUSES)
    shares = tuple(
        (member, order.paid_amount * rate // 10_000)
        for member, rate in zip(chain[: len(levels)], levels, strict=False)
    )
    shares = tuple((member, amount) for member, amount in shares if amount > 0)
    if not shares:
        return ()
    total = sum(amount for _member, amount in shares)
    await post(
        session,
        key=f"order:{order.id}:referral-commission",
        kind=TX_REFERRAL_COMMISSION,
        postings=[
            Posting(AccountRef(ACCOUNT_BRAND_COMMISSION_EXPENSE), order.currency, -total),
            *(
                Posting(
                    AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, member), order.currency, amount
                )
                for member, amount in shares
            ),
        ],
        memo=f"referral commission on order #{order.id}",
        order_id=order.id,
        at=now,
    )
    return shares


async def order_refunded(session: AsyncSession, *, order_id: int) -> None:
    """A full refund of a first order: its referral counts as reversed (the ledger side is
    undone by the refund itself: the reward clawed back, the commission reversed)."""
    await session.execute(
        update(Referral)
        .where(
            col(Referral.first_order_id) == order_id,
            col(Referral.status).in_((REFERRAL_QUALIFIED, REFERRAL_REWARDED)),
        )
        .values(status=REFERRAL_REVERSED)
    )


REFERRAL_HOLD = CommissionHold(
    booked=(TX_REFERRAL_COMMISSION, TX_COMMISSION_ADJUST),
    pending=ACCOUNT_MEMBER_COMMISSION_PENDING,
    earned=ACCOUNT_MEMBER_COMMISSION,
    release=TX_REFERRAL_COMMISSION_RELEASE,
    key="referral-commission-release",
    label="referral commission",
)


async def release_referral_commissions(
    session: AsyncSession, *, now: datetime, window: timedelta
) -> int:
    """Release the pending referral commission of orders paid longer ago than the refund window
    and not refunded, each once. Returns how many orders were released."""
    return await release_held(session, REFERRAL_HOLD, now=now, window=window)
