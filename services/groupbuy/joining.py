"""Joining a group-buy: a member sets (or adds to) their units, under the per-member limit and
the stock, by conditional writes in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GROUPBUY_OPEN, GroupBuyJoin
from services.db import execute_rows, insert_in, prepared, table_of
from services.groupbuy._common import _check_vip, _count_units, _empty_join, _position
from services.groupbuy.lists import _leave_list
from services.groupbuy.read import _READ_FOR_JOIN, _view_of
from services.groupbuy.stock import _count_variant, _refuse_other_variant, _variant_name
from services.groupbuy.values import GroupBuyError, GroupBuyRefusal, GroupBuyView, JoinResult


async def set_quantity(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    quantity: int,
    now: datetime,
    add: bool = False,
    variant_id: int | None = None,
) -> JoinResult:
    """Set (or with add=True, increase) the member's units; 0 leaves. Refused with a reason.
    A group-buy with variants is joined with one variant (`variant_id`; choose_variant when
    missing, other_variant when the member holds units of another one); its units come out of
    that variant's own stock.

    Order of work: the member's join row first (the per-member limit, and the old quantity
    under its row lock), then the group-buy's counters (the stock); both are conditional, so a
    refusal anywhere rolls the whole change back with the caller's transaction.
    """
    if type(quantity) is not int or quantity < 0 or (add and quantity == 0):
        raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
    read = _READ_FOR_JOIN(session)
    ids = {"groupbuy_id": groupbuy_id, "chat_id": chat_id, "member_id": member_id}
    row = (await execute_rows(session, read, ids)).first()
    # a button names the group-buy by id, which a client can edit: only the groups it was
    # posted in may change it, or a join would be credited to another group's leader
    if row is None or not row.posted:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    found = _view_of(row)
    if found.status != GROUPBUY_OPEN or found.deadline <= now:
        raise GroupBuyError(GroupBuyRefusal.CLOSED)
    if quantity > 0:
        await _check_vip(session, found, member_id, chat_id, now)
    if found.multi:  # a sign-up list is ordered by its lines (change_lines)
        if quantity == 0 and not add:
            return await _leave_list(session, found, member_id, chat_id, now)
        raise GroupBuyError(GroupBuyRefusal.CHOOSE_VARIANT)
    if found.with_variants and quantity > 0 and variant_id is None and not row.held:
        raise GroupBuyError(GroupBuyRefusal.CHOOSE_VARIANT)
    if not found.with_variants:
        variant_id = None
    if add:
        return await _add_units(session, found, member_id, chat_id, quantity, now, variant_id)
    created = None
    if row.held is None:
        if quantity == 0:
            raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
        created = await _empty_join(session, groupbuy_id, member_id, chat_id, now)
    if created is not None:
        old = 0  # the row is new, and this transaction holds it
    else:
        old, variant_id = await _lock_join(session, found, member_id, variant_id)
    new = quantity
    if new > found.per_member_limit:
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    if new == old:
        if new == 0:
            raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
        position = await _position(session, groupbuy_id, member_id)
        return JoinResult(found, new, position)
    if found.with_variants:
        await _count_variant(session, found.id, variant_id, new - old)
    try:
        counted = await _count_units(session, found, new - old, old, new, now)
    except GroupBuyError:
        if found.with_variants:  # the variant's counter goes back with the refusal
            await _count_variant(session, found.id, variant_id, old - new)
        raise
    await _write_join(session, groupbuy_id, member_id, chat_id, old, new, now, variant_id)
    # the counters as this update left them (others' joins included); the rest is as read
    after = replace(found, units_sold=counted.units_sold, participants=counted.participants)
    position = await _position(session, groupbuy_id, member_id) if new else 0
    return JoinResult(after, new, position)


async def _lock_join(
    session: AsyncSession, found: GroupBuyView, member_id: int, variant_id: int | None
) -> tuple[int, int | None]:
    """Lock the member's row and read the quantity it holds now (concurrent taps of one
    member queue here; SQLite serialises writers anyway), with the variant a change is of:
    the one they hold (other_variant when they ask for another one)."""
    locked = select(col(GroupBuyJoin.quantity), col(GroupBuyJoin.variant_id)).where(
        col(GroupBuyJoin.groupbuy_id) == found.id,
        col(GroupBuyJoin.member_id) == member_id,
    )
    if session.get_bind().dialect.name == "postgresql":
        locked = locked.with_for_update()
    old, held_variant = (await session.execute(locked)).one()
    old = int(old)
    if found.with_variants and old > 0:  # a change is of the variant they hold
        if variant_id is not None and variant_id != held_variant:
            raise GroupBuyError(
                GroupBuyRefusal.OTHER_VARIANT, await _variant_name(session, held_variant)
            )
        variant_id = held_variant
    return old, variant_id


async def _write_join(
    session: AsyncSession,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    old: int,
    new: int,
    now: datetime,
    variant_id: int | None,
) -> None:
    """The member's row moves from `old` to `new` units (after the counters took the change)."""
    values: dict[str, object] = {"quantity": new, "updated_at": now, "chat_id": chat_id}
    if old == 0:
        values["joined_at"] = now  # a member who comes back goes to the end of the list
        values["variant_id"] = variant_id
    await session.execute(
        update(GroupBuyJoin)
        .where(
            col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
            col(GroupBuyJoin.member_id) == member_id,
            col(GroupBuyJoin.quantity) == old,
        )
        .values(**values)
    )


