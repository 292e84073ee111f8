"""The redeem catalog: rewards staff offer for points, with stock that is never oversold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.perks import Redemption, Reward
from services.coupons import CouponError, grant
from services.points import MAX_POINTS, REASON_REDEEM, PointsError, spend

MAX_STOCK = 1_000_000


@dataclass(frozen=True, slots=True)
class RewardView:
    id: int
    title: str
    cost: int
    stock: int | None  # None: unlimited
    active: bool
    redeemed: int = 0
    coupon_template_id: int | None = None  # redeeming it gives a coupon of this template


def _view(row: Reward, redeemed: int = 0) -> RewardView:
    assert row.id is not None
    return RewardView(
        row.id, row.title, row.cost, row.stock, row.active, redeemed, row.coupon_template_id
    )


async def add_reward(
    session: AsyncSession,
    *,
    title: str,
    cost: int,
    stock: int | None,
    created_by: int,
    coupon_template_id: int | None = None,
) -> RewardView:
    title = " ".join(title.split())
    if not title or len(title) > 128:
        raise PointsError("bad_title")
    if not 0 < cost <= MAX_POINTS:
        raise PointsError("bad_amount", str(cost))
    if stock is not None and not 0 <= stock <= MAX_STOCK:
        raise PointsError("bad_stock", str(stock))
    row = Reward(
        title=title,
        cost=cost,
        stock=stock,
        created_by=created_by,
        coupon_template_id=coupon_template_id,
    )
    session.add(row)
    await session.flush()
    return _view(row)


async def set_reward_active(session: AsyncSession, *, reward_id: int, active: bool) -> bool:
    result = await session.execute(
        update(Reward).where(col(Reward.id) == reward_id).values(active=active)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_rewards(session: AsyncSession, *, active_only: bool = True) -> list[RewardView]:
    counts = (
        select(col(Redemption.reward_id), func.count().label("n"))
        .group_by(col(Redemption.reward_id))
        .subquery()
    )
    statement = (
        select(Reward, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.reward_id == col(Reward.id))
        .order_by(col(Reward.cost), col(Reward.id))
    )
    if active_only:
        statement = statement.where(col(Reward.active))
    rows = await session.execute(statement)
    return [_view(row, int(n)) for row, n in rows.all()]


async def redeem(
    session: AsyncSession, *, reward_id: int, member_id: int, key: str, now: datetime
) -> tuple[RewardView, int]:
    """Spend the member's points on a reward: one unit of stock, taken by a conditional
    UPDATE, and the points, in a savepoint; either both happen or neither.

    Returns the reward and the redemption id. `key` makes a repeated tap one redemption.
    """
    reward = await session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise PointsError("no_reward", str(reward_id))
    async with session.begin_nested():
        taken = await session.execute(
            update(Reward)
            .where(
                col(Reward.id) == reward_id,
                col(Reward.active),
                col(Reward.stock).is_(None) | (col(Reward.stock) > 0),
            )
            .values(stock=col(Reward.stock) - 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise PointsError("out_of_stock", str(reward_id))
        spent = await spend(
            session,
            member_id=member_id,
            points=reward.cost,
            reason=REASON_REDEEM,
            key=key,
            memo=f"reward #{reward_id} {reward.title}"[:255],
        )
        if not spent.created:
            raise PointsError("repeated", key)
        row = Redemption(reward_id=reward_id, member_id=member_id, cost=reward.cost)
        session.add(row)
        await session.flush()
        if reward.coupon_template_id is not None:
            try:
                await grant(
                    session,
                    template_id=reward.coupon_template_id,
                    member_id=member_id,
                    source=f"reward:{row.id}",
                    now=now,
                )
            except CouponError as exc:  # expired or over the member's limit: nothing happens
                raise PointsError("coupon_" + exc.reason, str(reward_id)) from None
    await session.refresh(reward)
    assert row.id is not None
    return _view(reward), row.id
