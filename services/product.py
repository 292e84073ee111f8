"""Products: created by staff, priced in minor units, with optional limited stock."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.product import (
    FULFIL_PICKUP,
    FULFILMENT_MODES,
    PAYMENT_MODES,
    PAYMENT_OFFLINE,
    Product,
    ProductVariant,
)
from services.content import (
    DESCRIPTION,
    TITLE,
    ContentError,
    ReadTranslations,
    clean,
    localized,
    with_language,
)
from services.db import rowcount
from services.errors import Refused
from services.member import LOCALES
from services.paging import Page, count_of, window


class ProductError(Refused):
    """A product that cannot be created or used; `reason` is a stable code."""


class ProductRefusal(StrEnum):
    """The reasons a ProductError gives (its `reason`); the handlers map each to a message."""

    TOO_MANY_VARIANTS = "too_many_variants"
    VARIANT_NAME = "variant_name"
    VARIANT_TAKEN = "variant_taken"
    VARIANT_PRICE = "variant_price"
    VARIANT_STOCK = "variant_stock"
    NOT_FOUND = "not_found"
    TITLE = "title"
    PRICE = "price"
    STOCK = "stock"
    PAYMENT_MODE = "payment_mode"
    FIELD = "field"
    FULFILMENT = "fulfilment"


@dataclass(frozen=True, slots=True)
class ProductPhoto:
    """A product's photo: Telegram's file id (valid for this bot only) and its size in pixels
    when known."""

    file_id: str
    width: int | None = None
    height: int | None = None


MAX_VARIANTS = 20  # variants of one product: buttons under a card, a phone screen
VARIANT_NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """A variant as staff give it: its name, price in minor units and stock (None: unlimited)."""

    name: str
    price: int
    stock: int | None = None
    photo_file_id: str | None = None


@dataclass(frozen=True, slots=True)
class VariantView:
    """A product's variant as plain values (its currency is the product's)."""

    id: int
    product_id: int
    name: str
    price: int
    stock: int | None
    position: int
    active: bool = True
    photo_file_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product as plain values."""

    id: int
    title: str
    price: int
    currency: str
    stock: int | None
    payment_mode: str
    active: bool
    description: str = ""
    photo: ProductPhoto | None = None
    # the title and description in other languages: {locale: {"title": ..., ...}}
    translations: ReadTranslations = None
    fulfilment: str = FULFIL_PICKUP  # pickup, delivery or both (models/product.py)
    # its active variants in their order (sizes, flavours...); () for a product without
    variants: tuple[VariantView, ...] = ()

    def in_language(self, locale: str, default_locale: str) -> ProductView:
        """The product as a reader of `locale` sees it (services/content.py's fallback)."""
        if not self.translations:
            return self
        return replace(
            self,
            title=localized(self.title, self.translations, TITLE, locale, default_locale),
            description=localized(
                self.description, self.translations, DESCRIPTION, locale, default_locale
            ),
        )


PRODUCT_FIELDS = (TITLE, DESCRIPTION)


def _variant_view(row: ProductVariant) -> VariantView:
    assert row.id is not None
    return VariantView(
        id=row.id,
        product_id=row.product_id,
        name=row.name,
        price=row.price,
        stock=row.stock,
        position=row.position,
        active=row.active,
        photo_file_id=row.photo_file_id,
    )


async def variants_of(session: AsyncSession, product_id: int) -> tuple[VariantView, ...]:
    """The product's active variants, in the order they are offered."""
    rows = await session.execute(
        select(ProductVariant)
        .where(col(ProductVariant.product_id) == product_id, col(ProductVariant.active))
        .order_by(col(ProductVariant.position), col(ProductVariant.id))
    )
    return tuple(_variant_view(row) for row in rows.scalars().all())


async def get_variant(session: AsyncSession, variant_id: int) -> VariantView | None:
    """The variant with this id, if any."""
    row = await session.get(ProductVariant, variant_id)
    return _variant_view(row) if row else None


async def restock_variant(session: AsyncSession, variant_id: int, units: int) -> None:
    """Give units back to a variant's stock (one whose stock is not counted stays so)."""
    await session.execute(
        update(ProductVariant)
        .where(col(ProductVariant.id) == variant_id, col(ProductVariant.stock).is_not(None))
        .values(stock=col(ProductVariant.stock) + units)
        .execution_options(synchronize_session=False)
    )


async def restock_product(session: AsyncSession, product_id: int, units: int) -> None:
    """Give units back to the own stock of a product without variants (one whose stock is not
    counted stays so)."""
    await session.execute(
        update(Product)
        .where(col(Product.id) == product_id, col(Product.stock).is_not(None))
        .values(stock=col(Product.stock) + units)
        .execution_options(synchronize_session=False)
    )


