"""What a member reads of the program: their code, their referrals and rewards, and the
leaderboard they may choose to appear on.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import ACCOUNT_MEMBER_COMMISSION, ACCOUNT_MEMBER_COMMISSION_PENDING
from models.member import Member
from models.referral import (
    REFERRAL_HELD,
    REFERRAL_PENDING,
    REFERRAL_REVERSED,
    REFERRAL_REWARDED,
    Referral,
    ReferralCode,
)
from services.ledger import AccountRef, balances
from services.referral.links import member_code
from services.referral.values import QUALIFIED_STATUSES, LeaderboardRow, MemberReferrals


async def member_referrals(session: AsyncSession, member_id: int) -> MemberReferrals:
    """A member's referral figures: counts by status, points and commission earned."""
    counts: dict[str, int] = {
        status: int(count)
        for status, count in (
            await session.execute(
                select(col(Referral.status), func.count())
                .where(col(Referral.referrer_id) == member_id)
                .group_by(col(Referral.status))
            )
        ).all()
    }
    points = (
        await session.execute(
            select(func.coalesce(func.sum(col(Referral.reward_points)), 0)).where(
                col(Referral.referrer_id) == member_id,
                col(Referral.status) == REFERRAL_REWARDED,
            )
        )
    ).scalar_one()
    code = (
        await session.execute(
            select(col(ReferralCode.code)).where(col(ReferralCode.member_id) == member_id)
        )
    ).scalar_one_or_none()
    return MemberReferrals(
        code=code,
        invited=sum(counts.values()),
        qualified=sum(counts.get(s, 0) for s in (*QUALIFIED_STATUSES, REFERRAL_REVERSED)),
        pending=counts.get(REFERRAL_PENDING, 0) + counts.get(REFERRAL_HELD, 0),
        rewarded=counts.get(REFERRAL_REWARDED, 0),
        points=int(points),
        commission_pending=await balances(
            session, AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, member_id)
        ),
        commission_available=await balances(
            session, AccountRef(ACCOUNT_MEMBER_COMMISSION, member_id)
        ),
    )


async def toggle_leaderboard(session: AsyncSession, *, member_id: int) -> bool:
    """Show or hide the member's name on group leaderboards; returns the new setting."""
    await member_code(session, member_id)
    result = await session.execute(
        update(ReferralCode)
        .where(col(ReferralCode.member_id) == member_id)
        .values(show_on_leaderboard=~col(ReferralCode.show_on_leaderboard))
        .returning(col(ReferralCode.show_on_leaderboard))
    )
    return bool(result.scalar_one())


async def leaderboard(
    session: AsyncSession, *, community_id: int, limit: int = 10
) -> list[LeaderboardRow]:
    """The group's top inviters by qualified referrals (first orders placed in the group)."""
    qualified = func.count().label("qualified")
    rows = await session.execute(
        select(
            col(Referral.referrer_id),
            qualified,
            col(Member.first_name),
            col(ReferralCode.show_on_leaderboard),
        )
        .join(Member, col(Member.id) == col(Referral.referrer_id))
        .join(ReferralCode, col(ReferralCode.member_id) == col(Referral.referrer_id))
        .where(
            col(Referral.community_id) == community_id,
            col(Referral.status).in_(QUALIFIED_STATUSES),
        )
        .group_by(
            col(Referral.referrer_id), col(Member.first_name), col(ReferralCode.show_on_leaderboard)
        )
        .order_by(qualified.desc(), col(Referral.referrer_id))
        .limit(limit)
    )
    return [
        LeaderboardRow(int(member or 0), (name or str(member)) if listed else None, int(count))
        for member, count, name, listed in rows.all()
    ]
