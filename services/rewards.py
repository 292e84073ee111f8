"""The redeem catalog: rewards staff offer for points, with stock that is never oversold, and
the fulfilment tasks of physical rewards that staff hand over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.coupons import CouponTemplate
from models.rewards import (
    FULFILMENT_HANDED_OVER,
    FULFILMENT_OPEN,
    REWARD_COUPON,
    REWARD_PHYSICAL,
    Fulfilment,
    Redemption,
    Reward,
)
from services.coupons import CouponError, grant
from services.db import rowcount
from services.paging import Page, count_of, page_of, window
from services.points import (
    MAX_POINTS,
    REASON_REDEEM,
    PointsError,
    PointsRefusal,
    points_balance,
    spend,
)

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
    kind: str = REWARD_PHYSICAL

    @property
    def physical(self) -> bool:
        """Staff hand it over: redeeming it opens a fulfilment task."""
        return self.kind == REWARD_PHYSICAL


def _view(row: Reward, redeemed: int = 0) -> RewardView:
    assert row.id is not None
    return RewardView(
        row.id,
        row.title,
        row.cost,
        row.stock,
        row.active,
        redeemed,
        row.coupon_template_id,
        row.kind,
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
        raise PointsError(PointsRefusal.BAD_TITLE)
    if not 0 < cost <= MAX_POINTS:
        raise PointsError(PointsRefusal.BAD_AMOUNT, str(cost))
    if stock is not None and not 0 <= stock <= MAX_STOCK:
        raise PointsError(PointsRefusal.BAD_STOCK, str(stock))
    row = Reward(
        title=title,
        cost=cost,
        stock=stock,
        created_by=created_by,
        coupon_template_id=coupon_template_id,
        kind=REWARD_PHYSICAL if coupon_template_id is None else REWARD_COUPON,
    )
    session.add(row)
    await session.flush()
    return _view(row)


async def set_reward_active(session: AsyncSession, *, reward_id: int, active: bool) -> bool:
    result = await session.execute(
        update(Reward).where(col(Reward.id) == reward_id).values(active=active)
    )
    return bool(rowcount(result))


async def list_rewards(
    session: AsyncSession, *, limit: int, offset: int = 0, active_only: bool = True
) -> Page[RewardView]:
    """A page of the catalog, cheapest first, with how many times each was redeemed."""
    limit, offset = window(limit, offset)
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
    total = await count_of(session, statement)
    rows = await session.execute(statement.limit(limit).offset(offset))
    return Page([_view(row, int(n)) for row, n in rows.all()], offset, total)


@dataclass(frozen=True, slots=True)
class RedeemQuote:
    """What redeeming a reward would cost the member now, shown before they confirm."""

    reward: RewardView
    balance: int  # the member's points now
    after: int  # what they would have left


async def quote_redeem(session: AsyncSession, *, reward_id: int, member_id: int) -> RedeemQuote:
    """The cost and the balance after (negative: not enough points), or PointsError when it
    cannot be redeemed now (gone, out of stock). Nothing is changed."""
    reward = await session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise PointsError(PointsRefusal.NO_REWARD, str(reward_id))
    if reward.stock is not None and reward.stock <= 0:
        raise PointsError(PointsRefusal.OUT_OF_STOCK, str(reward_id))
    balance = await points_balance(session, member_id)
    return RedeemQuote(_view(reward), balance, balance - reward.cost)


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A redemption made: what it was, where the member finds it, and what they have left."""

    reward: RewardView
    redemption_id: int
    balance: int  # the member's points after it
    coupon_code: str | None = None  # a coupon reward: the code now in the member's /coupons
    fulfilment_id: int | None = None  # a physical reward: the task staff hand it over by


async def redeem(
    session: AsyncSession, *, reward_id: int, member_id: int, key: str, now: datetime
) -> Redeemed:
    """Spend the member's points on a reward: one unit of stock, taken by a conditional
    UPDATE, and the points, in a savepoint; either both happen or neither. A coupon reward
    puts the coupon in the member's /coupons; a physical one opens a fulfilment task.

    `key` makes a repeated confirmation one redemption: the ledger's unique idempotency key
    refuses the second (PointsError "repeated"), whatever the concurrency.
    """
    reward = await session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise PointsError(PointsRefusal.NO_REWARD, str(reward_id))
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
        if rowcount(taken) != 1:
            raise PointsError(PointsRefusal.OUT_OF_STOCK, str(reward_id))
        spent = await spend(
            session,
            member_id=member_id,
            points=reward.cost,
            reason=REASON_REDEEM,
            key=key,
            memo=f"reward #{reward_id} {reward.title}"[:255],
        )
        if not spent.created:
            raise PointsError(PointsRefusal.REPEATED, key)
        row = Redemption(reward_id=reward_id, member_id=member_id, cost=reward.cost)
        session.add(row)
        await session.flush()
        assert row.id is not None
        coupon_code = task_id = None
        if reward.kind == REWARD_PHYSICAL:
            task = Fulfilment(
                redemption_id=row.id, member_id=member_id, title=reward.title, created_at=now
            )
            session.add(task)
            await session.flush()
            task_id = task.id
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
            template = await session.get(CouponTemplate, reward.coupon_template_id)
            coupon_code = template.code if template is not None else None
    await session.refresh(reward)
    return Redeemed(
        _view(reward),
        row.id,
        await points_balance(session, member_id),
        coupon_code,
        task_id,
    )


@dataclass(frozen=True, slots=True)
class FulfilmentView:
    id: int
    redemption_id: int
    member_id: int
    title: str
    status: str
    created_at: datetime
    handed_over_by: int | None
    handed_over_at: datetime | None


def _task(row: Fulfilment) -> FulfilmentView:
    assert row.id is not None
    return FulfilmentView(
        row.id,
        row.redemption_id,
        row.member_id,
        row.title,
        row.status,
        row.created_at,
        row.handed_over_by,
        row.handed_over_at,
    )


async def open_fulfilments(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> Page[FulfilmentView]:
    """A page of the physical rewards waiting to be handed over, oldest first."""
    statement = (
        select(Fulfilment)
        .where(col(Fulfilment.status) == FULFILMENT_OPEN)
        .order_by(col(Fulfilment.id))
    )
    return await page_of(session, statement, _task, limit=limit, offset=offset)


class FulfilmentError(Exception):
    """A hand-over that cannot be recorded; `reason` says why (not_found, already)."""

    def __init__(self, reason: str, task: FulfilmentView | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task = task


async def hand_over(
    session: AsyncSession, *, fulfilment_id: int, staff_id: int, now: datetime
) -> FulfilmentView:
    """Marks a physical reward handed over, once: a conditional UPDATE from open, so a second
    tap (or a second staff member at the same moment) gets FulfilmentError("already")."""
    marked = await session.execute(
        update(Fulfilment)
        .where(col(Fulfilment.id) == fulfilment_id, col(Fulfilment.status) == FULFILMENT_OPEN)
        .values(status=FULFILMENT_HANDED_OVER, handed_over_by=staff_id, handed_over_at=now)
    )
    row = await session.get(Fulfilment, fulfilment_id, populate_existing=True)
    if row is None:
        raise FulfilmentError("not_found")
    if rowcount(marked) != 1:
        raise FulfilmentError("already", _task(row))
    await session.execute(
        update(Redemption).where(col(Redemption.id) == row.redemption_id).values(delivered=True)
    )
    return _task(row)