def check_variants(specs: list[VariantSpec], taken: tuple[str, ...] = ()) -> None:
    """Refuse variants staff cannot add: a name empty, too long or already used (whatever its
    case, among `taken` or the others), a price not positive, a stock below zero, too many."""
    seen = {name.casefold() for name in taken}
    if len(specs) + len(seen) > MAX_VARIANTS:
        raise ProductError(ProductRefusal.TOO_MANY_VARIANTS, str(MAX_VARIANTS))
    for spec in specs:
        name = spec.name.strip()
        if not name or len(name) > VARIANT_NAME_MAX:
            raise ProductError(ProductRefusal.VARIANT_NAME, name)
        if name.casefold() in seen:
            raise ProductError(ProductRefusal.VARIANT_TAKEN, name)
        seen.add(name.casefold())
        if type(spec.price) is not int or spec.price <= 0:
            raise ProductError(ProductRefusal.VARIANT_PRICE, name)
        if spec.stock is not None and (type(spec.stock) is not int or spec.stock < 0):
            raise ProductError(ProductRefusal.VARIANT_STOCK, name)


async def add_variants(
    session: AsyncSession, *, product_id: int, variants: list[VariantSpec]
) -> ProductView:
    """Add variants to a product, after those it has; names are unique per product whatever
    their case (ProductError variant_taken naming the name; the unique constraint stays the
    last word between two staff adding at once)."""
    row = await _locked_product(session, product_id)
    existing = await variants_of(session, product_id)
    check_variants(variants, tuple(variant.name for variant in existing))
    start = max((variant.position for variant in existing), default=-1) + 1
    session.add_all(
        ProductVariant(
            product_id=product_id,
            name=spec.name.strip(),
            name_key=spec.name.strip().casefold(),
            price=spec.price,
            stock=spec.stock,
            photo_file_id=spec.photo_file_id,
            position=start + index,
        )
        for index, spec in enumerate(variants)
    )
    await session.flush()
    return _view(row, await variants_of(session, product_id))


async def has_active_variants(session: AsyncSession, product_id: int) -> bool:
    """Whether the product has an active variant (then an order or a trial must name one)."""
    found = await session.scalar(
        select(col(ProductVariant.id))
        .where(col(ProductVariant.product_id) == product_id, col(ProductVariant.active))
        .limit(1)
    )
    return found is not None


async def take_variant_stock(session: AsyncSession, variant_id: int, units: int) -> bool:
    """The variant's stock gives up `units`: one conditional UPDATE (stock >= units), so two
    takers at once never take it below zero. False when it has fewer left (a variant of
    unlimited stock has none to take: callers skip it)."""
    taken = await session.execute(
        update(ProductVariant)
        .where(col(ProductVariant.id) == variant_id, col(ProductVariant.stock) >= units)
        .values(stock=col(ProductVariant.stock) - units)
        .execution_options(synchronize_session=False)
    )
    return rowcount(taken) == 1


async def take_product_stock(session: AsyncSession, product_id: int, units: int) -> bool:
    """The own stock of a product without variants gives up `units`, by the same conditional
    UPDATE as a variant's; False when it has fewer left (or is not counted)."""
    taken = await session.execute(
        update(Product)
        .where(col(Product.id) == product_id, col(Product.stock) >= units)
        .values(stock=col(Product.stock) - units)
    )
    return rowcount(taken) == 1


def _view(row: Product, variants: tuple[VariantView, ...] = ()) -> ProductView:
    assert row.id is not None
    photo = (
        ProductPhoto(row.photo_file_id, row.photo_width, row.photo_height)
        if row.photo_file_id
        else None
    )
    return ProductView(
        id=row.id,
        title=row.title,
        price=row.price,
        currency=row.currency,
        stock=row.stock,
        payment_mode=row.payment_mode,
        active=row.active,
        description=row.description,
        photo=photo,
        translations=row.translations or None,
        fulfilment=row.fulfilment,
        variants=variants,
    )


