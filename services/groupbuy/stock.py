"""A group-buy's stock: the variants it offers, what it takes from its product, variants or a
pasted list's items when it opens, the variant counters a join moves, and what it gives back
when it closes. Every take and give is one conditional UPDATE, so stock never goes below zero.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GroupBuyJoin, GroupBuyVariant
from models.product import PAYMENT_TELEGRAM, Product, ProductVariant
from services.db import prepared, table_of
from services.groupbuy.values import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyVariantView,
    GroupBuyView,
    ListEntry,
)
from services.product import (
    VariantView,
    restock_product,
    restock_variant,
    take_product_stock,
    take_variant_stock,
    variants_of,
)


async def _release_stock(session: AsyncSession, groupbuy: GroupBuyView, units: int) -> None:
    """Give units the group-buy took from its product back to the product (with variants: what
    each variant did not sell back to that variant, whatever `units` says)."""
    if groupbuy.with_variants:
        await _release_variant_stock(session, groupbuy.id, all_of_it=units >= groupbuy.stock_cap)
        return
    if units <= 0:
        return
    await session.execute(
        update(Product)
        .where(col(Product.id) == groupbuy.product_id, col(Product.stock).is_not(None))
        .values(stock=col(Product.stock) + units)
    )


async def groupbuy_variants(
    session: AsyncSession, groupbuy_id: int
) -> tuple[GroupBuyVariantView, ...]:
    """The variants a group-buy offers, in their product's order (a list's items in the list's
    order), with their counters and, for an item put from the catalogue, what it sells."""
    rows = await session.execute(
        select(
            GroupBuyVariant,
            col(Product.title),
            col(ProductVariant.product_id),
            col(ProductVariant.name),
        )
        .outerjoin(Product, col(Product.id) == col(GroupBuyVariant.product_id))
        .outerjoin(ProductVariant, col(ProductVariant.id) == col(GroupBuyVariant.variant_id))
        .where(col(GroupBuyVariant.groupbuy_id) == groupbuy_id)
        .order_by(col(GroupBuyVariant.position), col(GroupBuyVariant.id))
        .execution_options(populate_existing=True)
    )
    found: list[GroupBuyVariantView] = []
    for row, title, variant_of, variant_name in rows.all():
        sells = row.product_id
        of_product = sells is not None and variant_of != sells
        found.append(
            GroupBuyVariantView(
                row.variant_id,
                row.name,
                row.unit_price,
                row.stock_cap,
                row.units_sold,
                row.min_units,
                product_id=sells,
                product_title=(title or "") if sells is not None else "",
                variant_name=(variant_name or "") if sells and not of_product else "",
                of_product=of_product,
            )
        )
    return tuple(found)


async def _take_variant_stock(
    session: AsyncSession, variants: tuple[VariantView, ...], stock_cap: int
) -> list[tuple[VariantView, int]]:
    """Each variant offers up to `stock_cap` units, fewer when it has fewer in stock, taken
    from its stock by a conditional UPDATE (a variant sold out meanwhile is left out);
    not_enough_stock when none has any left."""
    caps: list[tuple[VariantView, int]] = []
    for variant in variants:
        if variant.stock is None:
            caps.append((variant, stock_cap))
            continue
        cap = min(stock_cap, variant.stock)
        if cap <= 0:
            continue
        if await take_variant_stock(session, variant.id, cap):
            caps.append((variant, cap))
    if not caps:
        raise GroupBuyError(GroupBuyRefusal.NOT_ENOUGH_STOCK, "0")
    return caps


async def _take_item_stock(
    session: AsyncSession, items: tuple[ListEntry, ...], most: int, *, currency: str
) -> list[tuple[ListEntry, int, int]]:
    """Each item of a pasted sign-up list takes its stock as the list opens, by the same
    conditional UPDATEs as every group-buy: up to its own `stock` (else `most`), fewer when
    fewer are left, from its variant, or from its catalogue product when that product has no
    variants. An item put from the catalogue must still be on sale, paid at pickup in the
    list's currency (item_unavailable), and have a unit left (item_sold_out); each refusal
    names the item by its number ("number<TAB>name"), the place the leader confirmed, so no
    item is left out and none renumbered. Returns (item, units taken, place) in list order."""
    caps: list[tuple[ListEntry, int, int]] = []
    seen: set[int] = set()
    for place, item in enumerate(items):
        detail = f"{place + 1}\t{item.name}"
        if item.variant_id in seen:  # one counter per variant: never twice on a list
            raise GroupBuyError(GroupBuyRefusal.ITEM_UNAVAILABLE, detail)
        seen.add(item.variant_id)
        of_product = await _check_item(session, item, currency, detail)
        wanted = min(item.stock or most, most)
        for _attempt in range(3):  # stock sold meanwhile: read it again, take what is left
            stock = await session.scalar(
                select(col(Product.stock)).where(col(Product.id) == item.product_id)
                if of_product
                else select(col(ProductVariant.stock)).where(
                    col(ProductVariant.id) == item.variant_id
                )
            )
            cap = wanted if stock is None else min(wanted, stock)
            if cap <= 0:
                raise GroupBuyError(GroupBuyRefusal.ITEM_SOLD_OUT, f"{detail}\t0")
            if stock is None:
                break
            if of_product and item.product_id is not None:
                taken = await take_product_stock(session, item.product_id, cap)
            else:
                taken = await take_variant_stock(session, item.variant_id, cap)
            if taken:
                break
        else:
            raise GroupBuyError(GroupBuyRefusal.ITEM_SOLD_OUT, f"{detail}\t0")
        caps.append((item, cap, place))
    return caps


async def _check_item(session: AsyncSession, item: ListEntry, currency: str, detail: str) -> bool:
    """An item of a pasted list that can open: its variant exists and, put from the catalogue,
    its product (and variant) are still on sale, paid at pickup in the list's currency, else
    item_unavailable. True when its stock is the product's own (a product without variants,
    `variant_id` being the list's key of it)."""
    source = (
        await session.execute(
            select(col(ProductVariant.product_id), col(ProductVariant.active)).where(
                col(ProductVariant.id) == item.variant_id
            )
        )
    ).one_or_none()
    if source is None:
        raise GroupBuyError(GroupBuyRefusal.ITEM_UNAVAILABLE, detail)
    if item.product_id is None:
        return False
    of_product = source.product_id != item.product_id
    sold = (
        await session.execute(
            select(col(Product.active), col(Product.currency), col(Product.payment_mode)).where(
                col(Product.id) == item.product_id
            )
        )
    ).one_or_none()
    if (
        sold is None
        or not sold.active
        or not source.active
        or sold.payment_mode == PAYMENT_TELEGRAM
        or sold.currency != currency
        # a product without variants when the list was read: none may have been added since
        or (of_product and bool(await variants_of(session, item.product_id)))
    ):
        raise GroupBuyError(GroupBuyRefusal.ITEM_UNAVAILABLE, detail)
    return of_product


