"""Products: created by staff, priced in minor units, with optional limited stock."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.product import (
    FULFIL_PICKUP,
    FULFILMENT_MODES,
    PAYMENT_MODES,
    PAYMENT_OFFLINE,
    Product,
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
from services.errors import Refused
from services.member import LOCALES
from services.paging import Page, count_of, window


class ProductError(Refused):
    """A product that cannot be created or used; `reason` is a stable code."""


@dataclass(frozen=True, slots=True)
class ProductPhoto:
    """A product's photo: Telegram's file id (valid for this bot only) and its size in pixels
    when known."""

    file_id: str
    width: int | None = None
    height: int | None = None


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


def _view(row: Product) -> ProductView:
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
) -> ProductView:
    """Add a product, with its photo and its title and description in other languages if any;
    the price is already in minor units of the currency."""
    title = title.strip()
    if not title or len(title) > 128:
        raise ProductError("title")
    if type(price) is not int or price <= 0:
        raise ProductError("price")
    if stock is not None and stock < 0:
        raise ProductError("stock")
    if payment_mode not in PAYMENT_MODES:
        raise ProductError("payment_mode")
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
    return _view(row)


async def get_product(session: AsyncSession, product_id: int) -> ProductView | None:
    """The product with this id, if any."""
    row = await session.get(Product, product_id)
    return _view(row) if row else None


async def list_products(session: AsyncSession, *, limit: int, offset: int = 0) -> Page[ProductView]:
    """A page of the active products, newest first, and how many there are."""
    limit, offset = window(limit, offset)
    statement = select(Product).where(col(Product.active)).order_by(col(Product.id).desc())
    total = await count_of(session, statement)
    rows = await session.execute(statement.limit(limit).offset(offset))
    return Page([_view(row) for row in rows.scalars().all()], offset, total)


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
        raise ProductError("not_found")
    if field not in EDITABLE:
        raise ProductError("field")
    if field == "title" and (not isinstance(value, str) or not 0 < len(value.strip()) <= 128):
        raise ProductError("title")
    if field == "price" and (type(value) is not int or value <= 0):
        raise ProductError("price")
    if field == "stock" and value is not None and (type(value) is not int or value < 0):
        raise ProductError("stock")
    if field == "payment_mode" and value not in PAYMENT_MODES:
        raise ProductError("payment_mode")
    if field == "fulfilment" and value not in FULFILMENT_MODES:
        raise ProductError("fulfilment")
    if field == "description" and isinstance(value, str):
        value = value[:1024]
    if field == "photo_file_id":  # another photo: its size is not known
        row.photo_width = row.photo_height = None
    setattr(row, field, value.strip() if isinstance(value, str) else value)
    await session.flush()
    return _view(row)


async def translate_product(
    session: AsyncSession, *, product_id: int, locale: str, title: str, description: str = ""
) -> ProductView:
    """Add or replace the product's title and description in `locale` (no description: the
    other languages' is shown); an empty title removes that language. The row is locked, so
    two staff translating at once both keep their language. ProductError not_found,
    ContentError on a bad language or a text too long."""
    row = (
        await session.execute(
            select(Product).where(col(Product.id) == product_id).with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise ProductError("not_found")
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
    return _view(row)
