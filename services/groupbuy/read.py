"""Reading group-buys: the one SELECT that reads a group-buy as a view (with its tiers, and for a
join the member's units), its sign-up list, and which ones are due or open.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, exists, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import (
    GROUPBUY_OPEN,
    GroupBuy,
    GroupBuyJoin,
    GroupBuyPost,
    GroupBuyTier,
    GroupBuyVariant,
)
from models.order import Order
from models.product import FULFIL_PICKUP, Product
from models.review import REVIEW_APPROVED, Review
from services.content import merged
from services.db import prepared, table_of
from services.groupbuy.stock import groupbuy_variants
from services.groupbuy.values import GroupBuyError, GroupBuyRefusal, GroupBuyView, Participant


def _groupbuy_read(dialect: str, with_join: bool) -> Any:
    """The one SELECT that reads a group-buy (`groupbuy_id`) as a view: its row and its price
    tiers (aggregated as "units:price,..." text, so one statement reads both). For a join
    (`with_join`), also whether it was posted in the chat (`chat_id`) and the member's
    (`member_id`) units in it now (NULL when they never joined)."""
    gb, tiers = table_of(GroupBuy), table_of(GroupBuyTier)
    tier_text = cast(tiers.c.min_units, String) + ":" + cast(tiers.c.unit_price, String)
    columns: list[Any] = [
        *gb.c,
        select(_joined(dialect, tier_text))
        .where(tiers.c.groupbuy_id == gb.c.id)
        .scalar_subquery()
        .label("tier_text"),
    ]
    if with_join:
        posts, joins = table_of(GroupBuyPost), table_of(GroupBuyJoin)
        columns.append(
            exists()
            .where(posts.c.groupbuy_id == gb.c.id, posts.c.chat_id == bindparam("chat_id"))
            .label("posted")
        )
        columns.append(
            select(joins.c.quantity)
            .where(joins.c.groupbuy_id == gb.c.id, joins.c.member_id == bindparam("member_id"))
            .scalar_subquery()
            .label("held")
        )
    offered = table_of(GroupBuyVariant)
    columns.append(exists().where(offered.c.groupbuy_id == gb.c.id).label("with_variants"))
    products = table_of(Product)
    # the product's approved reviews (services.review): count and stars, for the card's
    # rating; a join checks limits and stock only, and leaves them out
    if not with_join:
        reviews, orders = table_of(Review), table_of(Order)
        of_product = reviews.join(orders, orders.c.id == reviews.c.order_id)
        approved = (orders.c.product_id == gb.c.product_id, reviews.c.status == REVIEW_APPROVED)
        for label, figure in (
            ("review_count", func.count()),
            ("review_stars", func.coalesce(func.sum(reviews.c.rating), 0)),
        ):
            columns.append(
                select(figure)
                .select_from(of_product)
                .where(*approved)
                .scalar_subquery()
                .label(label)
            )
    columns.append(products.c.description.label("product_description"))
    columns.append(products.c.photo_file_id.label("product_photo"))
    columns.append(products.c.translations.label("product_translations"))
    columns.append(products.c.fulfilment.label("product_fulfilment"))
    return (
        select(*columns)
        .select_from(gb.outerjoin(products, products.c.id == gb.c.product_id))
        .where(gb.c.id == bindparam("groupbuy_id"))
    )


def _joined(dialect: str, text: Any) -> Any:
    """The texts joined with commas: each dialect's own aggregate with the comma written in
    (SQLAlchemy's aggregate_strings binds it as a value rendered anew at every execution)."""
    comma: Any = literal_column("','")
    if dialect == "postgresql":
        return func.string_agg(text, comma)
    return func.group_concat(text, comma)


_READ_GROUPBUY = prepared(lambda dialect: _groupbuy_read(dialect, False))
_READ_FOR_JOIN = prepared(lambda dialect: _groupbuy_read(dialect, True))


def _tiers_of_text(text: str | None) -> tuple[tuple[int, int], ...]:
    if not text:
        return ()
    pairs = (part.split(":") for part in text.split(","))
    return tuple(sorted((int(units), int(price)) for units, price in pairs))


def _view_of(row: Any) -> GroupBuyView:
    return GroupBuyView(
        id=row.id,
        title=row.title,
        unit_price=row.unit_price,
        currency=row.currency,
        payment_mode=row.payment_mode,
        min_kind=row.min_kind,
        min_count=row.min_count,
        stock_cap=row.stock_cap,
        per_member_limit=row.per_member_limit,
        units_sold=row.units_sold,
        participants=row.participants,
        deadline=row.deadline,
        pickup_point=row.pickup_point,
        pickup_time=row.pickup_time,
        status=row.status,
        opened_by=row.opened_by,
        final_price=row.final_price,
        tiers=_tiers_of_text(row.tier_text),
        product_id=row.product_id,
        commission_bps=row.commission_bps,
        vip_until=row.vip_until,
        vip_rank=row.vip_rank,
        vip_level=row.vip_level,
        description=row.product_description or "",
        photo_file_id=row.product_photo,
        translations=merged(row.product_translations, row.translations) or None,
        # the read for a join leaves the reviews out (a missing column is an exception inside
        # the row's lookup, a cost on every tap)
        review_count=int(row.review_count or 0) if "review_count" in row._fields else 0,
        review_stars=int(row.review_stars or 0) if "review_stars" in row._fields else 0,
        fulfilment=row.fulfilment or row.product_fulfilment or FULFIL_PICKUP,
        own_fulfilment=row.fulfilment,
        with_variants=bool(row.with_variants),
        multi=bool(row.multi),
        form_per_item=bool(row.form_per_item),
    )


async def get_groupbuy(session: AsyncSession, groupbuy_id: int) -> GroupBuyView | None:
    """The group-buy with its tiers, read fresh from the database in one statement."""
    row = (await session.execute(_READ_GROUPBUY(session), {"groupbuy_id": groupbuy_id})).first()
    if row is None:
        return None
    found = _view_of(row)
    if found.with_variants:
        found = replace(found, variants=await groupbuy_variants(session, groupbuy_id))
    return found


async def _must(session: AsyncSession, groupbuy_id: int) -> GroupBuyView:
    found = await get_groupbuy(session, groupbuy_id)
    if found is None:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    return found


async def participants(session: AsyncSession, groupbuy_id: int) -> list[Participant]:
    """The sign-up list: members with units, in the order they joined."""
    rows = await session.execute(
        select(
            col(GroupBuyJoin.member_id),
            col(GroupBuyJoin.chat_id),
            col(GroupBuyJoin.quantity),
            col(GroupBuyJoin.variant_id),
        )
        .where(col(GroupBuyJoin.groupbuy_id) == groupbuy_id, col(GroupBuyJoin.quantity) > 0)
        .order_by(col(GroupBuyJoin.joined_at), col(GroupBuyJoin.id))
    )
    return [
        Participant(position=i, member_id=int(m), chat_id=int(c), quantity=int(q), variant_id=v)
        for i, (m, c, q, v) in enumerate(rows.all(), start=1)
    ]


async def due_groupbuys(session: AsyncSession, *, now: datetime) -> list[int]:
    """Open group-buys whose deadline has passed or that sold out: the closing job's work."""
    rows = await session.execute(
        select(col(GroupBuy.id))
        .where(
            col(GroupBuy.status) == GROUPBUY_OPEN,
            or_(
                col(GroupBuy.deadline) <= now,
                col(GroupBuy.units_sold) >= col(GroupBuy.stock_cap),
            ),
        )
        .order_by(col(GroupBuy.deadline))
    )
    return [int(i) for i in rows.scalars().all() if i is not None]


async def open_groupbuys(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Every open group-buy with its deadline, so the scheduler can rebuild its jobs."""
    rows = await session.execute(
        select(col(GroupBuy.id), col(GroupBuy.deadline)).where(
            col(GroupBuy.status) == GROUPBUY_OPEN
        )
    )
    return [(int(i or 0), d) for i, d in rows.all()]