_COUNT_VARIANT = prepared(
    lambda _dialect: (
        update(table_of(GroupBuyVariant))
        .where(
            col(GroupBuyVariant.groupbuy_id) == bindparam("the_groupbuy"),
            col(GroupBuyVariant.variant_id) == bindparam("the_variant"),
            col(GroupBuyVariant.units_sold) + bindparam("delta") <= col(GroupBuyVariant.stock_cap),
            col(GroupBuyVariant.units_sold) + bindparam("delta") >= 0,
        )
        .values(units_sold=col(GroupBuyVariant.units_sold) + bindparam("delta"))
        .returning(col(GroupBuyVariant.units_sold))
    )
)


async def _count_variant(
    session: AsyncSession, groupbuy_id: int, variant_id: int | None, delta: int
) -> None:
    """The variant's counter takes `delta` units, or the change is refused: sold_out with
    what the variant has left, not_found for a variant the group-buy does not offer. One
    conditional UPDATE, so a variant is never oversold whatever the concurrency."""
    if delta == 0:
        return
    values = {"the_groupbuy": groupbuy_id, "the_variant": variant_id, "delta": delta}
    if (await session.execute(_COUNT_VARIANT(session), values)).one_or_none() is not None:
        return
    offered = (
        await session.execute(
            select(col(GroupBuyVariant.stock_cap) - col(GroupBuyVariant.units_sold)).where(
                col(GroupBuyVariant.groupbuy_id) == groupbuy_id,
                col(GroupBuyVariant.variant_id) == variant_id,
            )
        )
    ).scalar_one_or_none()
    if offered is None:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    raise GroupBuyError(GroupBuyRefusal.SOLD_OUT, str(offered))


async def _variant_name(session: AsyncSession, variant_id: int | None) -> str:
    if variant_id is None:
        return ""
    name = await session.scalar(
        select(col(ProductVariant.name)).where(col(ProductVariant.id) == variant_id)
    )
    return name or ""


async def _refuse_other_variant(
    session: AsyncSession, groupbuy_id: int, member_id: int, variant_id: int | None
) -> None:
    """After a Join the member's row refused: other_variant (naming the one they hold) when
    that was the reason; else the caller refuses for the limit."""
    held = (
        await session.execute(
            select(col(GroupBuyJoin.quantity), col(GroupBuyJoin.variant_id)).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
        )
    ).one_or_none()
    if held is not None and held.quantity > 0 and held.variant_id != variant_id:
        raise GroupBuyError(
            GroupBuyRefusal.OTHER_VARIANT, await _variant_name(session, held.variant_id)
        )


async def _release_variant_stock(
    session: AsyncSession, groupbuy_id: int, *, all_of_it: bool, kept: set[int] | None = None
) -> None:
    """Give each variant back what the group-buy took of it: all of it (not formed, or
    cancelled), else what it did not sell; with `kept` (a sign-up list's items that formed),
    all of every other item."""
    for offered in await groupbuy_variants(session, groupbuy_id):
        whole = all_of_it or (kept is not None and offered.variant_id not in kept)
        units = offered.stock_cap if whole else offered.units_left
        if units <= 0:
            continue
        if offered.of_product:  # a catalogue product without variants: its own stock
            assert offered.product_id is not None  # what `of_product` means
            await restock_product(session, offered.product_id, units)
        else:
            await restock_variant(session, offered.variant_id, units)
