"""Coupons: templates staff issue, coupons members hold, and applying one to an unpaid order.

A coupon is used at most once: its row moves from held to used by a conditional UPDATE, and
the order takes it by another (its `coupon_id` is unique), both in one savepoint, so two
checkouts racing for one coupon leave exactly one winner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.base import utcnow
from models.coupons import (
    COUPON_FIXED,
    COUPON_HELD,
    COUPON_PERCENT,
    COUPON_USED,
    CouponTemplate,
    MemberCoupon,
)
from models.order import OPEN_STATUSES, Order
from services.db import rowcount, upsert
from services.errors import Refused
from services.paging import Page, count_of, slice_of, window
from services.tiers import standing

CODE = re.compile(r"^[A-Z0-9_-]{3,32}$")
MAX_VALUE = 10**12
MAX_PER_MEMBER = 100


class CouponError(Refused):
    """A coupon operation that was refused; `reason` names why, for a localized message."""


class CouponRefusal(StrEnum):
    """The reasons a CouponError gives (its `reason`); the handlers map each to a message."""

    BAD_CODE = "bad_code"
    BAD_KIND = "bad_kind"
    BAD_VALUE = "bad_value"
    EXPIRED = "expired"
    BAD_LIMIT = "bad_limit"
    CODE_TAKEN = "code_taken"
    NO_COUPON = "no_coupon"
    LIMIT_REACHED = "limit_reached"
    NOT_YOUR_ORDER = "not_your_order"
    ORDER_NOT_OPEN = "order_not_open"
    ORDER_HAS_COUPON = "order_has_coupon"
    USED = "used"
    WRONG_CURRENCY = "wrong_currency"
    BELOW_MIN_SPEND = "below_min_spend"
    TIER_TOO_LOW = "tier_too_low"
    NOTHING_OFF = "nothing_off"
    ORDER_CHANGED = "order_changed"


@dataclass(frozen=True, slots=True)
class TemplateView:
    id: int
    code: str
    kind: str
    value: int
    currency: str
    min_spend: int
    expires_at: datetime | None
    per_member_limit: int
    min_rank: int
    active: bool

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class HeldCoupon:
    id: int
    template: TemplateView
    status: str
    order_id: int | None


def _template(row: CouponTemplate) -> TemplateView:
    assert row.id is not None
    return TemplateView(
        id=row.id,
        code=row.code,
        kind=row.kind,
        value=row.value,
        currency=row.currency,
        min_spend=row.min_spend,
        expires_at=row.expires_at,
        per_member_limit=row.per_member_limit,
        min_rank=row.min_rank,
        active=row.active,
    )


def normalize_code(text: str) -> str:
    return text.strip().upper()


async def create_template(
    session: AsyncSession,
    *,
    code: str,
    kind: str,
    value: int,
    currency: str,
    min_spend: int = 0,
    expires_at: datetime | None = None,
    per_member_limit: int = 1,
    min_rank: int = 0,
    created_by: int,
    now: datetime,
) -> TemplateView:
    code = normalize_code(code)
    if not CODE.match(code):
        raise CouponError(CouponRefusal.BAD_CODE, code)
    if kind not in (COUPON_FIXED, COUPON_PERCENT):
        raise CouponError(CouponRefusal.BAD_KIND, kind)
    if not 0 < value <= (10_000 if kind == COUPON_PERCENT else MAX_VALUE):
        raise CouponError(CouponRefusal.BAD_VALUE, str(value))
    if not 0 <= min_spend <= MAX_VALUE:
        raise CouponError(CouponRefusal.BAD_VALUE, str(min_spend))
    if expires_at is not None and expires_at <= now:
        raise CouponError(CouponRefusal.EXPIRED, code)
    if not 0 < per_member_limit <= MAX_PER_MEMBER:
        raise CouponError(CouponRefusal.BAD_LIMIT, str(per_member_limit))
    if await template_by_code(session, code) is not None:
        raise CouponError(CouponRefusal.CODE_TAKEN, code)
    row = CouponTemplate(
        code=code,
        kind=kind,
        value=value,
        currency=currency,
        min_spend=min_spend,
        expires_at=expires_at,
        per_member_limit=per_member_limit,
        min_rank=max(0, min_rank),
        created_by=created_by,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:  # the same code created concurrently
        raise CouponError(CouponRefusal.CODE_TAKEN, code) from None
    return _template(row)


async def template_by_code(session: AsyncSession, code: str) -> TemplateView | None:
    row = (
        await session.execute(
            select(CouponTemplate).where(col(CouponTemplate.code) == normalize_code(code))
        )
    ).scalar_one_or_none()
    return _template(row) if row else None


async def template_page(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> Page[tuple[TemplateView, int, int]]:
    """A page of the templates, oldest first, each with how many coupons were given out and
    how many were used; and how many templates there are."""
    limit, offset = window(limit, offset)
    total = await template_count(session)
    given = func.count(col(MemberCoupon.id))
    used = func.count(col(MemberCoupon.id)).filter(col(MemberCoupon.status) == COUPON_USED)
    rows = await session.execute(
        select(CouponTemplate, given, used)
        .outerjoin(MemberCoupon, col(MemberCoupon.template_id) == col(CouponTemplate.id))
        .group_by(col(CouponTemplate.id))
        .order_by(col(CouponTemplate.id))
        .limit(limit)
        .offset(offset)
    )
    return Page([(_template(t), int(g), int(u)) for t, g, u in rows.all()], offset, total)


async def template_count(session: AsyncSession) -> int:
    """How many coupon templates staff have created."""
    return await count_of(session, select(col(CouponTemplate.id)))


async def newest_open_order(session: AsyncSession, member_id: int) -> int | None:
    """The member's newest order not yet paid (where /usecoupon without an order goes)."""
    found = await session.execute(
        select(col(Order.id))
        .where(col(Order.member_id) == member_id, col(Order.status).in_(OPEN_STATUSES))
        .order_by(col(Order.id).desc())
        .limit(1)
    )
    newest = found.scalar_one_or_none()
    return int(newest) if newest is not None else None