def _add_to_join(dialect: str) -> Any:
    """A tap on Join: the member's row gains `quantity` units (created on the first tap), under
    the per-member `limit`; nothing is written when the limit would be passed. A member who
    comes back after leaving goes to the end of the list."""
    joins = table_of(GroupBuyJoin)
    statement = insert_in(dialect, joins).values(
        groupbuy_id=bindparam("groupbuy_id"),
        member_id=bindparam("member_id"),
        chat_id=bindparam("chat_id"),
        quantity=bindparam("quantity"),
        joined_at=bindparam("now"),
        updated_at=bindparam("now"),
        variant_id=bindparam("variant_id"),
    )
    added = joins.c.quantity + statement.excluded.quantity
    return statement.on_conflict_do_update(
        index_elements=["groupbuy_id", "member_id"],
        set_={
            "quantity": added,
            "chat_id": statement.excluded.chat_id,
            "updated_at": statement.excluded.updated_at,
            "joined_at": case(
                (joins.c.quantity == 0, statement.excluded.joined_at), else_=joins.c.joined_at
            ),
            "variant_id": statement.excluded.variant_id,
        },
        # a member holds one variant: another one only once they left (quantity 0)
        where=and_(
            added <= bindparam("limit"),
            or_(
                joins.c.quantity == 0,
                joins.c.variant_id.is_not_distinct_from(statement.excluded.variant_id),
            ),
        ),
    ).returning(joins.c.quantity, _place_of_row().label("place"))


def _place_of_row() -> Any:
    """The place on the sign-up list of the row a statement writes, for its RETURNING: the
    rows with units ahead of it (joined earlier, or at the same time with a smaller id), plus
    one. The row is named by the table (SQLAlchemy does not correlate a subquery into
    RETURNING); itself is never counted, whether or not the subquery sees its new version."""
    ahead = table_of(GroupBuyJoin).alias("ahead")
    mine: dict[str, Any] = {
        name: literal_column(f"groupbuy_join.{name}") for name in ("groupbuy_id", "joined_at", "id")
    }
    counted = (
        select(func.count())
        .select_from(ahead)
        .where(
            ahead.c.groupbuy_id == mine["groupbuy_id"],
            ahead.c.quantity > 0,
            or_(
                ahead.c.joined_at < mine["joined_at"],
                and_(ahead.c.joined_at == mine["joined_at"], ahead.c.id < mine["id"]),
            ),
        )
        .scalar_subquery()
    )
    return counted + 1


_ADD_TO_JOIN = prepared(_add_to_join)


async def _add_units(
    session: AsyncSession,
    found: GroupBuyView,
    member_id: int,
    chat_id: int,
    quantity: int,
    now: datetime,
    variant_id: int | None = None,
) -> JoinResult:
    """A Join tap: the member's row first (the per-member limit, under its row lock), then the
    counters (the variant's stock, then the group-buy's); a refusal of the counters puts the
    member's row back as it was."""
    if quantity > found.per_member_limit:
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    if found.units_sold + quantity > found.stock_cap:  # as read; the counters decide for sure
        raise GroupBuyError(GroupBuyRefusal.SOLD_OUT, str(found.units_left))
    values: dict[str, Any] = {"groupbuy_id": found.id, "member_id": member_id, "chat_id": chat_id}
    values |= {"quantity": quantity, "now": now, "limit": found.per_member_limit}
    values["variant_id"] = variant_id
    joined = (await execute_rows(session, _ADD_TO_JOIN(session), values)).one_or_none()
    if joined is None:
        if found.with_variants:
            await _refuse_other_variant(session, found.id, member_id, variant_id)
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    # the place on the list comes with the member's row, before the counters: their row is
    # the hot one every join updates, and its lock is held from the UPDATE to the commit
    new, position = joined
    old = new - quantity
    try:
        if found.with_variants:
            await _count_variant(session, found.id, variant_id, quantity)
        try:
            counted = await _count_units(session, found, quantity, old, new, now)
        except GroupBuyError:
            if found.with_variants:  # the variant's counter goes back with the refusal
                await _count_variant(session, found.id, variant_id, -quantity)
            raise
    except GroupBuyError:
        await session.execute(
            update(GroupBuyJoin)
            .where(col(GroupBuyJoin.groupbuy_id) == found.id)
            .where(col(GroupBuyJoin.member_id) == member_id)
            .values(quantity=old)
        )
        raise
    after = replace(found, units_sold=counted.units_sold, participants=counted.participants)
    return JoinResult(after, new, position)