async def create_product(
    session: AsyncSession,
    *,
    title: str,
    price: int,
    currency: str,
    created_by: int,
    stock: int | None = None,
    payment_mode: str = PAYMENT_OFFLINE,
    description: str = "",
    photo: ProductPhoto | None = None,
    translations: ReadTranslations = None,
    variants: list[VariantSpec] | None = None,
) -> ProductView:
    """Add a product, with its photo, its title and description in other languages and its
    variants if any; prices are already in minor units of the currency."""
    title = title.strip()
    if not title or len(title) > 128:
        raise ProductError(ProductRefusal.TITLE)
    if type(price) is not int or price <= 0:
        raise ProductError(ProductRefusal.PRICE)
    if stock is not None and stock < 0:
        raise ProductError(ProductRefusal.STOCK)
    if payment_mode not in PAYMENT_MODES:
        raise ProductError(ProductRefusal.PAYMENT_MODE)
    check_variants(variants or [])
    given = clean(translations, PRODUCT_FIELDS)
    row = Product(
        title=title,
        description=description[:1024],
        price=price,
        currency=currency,
        stock=stock,
        payment_mode=payment_mode,
        created_by=created_by,
        photo_file_id=photo.file_id if photo else None,
        photo_width=photo.width if photo else None,
        photo_height=photo.height if photo else None,
        translations=given or None,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    if variants:
        return await add_variants(session, product_id=row.id, variants=variants)
    return _view(row)


async def get_product(session: AsyncSession, product_id: int) -> ProductView | None:
    """The product with this id and its variants, if any."""
    row = await session.get(Product, product_id)
    return _view(row, await variants_of(session, product_id)) if row else None


async def _locked_product(session: AsyncSession, product_id: int) -> Product:
    """The product's row, locked until the transaction ends (two staff changing it at once
    wait for each other); ProductError not_found when there is none."""
    row = (
        await session.execute(
            select(Product).where(col(Product.id) == product_id).with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise ProductError(ProductRefusal.NOT_FOUND)
    return row


async def list_products(session: AsyncSession, *, limit: int, offset: int = 0) -> Page[ProductView]:
    """A page of the active products, newest first, and how many there are."""
    limit, offset = window(limit, offset)
    statement = select(Product).where(col(Product.active)).order_by(col(Product.id).desc())
    total = await count_of(session, statement)
    rows = await session.execute(statement.limit(limit).offset(offset))
    found = list(rows.scalars().all())
    variants = await _variants_by_product(session, [row.id for row in found if row.id])
    return Page([_view(row, variants.get(row.id or 0, ())) for row in found], offset, total)


async def _variants_by_product(
    session: AsyncSession, product_ids: list[int]
) -> dict[int, tuple[VariantView, ...]]:
    """The active variants of these products in one statement, by product."""
    if not product_ids:
        return {}
    rows = await session.execute(
        select(ProductVariant)
        .where(col(ProductVariant.product_id).in_(product_ids), col(ProductVariant.active))
        .order_by(col(ProductVariant.position), col(ProductVariant.id))
    )
    found: dict[int, list[VariantView]] = {}
    for row in rows.scalars().all():
        found.setdefault(row.product_id, []).append(_variant_view(row))
    return {key: tuple(value) for key, value in found.items()}


EDITABLE = (
    "title",
    "description",
    "price",
    "stock",
    "payment_mode",
    "fulfilment",
    "active",
    "photo_file_id",
)


async def update_product(
    session: AsyncSession, *, product_id: int, field: str, value: object
) -> ProductView:
    """Change one field of a product (prices in minor units); ProductError when not allowed."""
    row = await session.get(Product, product_id)
    if row is None:
        raise ProductError(ProductRefusal.NOT_FOUND)
    if field not in EDITABLE:
        raise ProductError(ProductRefusal.FIELD)
    if field == "title" and (not isinstance(value, str) or not 0 < len(value.strip()) <= 128):
        raise ProductError(ProductRefusal.TITLE)
    if field == "price" and (type(value) is not int or value <= 0):
        raise ProductError(ProductRefusal.PRICE)
    if field == "stock" and value is not None and (type(value) is not int or value < 0):
        raise ProductError(ProductRefusal.STOCK)
    if field == "payment_mode" and value not in PAYMENT_MODES:
        raise ProductError(ProductRefusal.PAYMENT_MODE)
    if field == "fulfilment" and value not in FULFILMENT_MODES:
        raise ProductError(ProductRefusal.FULFILMENT)
    if field == "description" and isinstance(value, str):
        value = value[:1024]
    if field == "photo_file_id":  # another photo: its size is not known
        row.photo_width = row.photo_height = None
    setattr(row, field, value.strip() if isinstance(value, str) else value)
    await session.flush()
    assert row.id is not None
    return _view(row, await variants_of(session, row.id))


async def translate_product(
    session: AsyncSession, *, product_id: int, locale: str, title: str, description: str = ""
) -> ProductView:
    """Add or replace the product's title and description in `locale` (no description: the
    other languages' is shown); an empty title removes that language. The row is locked, so
    two staff translating at once both keep their language. ProductError not_found,
    ContentError on a bad language or a text too long."""
    row = await _locked_product(session, product_id)
    if locale not in LOCALES:
        raise ContentError("locale", locale)
    given = {key: dict(value) for key, value in (row.translations or {}).items()}
    if title.strip():
        given = with_language(
            given, locale, {TITLE: title, DESCRIPTION: description}, PRODUCT_FIELDS
        )
    else:
        given.pop(locale, None)
    row.translations = given or None
    await session.flush()
    assert row.id is not None
    return _view(row, await variants_of(session, row.id))
