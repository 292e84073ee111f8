"""Pickup points and their keepers: adding and removing them, which points a group-buy
offers, and the point an order chooses.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.groupbuy import GroupBuyPost
from models.member import Member
from models.order import ORDER_AWAITING_PAYMENT, ORDER_PAID, ORDER_RESERVED, Order
from models.pickup import GroupBuyPickupPoint, PickupKeeper, PickupPoint
from services.db import insert_for, rowcount, table_of
from services.errors import Refused
from services.order import OrderView, buyer_name, order_view
from services.role import is_staff, led_communities

NAME_MAX = 64  # the lengths of PickupPoint's columns, named in the refusals
ADDRESS_MAX = 200
HOURS_MAX = 100
# an order may choose its point, or have it changed, until it is picked up
CHOOSABLE = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT, ORDER_PAID)


class PickupError(Refused):
    """A pickup-point or pickup-code action refused; `reason` is a stable code handlers
    translate, `order` and `point` say which when the message names them."""

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        order: OrderView | None = None,
        point: PointView | None = None,
    ) -> None:
        super().__init__(reason, detail)
        self.order = order
        self.point = point


@dataclass(frozen=True, slots=True)
class Keeper:
    """A keeper of a point, with the name to show."""

    member_id: int
    name: str


@dataclass(frozen=True, slots=True)
class PointView:
    """A pickup point as plain values, with its keepers."""

    id: int
    community_id: int
    name: str
    address: str
    hours: str
    active: bool
    keepers: tuple[Keeper, ...] = ()


async def _views(session: AsyncSession, rows: list[PickupPoint]) -> list[PointView]:
    ids = [row.id for row in rows if row.id is not None]
    keepers: dict[int, list[Keeper]] = {}
    if ids:
        found = await session.execute(
            select(PickupKeeper, Member)
            .join(Member, col(Member.id) == col(PickupKeeper.member_id), isouter=True)
            .where(col(PickupKeeper.point_id).in_(ids))
            .order_by(col(PickupKeeper.id))
        )
        for keeper, member in found.all():
            keepers.setdefault(keeper.point_id, []).append(
                Keeper(keeper.member_id, buyer_name(member, keeper.member_id))
            )
    views = []
    for row in rows:
        assert row.id is not None
        views.append(
            PointView(
                id=row.id,
                community_id=row.community_id,
                name=row.name,
                address=row.address,
                hours=row.hours,
                active=row.active,
                keepers=tuple(keepers.get(row.id, ())),
            )
        )
    return views


async def get_point(session: AsyncSession, point_id: int) -> PointView | None:
    """The pickup point with this id, active or not."""
    row = await session.get(PickupPoint, point_id, populate_existing=True)
    return (await _views(session, [row]))[0] if row is not None else None


async def points_of(
    session: AsyncSession, *, community_ids: frozenset[int] | None = None
) -> list[PointView]:
    """The active pickup points of these groups (None: of every group), by group then id."""
    query = select(PickupPoint).where(col(PickupPoint.active).is_(True))
    if community_ids is not None:
        query = query.where(col(PickupPoint.community_id).in_(list(community_ids)))
    rows = await session.execute(query.order_by(col(PickupPoint.community_id), col(PickupPoint.id)))
    return await _views(session, list(rows.scalars().all()))


async def kept_points(session: AsyncSession, *, member_id: int) -> list[PointView]:
    """The active points the member keeps: named a keeper there, or leading its group."""
    led = await led_communities(session, member_id=member_id)
    named = select(col(PickupKeeper.point_id)).where(col(PickupKeeper.member_id) == member_id)
    rows = await session.execute(
        select(PickupPoint)
        .where(
            col(PickupPoint.active).is_(True),
            col(PickupPoint.id).in_(named) | col(PickupPoint.community_id).in_(list(led)),
        )
        .order_by(col(PickupPoint.id))
    )
    return await _views(session, list(rows.scalars().all()))


async def may_manage_points(
    session: AsyncSession, *, community_id: int, member_id: int, owner_ids: frozenset[int]
) -> bool:
    """Staff and the owner manage every group's points; a leader, those of the groups they
    lead now."""
    if member_id in owner_ids or await is_staff(session, member_id):
        return True
    return community_id in await led_communities(session, member_id=member_id)


def _field(value: str, limit: int, field: str) -> str:
    text = " ".join(value.split())
    if len(text) > limit:
        raise PickupError("too_long", f"{field} {limit}")
    return text


async def add_point(
    session: AsyncSession,
    *,
    community_id: int,
    name: str,
    address: str,
    hours: str,
    actor_id: int,
) -> PointView:
    """A new pickup point of the group; its name must be new among the group's points."""
    name = _field(name, NAME_MAX, "name")
    if not name:
        raise PickupError("no_name")
    address = _field(address, ADDRESS_MAX, "address")
    hours = _field(hours, HOURS_MAX, "hours")
    same = await session.execute(
        select(col(PickupPoint.id)).where(
            col(PickupPoint.community_id) == community_id,
            col(PickupPoint.active).is_(True),
            func.lower(col(PickupPoint.name)) == name.lower(),
        )
    )
    if same.first() is not None:
        raise PickupError("duplicate_name", name)
    row = PickupPoint(
        community_id=community_id, name=name, address=address, hours=hours, created_by=actor_id
    )
    session.add(row)
    await session.flush()
    return (await _views(session, [row]))[0]


