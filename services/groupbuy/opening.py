"""Opening a group-buy (or a drop shared by several groups, or a sign-up list), and the changes
staff make to an open one: a later deadline, pickup texts in another language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import LEVELS
from models.groupbuy import (
    GROUPBUY_OPEN,
    MIN_PEOPLE,
    MIN_UNITS,
    GroupBuy,
    GroupBuyPost,
    GroupBuyTier,
    GroupBuyVariant,
)
from models.product import FULFILMENT_MODES, PAYMENT_TELEGRAM, Product
from services.community import open_among
from services.content import (
    PICKUP_POINT,
    PICKUP_TIME,
    ContentError,
    ReadTranslations,
    Translations,
    clean,
    with_language,
)
from services.credit import groupbuys_limit_reached
from services.db import rowcount
from services.groupbuy.parse import MAX_DAYS_OPEN
from services.groupbuy.read import _must
from services.groupbuy.stock import _take_item_stock, _take_variant_stock
from services.groupbuy.values import GroupBuyError, GroupBuyRefusal, GroupBuyView, ListEntry
from services.product import VariantView, take_product_stock, variants_of


@dataclass(frozen=True, slots=True)
class _Terms:
    """What a group-buy opens with besides its product, opener and groups (open_groupbuy's
    arguments, as given): checked by _refuse_bad_terms and _clean_extras, then written on its
    row."""

    min_count: int
    stock_cap: int
    per_member_limit: int
    deadline: datetime
    min_kind: str
    tiers: tuple[tuple[int, int], ...]
    pickup_point: str
    pickup_time: str
    commission_bps: int
    vip_until: datetime | None
    vip_rank: int
    vip_level: str
    pickup_translations: ReadTranslations
    fulfilment: str
    multi: bool
    form_per_item: bool
    item_minimums: tuple[int, ...]
    items: tuple[ListEntry, ...]


async def open_groupbuy(
    session: AsyncSession,
    *,
    product_id: int,
    opened_by: int,
    chat_ids: list[int],
    min_count: int,
    stock_cap: int,
    per_member_limit: int,
    deadline: datetime,
    now: datetime,
    min_kind: str = MIN_PEOPLE,
    tiers: tuple[tuple[int, int], ...] = (),
    pickup_point: str = "",
    pickup_time: str = "",
    commission_bps: int = 0,
    vip_until: datetime | None = None,
    vip_rank: int = 0,
    vip_level: str = "",
    pickup_translations: ReadTranslations = None,
    pickups: Mapping[int, str] | None = None,
    fulfilment: str = "",
    multi: bool = False,
    form_per_item: bool = False,
    item_minimums: tuple[int, ...] = (),
    items: tuple[ListEntry, ...] = (),
) -> GroupBuyView:
    """Open a group-buy (a drop when several chats share it), taking its stock from the product.

    `multi` opens a sign-up list (接龙) of the product's variants, its items: members order
    several at once, and it forms item by item (`form_per_item`) or as a whole; each item's own
    minimum is in `item_minimums`, in the variants' order (none: 0). A pasted list gives its
    `items` instead, in their order: its own product's variants mixed with catalogue products
    and variants, each taking its stock where it lives (_take_item_stock).

    `pickups` gives some groups of a drop their own pickup text (shown instead of the pickup
    point and time, in every language).

    `commission_bps` is what the opener earns on each paid order (a leader's group-buy).
    `fulfilment` is its own delivery mode (pickup, delivery or both), "" for its product's.
    Groups not open for business are left out; none open is refused (group_not_open).
    """
    terms = _Terms(
        min_count=min_count,
        stock_cap=stock_cap,
        per_member_limit=per_member_limit,
        deadline=deadline,
        min_kind=min_kind,
        tiers=tiers,
        pickup_point=pickup_point,
        pickup_time=pickup_time,
        commission_bps=commission_bps,
        vip_until=vip_until,
        vip_rank=vip_rank,
        vip_level=vip_level,
        pickup_translations=pickup_translations,
        fulfilment=fulfilment,
        multi=multi,
        form_per_item=form_per_item,
        item_minimums=item_minimums,
        items=items,
    )
    return await _open(
        session,
        terms,
        product_id=product_id,
        opened_by=opened_by,
        chat_ids=chat_ids,
        pickups=pickups,
        now=now,
    )


async def _open(
    session: AsyncSession,
    terms: _Terms,
    *,
    product_id: int,
    opened_by: int,
    chat_ids: list[int],
    pickups: Mapping[int, str] | None,
    now: datetime,
) -> GroupBuyView:
    """open_groupbuy's work, in this order: the product, the terms, the groups open for
    business, the leader's limit, the stock, then the rows."""
    product = await session.get(Product, product_id)
    # a leader's own sign-up list is a product made for it, never in the catalogue (inactive)
    own_list = terms.multi and product is not None and product.created_by == opened_by
    if product is None or not (product.active or own_list):
        raise GroupBuyError(GroupBuyRefusal.NO_PRODUCT, str(product_id))
    variants = await variants_of(session, product_id)
    _refuse_bad_terms(terms, product, variants, now=now, chat_ids=chat_ids)
    # only groups open for business (approved, the bot in them): a drop skips the others
    chat_ids = await open_among(session, chat_ids)
    if not chat_ids:
        raise GroupBuyError(GroupBuyRefusal.GROUP_NOT_OPEN)
    translations = _clean_extras(terms, product, now)
    # staff may limit how many group-buys one leader has open at once (services/credit.py)
    limit = await groupbuys_limit_reached(session, leader_id=opened_by)
    if limit is not None:
        raise GroupBuyError(GroupBuyRefusal.LEADER_LIMIT, str(limit))
    caps = await _take_stock(session, terms, product, variants)
    stock_cap, per_member_limit = terms.stock_cap, min(terms.per_member_limit, terms.stock_cap)
    if caps:
        stock_cap = sum(cap for _item, cap, _place in caps)
        if terms.min_count > stock_cap:
            raise GroupBuyError(GroupBuyRefusal.MIN_ABOVE_STOCK)
        per_member_limit = min(per_member_limit, max(cap for _item, cap, _place in caps))
    vip = terms.vip_until is not None
    row = GroupBuy(
        product_id=product_id,
        title=product.title,
        # with variants: the lowest of their prices ("from"), each variant keeping its own
        unit_price=min((item.price for item, _cap, _place in caps), default=product.price),
        currency=product.currency,
        payment_mode=product.payment_mode,
        min_kind=terms.min_kind,
        min_count=terms.min_count,
        stock_cap=stock_cap,
        per_member_limit=per_member_limit,
        deadline=terms.deadline,
        pickup_point=terms.pickup_point[:255],
        pickup_time=terms.pickup_time[:64],
        translations=translations or None,
        opened_by=opened_by,
        commission_bps=max(0, terms.commission_bps),
        vip_until=terms.vip_until,
        vip_rank=max(0, terms.vip_rank) if vip else 0,
        vip_level=terms.vip_level if vip and terms.vip_level in LEVELS else "",
        fulfilment=terms.fulfilment,
        multi=terms.multi,
        form_per_item=terms.multi and terms.form_per_item,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    _add_parts(session, row.id, terms.tiers, caps, chat_ids, pickups)
    await session.flush()
    return await _must(session, row.id)


def _refuse_bad_terms(
    terms: _Terms,
    product: Product,
    variants: tuple[VariantView, ...],
    *,
    now: datetime,
    chat_ids: list[int],
) -> None:
    """Refuse terms that cannot open, before anything is read or taken: items or variants
    that do not fit the kind of group-buy, counts, the deadline, no groups."""
    items, multi = terms.items, terms.multi
    if items and not multi:
        raise GroupBuyError(GroupBuyRefusal.NO_ITEMS)
    if multi and not (variants or items):  # a sign-up list's items are its product's variants
        raise GroupBuyError(GroupBuyRefusal.NO_ITEMS)
    if (variants or items) and terms.tiers:  # each has its own price: one tier table cannot fit all
        raise GroupBuyError(GroupBuyRefusal.VARIANTS_NO_TIERS)
    if variants and product.payment_mode == PAYMENT_TELEGRAM:
        raise GroupBuyError(GroupBuyRefusal.VARIANTS_PREPAID)
    if terms.min_kind not in (MIN_PEOPLE, MIN_UNITS):
        raise GroupBuyError(GroupBuyRefusal.BAD_MIN_KIND, terms.min_kind)
    if terms.fulfilment and terms.fulfilment not in FULFILMENT_MODES:
        raise GroupBuyError(GroupBuyRefusal.BAD_FULFILMENT, terms.fulfilment)
    if terms.stock_cap <= 0 or terms.min_count <= 0 or terms.per_member_limit <= 0:
        raise GroupBuyError(GroupBuyRefusal.NOT_POSITIVE)
    if terms.min_count > terms.stock_cap:  # people or units, each needs at least one unit
        raise GroupBuyError(GroupBuyRefusal.MIN_ABOVE_STOCK)
    if terms.deadline <= now:
        raise GroupBuyError(GroupBuyRefusal.DEADLINE_PAST)
    if not chat_ids:
        raise GroupBuyError(GroupBuyRefusal.NO_CHATS)


def _clean_extras(terms: _Terms, product: Product, now: datetime) -> Translations:
    """The early-access window (within the deadline), the pickup texts in other languages
    (returned, cleaned) and the price tiers (more units, lower price), else refused."""
    if terms.vip_until is not None and not now < terms.vip_until < terms.deadline:
        raise GroupBuyError(GroupBuyRefusal.VIP_AFTER_DEADLINE)
    try:  # a drop's pickup texts in other languages
        translations = clean(terms.pickup_translations, (PICKUP_POINT, PICKUP_TIME))
    except ContentError as exc:
        raise GroupBuyError(GroupBuyRefusal.BAD_TRANSLATION, exc.detail) from exc
    previous = (0, product.price)
    for units, price in terms.tiers:
        if units <= previous[0] or price >= previous[1]:
            raise GroupBuyError(GroupBuyRefusal.TIERS_NOT_DECREASING)
        previous = (units, price)
    return translations


async def _take_stock(
    session: AsyncSession, terms: _Terms, product: Product, variants: tuple[VariantView, ...]
) -> list[tuple[ListEntry, int, int]]:
    """Each item or variant offered: what it is, the units it took and its place on the card
    (none for a product without variants, whose own stock gives `stock_cap`, else
    not_enough_stock)."""
    minimums = {v.id: max(0, m) for v, m in zip(variants, terms.item_minimums, strict=False)}
    caps: list[tuple[ListEntry, int, int]] = []
    if terms.items:
        caps = await _take_item_stock(
            session, terms.items, terms.stock_cap, currency=product.currency
        )
    elif variants:
        caps = [
            (ListEntry(v.id, v.name, v.price, min_units=minimums.get(v.id, 0)), cap, v.position)
            for v, cap in await _take_variant_stock(session, variants, terms.stock_cap)
        ]
    assert product.id is not None
    if caps or product.stock is None:
        return caps
    if not await take_product_stock(session, product.id, terms.stock_cap):
        stock = select(col(Product.stock)).where(col(Product.id) == product.id)
        left = await session.scalar(stock)
        raise GroupBuyError(GroupBuyRefusal.NOT_ENOUGH_STOCK, str(left or 0))
    return caps


def _add_parts(
    session: AsyncSession,
    groupbuy_id: int,
    tiers: tuple[tuple[int, int], ...],
    caps: list[tuple[ListEntry, int, int]],
    chat_ids: list[int],
    pickups: Mapping[int, str] | None,
) -> None:
    """A new group-buy's tiers, its post in each group (none written yet: its card comes
    later) and the items or variants it offers, added to the session."""
    session.add_all(
        GroupBuyTier(groupbuy_id=groupbuy_id, min_units=units, unit_price=price)
        for units, price in tiers
    )
    session.add_all(
        GroupBuyPost(groupbuy_id=groupbuy_id, chat_id=chat, pickup=(pickups or {}).get(chat, ""))
        for chat in dict.fromkeys(chat_ids)
    )
    session.add_all(
        GroupBuyVariant(
            groupbuy_id=groupbuy_id,
            variant_id=item.variant_id,
            name=item.name,
            unit_price=item.price,
            stock_cap=cap,
            position=place,
            min_units=item.min_units,
            product_id=item.product_id,
        )
        for item, cap, place in caps
    )


async def extend_deadline(
    session: AsyncSession, *, groupbuy_id: int, deadline: datetime, now: datetime
) -> GroupBuyView:
    """Move the deadline of an open group-buy later."""
    if deadline <= now or deadline - now > timedelta(days=MAX_DAYS_OPEN):
        raise GroupBuyError(GroupBuyRefusal.BAD_DEADLINE)
    result = await session.execute(
        update(GroupBuy)
        .where(
            col(GroupBuy.id) == groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_OPEN,
            col(GroupBuy.deadline) < deadline,
        )
        .values(deadline=deadline)
    )
    if rowcount(result) != 1:
        raise GroupBuyError(GroupBuyRefusal.CANNOT_EXTEND, str(groupbuy_id))
    return await _must(session, groupbuy_id)


async def set_pickup_language(
    session: AsyncSession, *, groupbuy_id: int, locale: str, point: str, time: str
) -> GroupBuyView:
    """Give or replace an open group-buy's pickup place and time in one language (both empty:
    that language falls back to the brand's default again). GroupBuyError 'closed' when it is
    not open, 'bad_translation' for a language or text that cannot be stored."""
    row = await session.get(GroupBuy, groupbuy_id, with_for_update=True)
    if row is None or row.status != GROUPBUY_OPEN:
        raise GroupBuyError(GroupBuyRefusal.CLOSED, str(groupbuy_id))
    fields = (PICKUP_POINT, PICKUP_TIME)
    try:
        texts = {PICKUP_POINT: point, PICKUP_TIME: time}
        row.translations = with_language(row.translations, locale, texts, fields) or None
    except ContentError as exc:
        raise GroupBuyError(GroupBuyRefusal.BAD_TRANSLATION, exc.detail) from exc
    session.add(row)
    await session.flush()
    return await _must(session, groupbuy_id)
