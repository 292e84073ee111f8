"""Pickup (提货): the leader's sheet of a formed group-buy and the reminders to pay; pickup
points with their keepers, and pickup by code (核销).

The sheet is read from the group-buy's orders, one line per order in the order they were
opened (by id), so a line never moves when another order is paid or picked up: a button that
names an order keeps meaning that order. Marking itself is the order verbs'
(services/order.py), with every rule they carry.

A pickup point belongs to a group; the orders placed in that group are picked up at one of its
active points, the member's choice when there are several. A paid order carries a pickup code
(services/order.py gives it); a keeper of the order's point, the group's leader or staff type
or scan it, and the order moves to fulfilled once: the conditional UPDATE on its status and
version decides between two keepers at the same moment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.groupbuy import GroupBuy, GroupBuyPost
from models.ledger import (
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.order import (
    DELIVERY_PICKUP,
    ORDER_AWAITING_PAYMENT,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_RESERVED,
    Order,
)
from models.pickup import GroupBuyPickupPoint, PickupKeeper, PickupPoint, PickupReminder
from models.product import Product
from services.content import PICKUP_POINT, PICKUP_TIME, TITLE, ReadTranslations, localized, merged
from services.db import insert_for, rowcount, table_of
from services.errors import Refused
from services.order import (
    PICKUP_ALPHABET,
    PICKUP_CODE_LENGTH,
    OrderError,
    OrderView,
    buyer_name,
    mark_fulfilled,
    order_view,
)
from services.role import is_staff, led_communities

# what the sheet lists: every order of the group-buy but those withdrawn before it formed
SHEET_STATUSES = (
    ORDER_RESERVED,
    ORDER_AWAITING_PAYMENT,
    ORDER_PAID,
    ORDER_FULFILLED,
    ORDER_REFUNDED,
)


@dataclass(frozen=True, slots=True)
class PickupLine:
    """One order on the sheet, with the member who placed it."""

    order: OrderView
    name: str

    @property
    def paid(self) -> bool:
        return self.order.status in (ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED)

    @property
    def picked_up(self) -> bool:
        return self.order.status == ORDER_FULFILLED


@dataclass(frozen=True, slots=True)
class ProductTotal:
    """What the group-buy sold of one product: units, amount due, amount paid."""

    title: str
    units: int
    amount: int
    paid: int
    picked_up: int  # units picked up


@dataclass(frozen=True, slots=True)
class PickupSheet:
    """A formed group-buy as its leader runs pickup."""

    groupbuy_id: int
    title: str
    currency: str
    status: str
    opened_by: int
    pickup_point: str
    pickup_time: str
    lines: tuple[PickupLine, ...]
    totals: tuple[ProductTotal, ...]
    commission: int  # booked for the leader on this group-buy's paid orders (net of refunds)
    commission_expected: int  # what it will be once every unpaid order is paid
    commission_bps: int
    # the product's title and the group-buy's pickup texts in other languages
    translations: ReadTranslations = None
    # the group-buy's product: an order of another is a sign-up list's item from the catalogue
    product_id: int | None = None

    def in_language(self, locale: str, default_locale: str) -> PickupSheet:
        """The sheet as a reader of `locale` reads it: the product's title (in the totals
        too) and the pickup texts in their language (services/content.py's fallback)."""
        if not self.translations:
            return self

        def text(field: str, original: str) -> str:
            return localized(original, self.translations, field, locale, default_locale)

        title = text(TITLE, self.title)
        return replace(
            self,
            title=title,
            pickup_point=text(PICKUP_POINT, self.pickup_point),
            pickup_time=text(PICKUP_TIME, self.pickup_time),
            totals=tuple(
                replace(total, title=title) if total.title == self.title else total
                for total in self.totals
            ),
        )

    @property
    def unpaid(self) -> int:
        return sum(1 for line in self.lines if not line.paid)


@dataclass(frozen=True, slots=True)
class Reminded:
    """A member reminded to pay, with their unpaid orders of the group-buy."""

    member_id: int
    locale: str
    orders: tuple[OrderView, ...]


@dataclass(frozen=True, slots=True)
class Reminders:
    """What "Remind unpaid" did: whom it reminds now, how many had been reminded already,
    and the members who cannot be reached in private (they never started the bot)."""

    sheet: PickupSheet
    sent: tuple[Reminded, ...]
    already: int
    unreachable: tuple[str, ...]


async def _commission(session: AsyncSession, order_ids: list[int], leader_id: int) -> int:
    """The leader's commission booked on these orders, pending or released, net of reversals
    and partial-refund adjustments (payouts carry no order, so they do not count here)."""
    if not order_ids:
        return 0
    total = await session.execute(
        select(func.coalesce(func.sum(col(LedgerEntry.amount)), 0))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(
            col(LedgerTransaction.order_id).in_(order_ids),
            col(LedgerAccount.owner_id) == leader_id,
            col(LedgerAccount.kind).in_(
                (ACCOUNT_LEADER_COMMISSION_PENDING, ACCOUNT_LEADER_COMMISSION)
            ),
        )
    )
    return int(total.scalar_one())


async def pickup_sheet(session: AsyncSession, groupbuy_id: int) -> PickupSheet | None:
    """The pickup sheet of a group-buy (None when there is no such group-buy)."""
    gb = await session.get(GroupBuy, groupbuy_id, populate_existing=True)
    if gb is None or gb.id is None:
        return None
    rows = await session.execute(
        select(Order, Member)
        .join(Member, col(Member.id) == col(Order.member_id), isouter=True)
        .where(
            col(Order.groupbuy_id) == groupbuy_id,
            col(Order.status).in_(SHEET_STATUSES),
            col(Order.delivery) == DELIVERY_PICKUP,  # delivered orders are shipped, not here
        )
        .order_by(col(Order.id))
        .execution_options(populate_existing=True)
    )
    lines = tuple(
        PickupLine(order_view(order), buyer_name(member, order.member_id))
        for order, member in rows.all()
    )
    totals: dict[str, list[int]] = {}
    for line in lines:
        order = line.order
        if order.status == ORDER_REFUNDED:
            continue
        figures = totals.setdefault(order.title, [0, 0, 0, 0])
        figures[0] += order.quantity
        figures[1] += order.total
        figures[2] += order.paid_amount - order.refunded_amount
        figures[3] += order.quantity if line.picked_up else 0
    earned = await _commission(session, [line.order.id for line in lines], gb.opened_by)
    product = await session.get(Product, gb.product_id) if gb.product_id else None
    expected = earned + sum(
        line.order.total * gb.commission_bps // 10_000 for line in lines if not line.paid
    )
    return PickupSheet(
        groupbuy_id=gb.id,
        title=gb.title,
        currency=gb.currency,
        status=gb.status,
        opened_by=gb.opened_by,
        pickup_point=gb.pickup_point,
        pickup_time=gb.pickup_time,
        lines=lines,
        totals=tuple(ProductTotal(title, *figures) for title, figures in totals.items()),
        commission=earned,
        commission_expected=expected,
        commission_bps=gb.commission_bps,
        translations=merged(product.translations if product else None, gb.translations) or None,
        product_id=gb.product_id,
    )


async def runs_pickups(session: AsyncSession, *, member_id: int, owner_ids: frozenset[int]) -> bool:
    """Whether the member runs any pickup: staff, the owner, or a leader of a group now."""
    if member_id in owner_ids or await is_staff(session, member_id):
        return True
    return bool(await led_communities(session, member_id=member_id))


async def may_run_pickup(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, owner_ids: frozenset[int]
) -> bool:
    """Staff and the owner run any group-buy's pickup; a leader, the group-buy they opened,
    while they still lead a group it was posted in (a suspended or removed leader does not)."""
    if member_id in owner_ids or await is_staff(session, member_id):
        return True
    gb = await session.get(GroupBuy, groupbuy_id)
    if gb is None or gb.opened_by != member_id:
        return False
    chats = await session.execute(
        select(col(GroupBuyPost.chat_id)).where(col(GroupBuyPost.groupbuy_id) == groupbuy_id)
    )
    led = await led_communities(session, member_id=member_id)
    return any(chat in led for chat in chats.scalars().all())


async def sheet_order(
    session: AsyncSession, *, groupbuy_id: int, order_id: int
) -> OrderView | None:
    """The order, when it belongs to this group-buy (a button's ids can be forged)."""
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None or row.groupbuy_id != groupbuy_id:
        return None
    return order_view(row)


async def remind_unpaid(
    session: AsyncSession, *, groupbuy_id: int, actor_id: int, now: datetime
) -> Reminders | None:
    """Record one reminder for each unpaid member of the group-buy who can be reached and was
    not reminded before; the unique (group-buy, member) row decides, whatever the concurrency.
    None when there is no such group-buy."""
    sheet = await pickup_sheet(session, groupbuy_id)
    if sheet is None:
        return None
    unpaid: dict[int, list[OrderView]] = {}
    names: dict[int, str] = {}
    for line in sheet.lines:
        if not line.paid:
            unpaid.setdefault(line.order.member_id, []).append(line.order)
            names[line.order.member_id] = line.name
    members = {
        row.id: row
        for row in (
            await session.execute(select(Member).where(col(Member.id).in_(list(unpaid))))
        ).scalars()
    }
    reachable = [m for m in unpaid if members.get(m) is not None and members[m].started]
    unreachable = tuple(names[m] for m in unpaid if m not in reachable)
    sent: list[Reminded] = []
    for member_id in reachable:
        inserted = await session.execute(
            insert_for(session, table_of(PickupReminder))
            .values(
                groupbuy_id=groupbuy_id, member_id=member_id, reminded_by=actor_id, reminded_at=now
            )
            .on_conflict_do_nothing(index_elements=["groupbuy_id", "member_id"])
            .returning(col(PickupReminder.id))
        )
        if inserted.first() is not None:
            sent.append(Reminded(member_id, members[member_id].locale, tuple(unpaid[member_id])))
    return Reminders(sheet, tuple(sent), len(reachable) - len(sent), unreachable)


# -- pickup points, keepers and codes (核销) ------------------------------------------------

NAME_MAX = 64  # the lengths of PickupPoint's columns, named in the refusals
ADDRESS_MAX = 200
HOURS_MAX = 100
# an order may choose its point, or have it changed, until it is picked up
CHOOSABLE = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT, ORDER_PAID)
_CODE = re.compile(f"^[{PICKUP_ALPHABET}]{{{PICKUP_CODE_LENGTH}}}$")


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