async def grant(
    session: AsyncSession, *, template_id: int, member_id: int, source: str, now: datetime
) -> HeldCoupon:
    """Give a member a coupon once per source, within the template's per-member limit."""
    query = select(CouponTemplate).where(col(CouponTemplate.id) == template_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # grants of one template queue for the limit count
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None or not row.active:
        raise CouponError(CouponRefusal.NO_COUPON, str(template_id))
    template = _template(row)
    if template.expired(now):
        raise CouponError(CouponRefusal.EXPIRED, template.code)
    existing = await _by_source(session, member_id, source[:64])
    if existing is not None:
        return existing
    held = (
        await session.execute(
            select(func.count()).where(
                col(MemberCoupon.template_id) == template_id,
                col(MemberCoupon.member_id) == member_id,
            )
        )
    ).scalar_one()
    if held >= template.per_member_limit:
        raise CouponError(CouponRefusal.LIMIT_REACHED, template.code)
    await session.execute(
        upsert(
            session,
            MemberCoupon,
            {
                "template_id": template_id,
                "member_id": member_id,
                "status": COUPON_HELD,
                "source": source[:64],
                "granted_at": now,
            },
            keys=["member_id", "source"],
        )
    )
    found = await _by_source(session, member_id, source[:64])
    assert found is not None
    return found


async def _one(session: AsyncSession, *where: Any) -> HeldCoupon | None:
    """The member coupon matching the conditions, with its template."""
    row = (
        await session.execute(
            select(MemberCoupon, CouponTemplate)
            .join(CouponTemplate, col(CouponTemplate.id) == col(MemberCoupon.template_id))
            .where(*where)
        )
    ).one_or_none()
    if row is None:
        return None
    coupon, template = row
    assert coupon.id is not None
    return HeldCoupon(coupon.id, _template(template), coupon.status, coupon.order_id)


async def _by_source(session: AsyncSession, member_id: int, source: str) -> HeldCoupon | None:
    return await _one(
        session, col(MemberCoupon.member_id) == member_id, col(MemberCoupon.source) == source
    )


async def held_coupons(session: AsyncSession, member_id: int, now: datetime) -> list[HeldCoupon]:
    """The member's coupons still usable: held, active, not expired; soonest expiry first."""
    rows = await session.execute(
        select(MemberCoupon, CouponTemplate)
        .join(CouponTemplate, col(CouponTemplate.id) == col(MemberCoupon.template_id))
        .where(
            col(MemberCoupon.member_id) == member_id,
            col(MemberCoupon.status) == COUPON_HELD,
            col(CouponTemplate.active),
        )
        .order_by(col(MemberCoupon.id))
    )
    found = []
    for coupon, template in rows.all():
        view = _template(template)
        if not view.expired(now):
            assert coupon.id is not None
            found.append(HeldCoupon(coupon.id, view, coupon.status, coupon.order_id))
    return sorted(found, key=lambda c: (c.template.expires_at is None, c.template.expires_at))


async def coupon_page(
    session: AsyncSession, *, member_id: int, now: datetime, limit: int, offset: int = 0
) -> Page[HeldCoupon]:
    """A page of the member's usable coupons (soonest expiry first) and how many they hold."""
    return slice_of(await held_coupons(session, member_id, now), limit=limit, offset=offset)


def coupon_discount(template: TemplateView, total: int) -> int:
    """What the coupon takes off an order that costs `total` now (at least 1 is left to pay)."""
    if total <= 1:
        return 0
    percent = template.kind == COUPON_PERCENT
    off = total * template.value // 10_000 if percent else template.value
    return max(0, min(off, total - 1))


async def check_coupon(
    session: AsyncSession, *, coupon: HeldCoupon, order: Order, member_id: int, now: datetime
) -> int:
    """The discount the coupon would give this order, or CouponError saying why not."""
    if order.member_id != member_id:
        raise CouponError(CouponRefusal.NOT_YOUR_ORDER, str(order.id))
    if order.status not in OPEN_STATUSES:
        raise CouponError(CouponRefusal.ORDER_NOT_OPEN, str(order.id))
    if order.coupon_id is not None:
        raise CouponError(CouponRefusal.ORDER_HAS_COUPON, str(order.id))
    template = coupon.template
    if coupon.status != COUPON_HELD:
        raise CouponError(CouponRefusal.USED, template.code)
    if not template.active or template.expired(now):
        raise CouponError(CouponRefusal.EXPIRED, template.code)
    if template.currency != order.currency:
        raise CouponError(CouponRefusal.WRONG_CURRENCY, template.currency)
    if order.total < template.min_spend:
        raise CouponError(CouponRefusal.BELOW_MIN_SPEND, str(template.min_spend))
    if (await standing(session, member_id)).tier.rank < template.min_rank:
        raise CouponError(CouponRefusal.TIER_TOO_LOW, str(template.min_rank))
    discount = coupon_discount(template, order.total)
    if discount <= 0:
        raise CouponError(CouponRefusal.NOTHING_OFF, template.code)
    return discount


async def coupon_of_member(
    session: AsyncSession, *, member_id: int, coupon_id: int
) -> HeldCoupon | None:
    return await _one(
        session, col(MemberCoupon.id) == coupon_id, col(MemberCoupon.member_id) == member_id
    )


async def usable_coupon_by_code(
    session: AsyncSession, *, member_id: int, code: str, now: datetime
) -> HeldCoupon | None:
    """The member's oldest held coupon of that code, if any."""
    for coupon in await held_coupons(session, member_id, now):
        if coupon.template.code == normalize_code(code):
            return coupon
    return None


async def apply_coupon(
    session: AsyncSession, *, coupon_id: int, order_id: int, member_id: int, now: datetime
) -> tuple[int, int]:
    """Use the member's coupon on their unpaid order; returns (discount, new total).

    Both rows move by conditional UPDATEs inside a savepoint: a coupon already used, or an
    order that took a coupon or changed meanwhile, refuses and changes nothing.
    """
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None or order.member_id != member_id:
        raise CouponError(CouponRefusal.NOT_YOUR_ORDER, str(order_id))
    coupon = await coupon_of_member(session, member_id=member_id, coupon_id=coupon_id)
    if coupon is None:
        raise CouponError(CouponRefusal.NO_COUPON, str(coupon_id))
    discount = await check_coupon(session, coupon=coupon, order=order, member_id=member_id, now=now)
    try:
        async with session.begin_nested():
            taken = await session.execute(
                update(MemberCoupon)
                .where(col(MemberCoupon.id) == coupon_id, col(MemberCoupon.status) == COUPON_HELD)
                .values(status=COUPON_USED, order_id=order_id, used_at=now)
            )
            if rowcount(taken) != 1:
                raise CouponError(CouponRefusal.USED, coupon.template.code)
            moved = await session.execute(
                update(Order)
                .where(
                    col(Order.id) == order_id,
                    col(Order.coupon_id).is_(None),
                    col(Order.version) == order.version,
                    col(Order.status).in_(OPEN_STATUSES),
                )
                .values(
                    coupon_id=coupon_id,
                    discount=col(Order.discount) + discount,
                    version=col(Order.version) + 1,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(moved) != 1:
                raise CouponError(CouponRefusal.ORDER_CHANGED, str(order_id))
    except IntegrityError:  # the coupon went to another order at the same moment
        raise CouponError(CouponRefusal.USED, coupon.template.code) from None
    refreshed = await session.get(Order, order_id, populate_existing=True)
    assert refreshed is not None
    return discount, refreshed.total


async def release_coupon(session: AsyncSession, *, order_id: int) -> None:
    """A cancelled unpaid order gives its coupon back to the member, usable again."""
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None or order.coupon_id is None:
        return
    coupon_id = order.coupon_id
    await session.execute(
        update(Order)
        .where(col(Order.id) == order_id)
        .values(coupon_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(MemberCoupon)
        .where(col(MemberCoupon.id) == coupon_id, col(MemberCoupon.order_id) == order_id)
        .values(status=COUPON_HELD, order_id=None, used_at=None)
    )