async def remove_point(session: AsyncSession, *, point_id: int) -> bool:
    """Retire a point: no longer offered; orders that chose it keep naming it."""
    done = await session.execute(
        update(PickupPoint)
        .where(col(PickupPoint.id) == point_id, col(PickupPoint.active).is_(True))
        .values(active=False)
    )
    return bool(rowcount(done))


async def add_keeper(
    session: AsyncSession, *, point_id: int, member_id: int, actor_id: int
) -> bool:
    """Name the member a keeper of the point; False when they already were one."""
    inserted = await session.execute(
        insert_for(session, table_of(PickupKeeper))
        .values(point_id=point_id, member_id=member_id, added_by=actor_id, added_at=utcnow())
        .on_conflict_do_nothing(index_elements=["point_id", "member_id"])
        .returning(col(PickupKeeper.id))
    )
    return inserted.first() is not None


async def remove_keeper(session: AsyncSession, *, point_id: int, member_id: int) -> bool:
    """The member keeps the point no more; False when they did not keep it."""
    done = await session.execute(
        delete(PickupKeeper).where(
            col(PickupKeeper.point_id) == point_id, col(PickupKeeper.member_id) == member_id
        )
    )
    return bool(rowcount(done))


async def groupbuy_point_ids(session: AsyncSession, *, groupbuy_id: int) -> set[int]:
    """The points a group-buy chose to offer (empty: it offers its groups' points)."""
    rows = await session.execute(
        select(col(GroupBuyPickupPoint.point_id)).where(
            col(GroupBuyPickupPoint.groupbuy_id) == groupbuy_id
        )
    )
    return set(rows.scalars().all())


async def offered_points(session: AsyncSession, *, order_id: int) -> list[PointView]:
    """The points the order can be picked up at: the active points of the group it was
    placed in, narrowed to those its group-buy offers when it chose some there."""
    row = await session.get(Order, order_id)
    if row is None:
        return []
    group_points = await points_of(session, community_ids=frozenset({row.chat_id}))
    if row.groupbuy_id is None:
        return group_points
    chosen = await groupbuy_point_ids(session, groupbuy_id=row.groupbuy_id)
    return [p for p in group_points if p.id in chosen] or group_points


async def set_groupbuy_points(
    session: AsyncSession, *, groupbuy_id: int, point_ids: list[int]
) -> list[PointView]:
    """The group-buy offers these points from now on (none: every point of its groups again).
    Each must be an active point of a group the group-buy is posted in."""
    posted = await session.execute(
        select(col(GroupBuyPost.chat_id)).where(col(GroupBuyPost.groupbuy_id) == groupbuy_id)
    )
    groups = frozenset(posted.scalars().all())
    points = {p.id: p for p in await points_of(session, community_ids=groups)}
    for point_id in point_ids:
        if point_id not in points:
            raise PickupError("not_offered", str(point_id))
    await session.execute(
        delete(GroupBuyPickupPoint).where(col(GroupBuyPickupPoint.groupbuy_id) == groupbuy_id)
    )
    for point_id in dict.fromkeys(point_ids):
        session.add(GroupBuyPickupPoint(groupbuy_id=groupbuy_id, point_id=point_id))
    await session.flush()
    return [points[point_id] for point_id in dict.fromkeys(point_ids)]


async def groupbuy_points(session: AsyncSession, *, groupbuy_id: int) -> list[PointView]:
    """The points a group-buy offers: its choice, or every active point of its groups."""
    chosen = await groupbuy_point_ids(session, groupbuy_id=groupbuy_id)
    posted = await session.execute(
        select(col(GroupBuyPost.chat_id)).where(col(GroupBuyPost.groupbuy_id) == groupbuy_id)
    )
    points = await points_of(session, community_ids=frozenset(posted.scalars().all()))
    return [p for p in points if p.id in chosen] if chosen else points


async def choose_point(
    session: AsyncSession, *, order_id: int, member_id: int, point_id: int
) -> PointView:
    """The member picks where to collect their order, among the points it is offered at,
    until it is picked up."""
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None or row.member_id != member_id:
        raise PickupError("not_yours")
    point = next(
        (p for p in await offered_points(session, order_id=order_id) if p.id == point_id), None
    )
    if point is None:
        raise PickupError("no_point", str(point_id))
    done = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.status).in_(CHOOSABLE))
        .values(pickup_point_id=point_id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(done) != 1:
        raise PickupError("not_choosable", order=order_view(row))
    return point
