"""Sign-up lists (接龙): a member's order of several items at once, all or nothing, and the
lines members hold.

A sign-up list is a group-buy whose variants are its items (GroupBuyVariant rows, numbered
from 1 in their order): each keeps its price, its own stock counter (moved by the same
conditional UPDATE as a variant's) and its own minimum. A member has one join row (the sum
of their units, their place on the list) and one line per item they ordered (GroupBuyLine);
at forming, each line becomes an order of that item, priced and stocked as a variant's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GROUPBUY_OPEN, GroupBuyJoin, GroupBuyLine
from services.db import insert_for, table_of
from services.groupbuy._common import _check_vip, _count_units, _empty_join, _position
from services.groupbuy.read import _READ_FOR_JOIN, _must, _view_of, get_groupbuy
from services.groupbuy.stock import _count_variant, groupbuy_variants
from services.groupbuy.values import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyVariantView,
    GroupBuyView,
    JoinResult,
)


@dataclass(frozen=True, slots=True)
class LineChange:
    """What a member asks of one item of a sign-up list: `quantity` more (`add`), else that
    many in all (0 takes the item off their order)."""

    item: int  # the item's number on the list, from 1
    quantity: int
    add: bool = False


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of a member's order in a sign-up list."""

    item: int  # the item's number on the list
    variant_id: int
    name: str
    unit_price: int
    quantity: int


@dataclass(frozen=True, slots=True)
class ListOrder:
    """A member's order in a sign-up list after a change: its lines and their place."""

    groupbuy: GroupBuyView
    lines: tuple[OrderLine, ...]
    position: int  # their number on the list (0: they have no units left)

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def total(self) -> int:
        return sum(line.quantity * line.unit_price for line in self.lines)


def _item_detail(number: int, item: GroupBuyVariantView, figure: int | str) -> str:
    """A refusal's detail about one item: its number, name and the figure that refused it."""
    return f"{number}\t{item.name}\t{figure}"


async def change_lines(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    changes: list[LineChange],
    now: datetime,
) -> ListOrder:
    """Change a member's order in a sign-up list, several items at once, all or nothing: a
    refusal of any line (unknown_item, item_over_limit or item_sold_out, whose detail is
    "number<TAB>name<TAB>figure"; closed, vip_only, not_joined) takes back every line.

    Order of work: the member's join row (created empty, then locked: one member's taps queue
    there), then each item's counter in the order of its id (so two orders never wait on each
    other crosswise), then the group-buy's counters: each a conditional UPDATE, never oversold.
    """
    for change in changes:
        if type(change.item) is not int or type(change.quantity) is not int:
            raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
        if change.quantity < 0 or (change.add and change.quantity == 0):
            raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
    if not changes:
        raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
    async with session.begin_nested():  # a refusal anywhere takes back every line
        return await _change_lines(session, groupbuy_id, member_id, chat_id, changes, now)


async def _change_lines(
    session: AsyncSession,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    changes: list[LineChange],
    now: datetime,
) -> ListOrder:
    """change_lines' work, inside its savepoint."""
    found, joined = await _list_to_change(session, groupbuy_id, member_id, chat_id, changes, now)
    if not joined:
        await _empty_join(session, groupbuy_id, member_id, chat_id, now)
    locked = select(col(GroupBuyJoin.quantity)).where(
        col(GroupBuyJoin.groupbuy_id) == groupbuy_id, col(GroupBuyJoin.member_id) == member_id
    )
    if session.get_bind().dialect.name == "postgresql":
        locked = locked.with_for_update()
    old_total = int((await session.execute(locked)).scalar_one())
    held = await _lines_of(session, groupbuy_id, member_id)
    wanted = _wanted_lines(found, held, changes)
    new_total = sum(wanted.values())
    if new_total == 0 and old_total == 0:
        raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
    await _count_items(session, found, wanted, held)
    if new_total != old_total:
        delta = new_total - old_total
        counted = await _count_units(session, found, delta, old_total, new_total, now)
        units_sold, people = int(counted.units_sold), int(counted.participants)
    else:
        units_sold, people = found.units_sold, found.participants
    await _write_lines(session, groupbuy_id, member_id, wanted, held, now)
    values: dict[str, object] = {"quantity": new_total, "updated_at": now, "chat_id": chat_id}
    if old_total == 0:
        values["joined_at"] = now  # a member who comes back goes to the end of the list
    await session.execute(
        update(GroupBuyJoin)
        .where(
            col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
            col(GroupBuyJoin.member_id) == member_id,
        )
        .values(**values)
    )
    fresh = await groupbuy_variants(session, groupbuy_id)
    after = replace(found, units_sold=units_sold, participants=people, variants=fresh)
    position = await _position(session, groupbuy_id, member_id) if new_total else 0
    return ListOrder(after, _order_lines(after, wanted), position)


