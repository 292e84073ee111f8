"""Pickup by code (核销): reading a typed or scanned code, who may redeem it, redeeming it
once, and a point's sheet of orders waiting and picked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.member import Member
from models.order import DELIVERY_PICKUP, ORDER_FULFILLED, ORDER_PAID, ORDER_REFUNDED, Order
from services.order import (
    PICKUP_ALPHABET,
    PICKUP_CODE_LENGTH,
    OrderError,
    OrderView,
    buyer_name,
    mark_fulfilled,
    order_view,
)
from services.pickup.points import (
    PickupError,
    PointView,
    get_point,
    kept_points,
    offered_points,
    points_of,
)
from services.role import is_staff, led_communities

_CODE = re.compile(f"^[{PICKUP_ALPHABET}]{{{PICKUP_CODE_LENGTH}}}$")


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A pickup confirmed by code: the order (now fulfilled) and where."""

    order: OrderView
    point: PointView | None
    buyer_locale: str


@dataclass(frozen=True, slots=True)
class PointSheetLine:
    """An order on a point's sheet."""

    order: OrderView
    name: str
    chosen: bool  # the member chose this point (False: the group's only point, by default)


@dataclass(frozen=True, slots=True)
class PointSheet:
    """A point's pickup sheet: paid orders waiting there, and the orders picked up there."""

    point: PointView
    waiting: tuple[PointSheetLine, ...]
    picked: tuple[PointSheetLine, ...]


def normalize_code(text: str) -> str | None:
    """A typed or scanned pickup code in its stored form (spaces and dashes dropped, upper
    case), or None when it cannot be one."""
    code = re.sub(r"[\s\-]", "", text or "").upper()
    return code if _CODE.match(code) else None


async def _acting_points(
    session: AsyncSession, *, actor_id: int, owner_ids: frozenset[int]
) -> tuple[bool, frozenset[int], frozenset[int]]:
    """Whether the actor is staff, the points they keep, and the groups they lead."""
    if actor_id in owner_ids or await is_staff(session, actor_id):
        return True, frozenset(), frozenset()
    kept = frozenset(p.id for p in await kept_points(session, member_id=actor_id))
    return False, kept, await led_communities(session, member_id=actor_id)


async def is_keeper(session: AsyncSession, *, member_id: int, owner_ids: frozenset[int]) -> bool:
    """Whether the member may confirm pickups anywhere: staff, a leader, or a keeper."""
    staff, kept, led = await _acting_points(session, actor_id=member_id, owner_ids=owner_ids)
    return staff or bool(kept) or bool(led)


async def redeem_code(
    session: AsyncSession, *, code: str, actor_id: int, owner_ids: frozenset[int], now: datetime
) -> Redeemed:
    """Confirm the pickup of the order holding this code (核销), at the actor's point: once.
    A keeper acts at their own points only; the group's leader at any of its points; staff
    anywhere. Refused with PickupError: not_keeper, bad_code, no_code, wrong_point, not_paid,
    refunded, already_picked, own_pickup."""
    staff, kept, led = await _acting_points(session, actor_id=actor_id, owner_ids=owner_ids)
    if not (staff or kept or led):  # nobody else learns whether a code exists
        raise PickupError("not_keeper")
    normal = normalize_code(code)
    if normal is None:
        raise PickupError("bad_code", code[:32])
    row = await session.scalar(
        select(Order)
        .where(col(Order.pickup_code) == normal)
        .execution_options(populate_existing=True)
    )
    if row is None or row.id is None:
        raise PickupError("no_code", normal)
    order = order_view(row)
    chosen = await get_point(session, row.pickup_point_id) if row.pickup_point_id else None
    offered = await offered_points(session, order_id=row.id)
    point: PointView | None
    if staff:
        point = chosen or (offered[0] if len(offered) == 1 else None)
    elif chosen is not None:
        if chosen.id not in kept:
            raise PickupError("wrong_point", order=order, point=chosen)
        point = chosen
    else:
        mine = [p for p in offered if p.id in kept]
        if not mine and row.chat_id not in led:
            # the point to send the member to, when the order can only be picked up at one
            only = offered[0] if len(offered) == 1 else None
            raise PickupError("wrong_point", order=order, point=only)
        point = mine[0] if len(mine) == 1 else None
    if row.status == ORDER_FULFILLED:
        raise PickupError("already_picked", order=order, point=chosen)
    if row.status == ORDER_REFUNDED:
        raise PickupError("refunded", order=order)
    if row.status != ORDER_PAID:
        raise PickupError("not_paid", order=order)
    try:
        done = await mark_fulfilled(
            session,
            order_id=row.id,
            actor_id=actor_id,
            now=now,
            point_id=point.id if point else None,
            note="code",
        )
    except OrderError as exc:
        if exc.reason == "own_pickup":
            raise PickupError("own_pickup", order=order) from exc
        fresh = await session.get(Order, row.id, populate_existing=True)
        if fresh is not None and fresh.status == ORDER_FULFILLED:  # another keeper, just now
            raise PickupError("already_picked", order=order_view(fresh), point=chosen) from exc
        if fresh is not None and fresh.status == ORDER_REFUNDED:  # refunded just now
            raise PickupError("refunded", order=order) from exc
        raise PickupError("not_paid", order=order) from exc
    buyer = await session.get(Member, row.member_id)
    return Redeemed(done, point, buyer.locale if buyer is not None else "")


async def point_sheet(session: AsyncSession, *, point_id: int) -> PointSheet | None:
    """The point's sheet: paid orders waiting there (chosen there, or placed in its group
    without a choice while it is the group's only point), and the orders picked up there."""
    point = await get_point(session, point_id)
    if point is None:
        return None
    only = [p.id for p in await points_of(session, community_ids=frozenset({point.community_id}))]
    here = col(Order.pickup_point_id) == point_id
    if only == [point_id]:
        here = here | (
            col(Order.pickup_point_id).is_(None) & (col(Order.chat_id) == point.community_id)
        )
    rows = await session.execute(
        select(Order, Member)
        .join(Member, col(Member.id) == col(Order.member_id), isouter=True)
        .where(
            here,
            col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED)),
            col(Order.delivery) == DELIVERY_PICKUP,
        )
        .order_by(col(Order.id))
        .execution_options(populate_existing=True)
    )
    waiting: list[PointSheetLine] = []
    picked: list[PointSheetLine] = []
    for order, member in rows.all():
        line = PointSheetLine(
            order_view(order),
            buyer_name(member, order.member_id),
            order.pickup_point_id == point_id,
        )
        (picked if order.status == ORDER_FULFILLED else waiting).append(line)
    return PointSheet(point, tuple(waiting), tuple(picked))
