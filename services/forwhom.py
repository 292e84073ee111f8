"""Orders for someone else (代订): whom an order is for, free text such as "Mom, building 3",
set by the member on their own order or by the group's leader or staff on a member's order,
while the order is still to be picked up; shown on pickup sheets, sign-up lists, exports and
the member's orders; every change audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.order import FOR_WHOM_MAX, OPEN_STATUSES, ORDER_PAID, Order
from services.audit import record_action
from services.errors import Refused
from services.role import is_leader, is_staff
from services.validation import shown

# whom the text may still be set on: orders not picked up, refunded, cancelled or expired
SETTABLE_STATUSES = (*OPEN_STATUSES, ORDER_PAID)

# ForWhomSet.by values: in which right the text was set
BY_MEMBER = "member"  # the member, on their own order
BY_LEADER = "leader"  # a leader of the group the order was placed in
BY_STAFF = "staff"  # the brand's staff or the owner


class ForWhomError(Refused):
    """Why the text cannot be set: not_found, not_yours, closed (picked up or withdrawn),
    too_long (detail: the limit)."""


class ForWhomRefusal(StrEnum):
    """The reasons a ForWhomError gives (its `reason`); the handlers map each to a message."""

    NOT_YOURS = "not_yours"
    NOT_FOUND = "not_found"
    TOO_LONG = "too_long"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ForWhomSet:
    """What was set: the order, its member, the text ("" when cleared), and in which right."""

    order_id: int
    member_id: int
    title: str
    for_whom: str
    by: str


def clean_for_whom(text: str) -> str:
    """The text as kept: without control and invisible characters, whitespace collapsed to
    single spaces; refused (too_long) above FOR_WHOM_MAX characters; "" clears."""
    cleaned = " ".join(shown(text).split())
    if len(cleaned) > FOR_WHOM_MAX:
        raise ForWhomError(ForWhomRefusal.TOO_LONG, str(FOR_WHOM_MAX))
    return cleaned


async def _right(
    session: AsyncSession, row: Order, actor_id: int, owner_ids: frozenset[int]
) -> str | None:
    """In which right the actor may set the order's text, or None."""
    if row.member_id == actor_id:
        return BY_MEMBER
    if actor_id in owner_ids or await is_staff(session, actor_id):
        return BY_STAFF
    if await is_leader(session, member_id=actor_id, community_id=row.chat_id):
        return BY_LEADER
    return None


async def set_for_whom(
    session: AsyncSession,
    *,
    order_id: int,
    actor_id: int,
    text: str,
    chat_id: int | None,
    now: datetime,
    owner_ids: frozenset[int] = frozenset(),
    own_only: bool = False,
) -> ForWhomSet:
    """Sets (or with "" clears) whom the order is for: its member, a leader of the group it
    was placed in, or staff, while it is unpaid or paid and not picked up (`own_only`: the
    member's own orders only, as My orders offers). Audited, refusals by others too."""
    row = await session.get(Order, order_id, populate_existing=True)
    right = None if row is None else await _right(session, row, actor_id, owner_ids)
    if own_only and right != BY_MEMBER:
        right = None
    if row is None or right is None:
        if row is not None:
            await record_action(
                session,
                actor_id=actor_id,
                chat_id=chat_id,
                action="order.for_whom",
                allowed=False,
                now=now,
                required_role="leader",
                detail=f"order #{order_id}",
            )
        reason = (
            ForWhomRefusal.NOT_YOURS if row is not None or own_only else ForWhomRefusal.NOT_FOUND
        )
        raise ForWhomError(reason, str(order_id))
    if row.status not in SETTABLE_STATUSES:
        raise ForWhomError(ForWhomRefusal.CLOSED, row.status)
    cleaned = clean_for_whom(text)
    row.for_whom = cleaned
    row.updated_at = now
    session.add(row)
    await session.flush()
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=chat_id,
        action="order.for_whom",
        allowed=True,
        now=now,
        required_role="" if right == BY_MEMBER else "leader",
        detail=f"order #{order_id} ({right}): {cleaned}",
    )
    assert row.id is not None
    return ForWhomSet(row.id, row.member_id, row.title, cleaned, right)


async def for_whom_in_groupbuys(
    session: AsyncSession, groupbuy_ids: list[int]
) -> dict[tuple[int, int], list[str]]:
    """Whom each member's orders in these group-buys are for, by (group-buy, member), in the
    order the orders were placed (orders for the member themself left out)."""
    if not groupbuy_ids:
        return {}
    rows = await session.execute(
        select(col(Order.groupbuy_id), col(Order.member_id), col(Order.for_whom))
        .where(
            col(Order.groupbuy_id).in_(groupbuy_ids),
            col(Order.for_whom) != "",
            col(Order.status).in_(SETTABLE_STATUSES),
        )
        .order_by(col(Order.id))
    )
    found: dict[tuple[int, int], list[str]] = {}
    for gb_id, member_id, for_whom in rows.all():
        if gb_id is not None:
            found.setdefault((int(gb_id), int(member_id)), []).append(str(for_whom))
    return found