async def _list_to_change(
    session: AsyncSession,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    changes: list[LineChange],
    now: datetime,
) -> tuple[GroupBuyView, bool]:
    """The sign-up list as the member may change it now, with its items, and whether the
    member has a join row yet; not_found (not a list, or not posted in the chat), closed,
    the VIP window's refusals, or unknown_item for a number the list does not have."""
    ids = {"groupbuy_id": groupbuy_id, "chat_id": chat_id, "member_id": member_id}
    row = (await session.execute(_READ_FOR_JOIN(session), ids)).first()
    if row is None or not row.posted:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    found = _view_of(row)
    if not found.multi:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    if found.status != GROUPBUY_OPEN or found.deadline <= now:
        raise GroupBuyError(GroupBuyRefusal.CLOSED)
    if any(change.quantity for change in changes):
        await _check_vip(session, found, member_id, chat_id, now)
    found = replace(found, variants=await groupbuy_variants(session, groupbuy_id))
    for change in changes:
        if found.item(change.item) is None:
            raise GroupBuyError(GroupBuyRefusal.UNKNOWN_ITEM, str(change.item))
    return found, row.held is not None


def _wanted_lines(
    found: GroupBuyView, held: Mapping[int, int], changes: list[LineChange]
) -> dict[int, int]:
    """The member's units per item (variant id) once the changes are made; item_over_limit
    for an item past the per-member limit."""
    wanted = dict(held)
    for change in changes:
        item = found.item(change.item)
        assert item is not None
        before = wanted.get(item.variant_id, 0)
        wanted[item.variant_id] = before + change.quantity if change.add else change.quantity
    numbers = {item.variant_id: n for n, item in enumerate(found.variants, start=1)}
    by_id = {item.variant_id: item for item in found.variants}
    for variant_id, quantity in wanted.items():
        if quantity > found.per_member_limit:
            number = numbers[variant_id]
            detail = _item_detail(number, by_id[variant_id], found.per_member_limit)
            raise GroupBuyError(GroupBuyRefusal.ITEM_OVER_LIMIT, detail)
    return wanted


async def _count_items(
    session: AsyncSession, found: GroupBuyView, wanted: Mapping[int, int], held: Mapping[int, int]
) -> None:
    """Each item's counter takes the member's change, in the order of its id (so two orders
    never wait on each other crosswise); item_sold_out names the item that had too few."""
    numbers = {item.variant_id: n for n, item in enumerate(found.variants, start=1)}
    by_id = {item.variant_id: item for item in found.variants}
    for variant_id in sorted(wanted):
        delta = wanted[variant_id] - held.get(variant_id, 0)
        try:
            await _count_variant(session, found.id, variant_id, delta)
        except GroupBuyError as exc:
            if exc.reason != "sold_out":
                raise
            detail = _item_detail(numbers[variant_id], by_id[variant_id], exc.detail or "0")
            raise GroupBuyError(GroupBuyRefusal.ITEM_SOLD_OUT, detail) from None


async def _write_lines(
    session: AsyncSession,
    groupbuy_id: int,
    member_id: int,
    wanted: Mapping[int, int],
    held: Mapping[int, int],
    now: datetime,
) -> None:
    """The member's lines that changed, written (an upsert each)."""
    lines = table_of(GroupBuyLine)
    for variant_id in sorted(wanted):
        if wanted[variant_id] == held.get(variant_id, 0):
            continue
        upsert = insert_for(session, lines).values(
            groupbuy_id=groupbuy_id,
            member_id=member_id,
            variant_id=variant_id,
            quantity=wanted[variant_id],
            updated_at=now,
        )
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=["groupbuy_id", "member_id", "variant_id"],
                set_={"quantity": upsert.excluded.quantity, "updated_at": now},
            )
        )


def _order_lines(gb: GroupBuyView, held: Mapping[int, int]) -> tuple[OrderLine, ...]:
    """The member's units per item as lines, in the list's order (items they hold none of
    left out)."""
    return tuple(
        OrderLine(number, item.variant_id, item.name, item.unit_price, held[item.variant_id])
        for number, item in enumerate(gb.variants, start=1)
        if held.get(item.variant_id, 0) > 0
    )


async def _lines_of(session: AsyncSession, groupbuy_id: int, member_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(col(GroupBuyLine.variant_id), col(GroupBuyLine.quantity)).where(
            col(GroupBuyLine.groupbuy_id) == groupbuy_id,
            col(GroupBuyLine.member_id) == member_id,
        )
    )
    return {int(variant): int(quantity) for variant, quantity in rows.all() if quantity}


async def list_lines(session: AsyncSession, groupbuy_id: int) -> dict[int, tuple[OrderLine, ...]]:
    """Every member's lines in a sign-up list, by member (members with no units left out)."""
    gb = await get_groupbuy(session, groupbuy_id)
    if gb is None or not gb.multi:
        return {}
    rows = await session.execute(
        select(
            col(GroupBuyLine.member_id), col(GroupBuyLine.variant_id), col(GroupBuyLine.quantity)
        ).where(col(GroupBuyLine.groupbuy_id) == groupbuy_id, col(GroupBuyLine.quantity) > 0)
    )
    held: dict[int, dict[int, int]] = {}
    for member_id, variant_id, quantity in rows.all():
        held.setdefault(int(member_id), {})[int(variant_id)] = int(quantity)
    return {member_id: _order_lines(gb, lines) for member_id, lines in held.items()}


async def my_lines(session: AsyncSession, *, groupbuy_id: int, member_id: int) -> ListOrder:
    """The member's order in a sign-up list as it stands (no lines: they have none)."""
    gb = await _must(session, groupbuy_id)
    held = await _lines_of(session, groupbuy_id, member_id)
    position = await _position(session, groupbuy_id, member_id)
    return ListOrder(gb, _order_lines(gb, held), position)


def formed_items(gb: GroupBuyView) -> set[int]:
    """The items (variant ids) of a sign-up list that form now: item by item, each ordered
    item at its own minimum; as a whole, every ordered item when the list's minimum and each
    ordered item's own minimum are reached, else none."""
    ordered = [item for item in gb.variants if item.units_sold > 0]
    if gb.form_per_item:
        return {item.variant_id for item in ordered if item.reached}
    if gb.reached and all(item.reached for item in ordered):
        return {item.variant_id for item in ordered}
    return set()


async def _leave_list(
    session: AsyncSession, found: GroupBuyView, member_id: int, chat_id: int, now: datetime
) -> JoinResult:
    """Leave a sign-up list: every line of the member's order taken off."""
    found = replace(found, variants=await groupbuy_variants(session, found.id))
    held = await _lines_of(session, found.id, member_id)
    numbers = {item.variant_id: n for n, item in enumerate(found.variants, start=1)}
    changes = [LineChange(numbers[variant_id], 0) for variant_id in held if variant_id in numbers]
    if not changes:
        raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
    ids = {"groupbuy_id": found.id, "member_id": member_id, "chat_id": chat_id}
    left = await change_lines(session, **ids, changes=changes, now=now)
    return JoinResult(left.groupbuy, 0, 0)
