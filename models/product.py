"""Products the brand sells, each with a price in minor units and a payment mode."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, translations_column, utcnow

# Product.payment_mode values
PAYMENT_OFFLINE = "offline"  # the member pays the leader at pickup or by transfer
PAYMENT_TELEGRAM = "telegram"  # the bot sends a Telegram invoice (Stars or a provider)
PAYMENT_MODES = (PAYMENT_OFFLINE, PAYMENT_TELEGRAM)


# Product.fulfilment values: how a member gets what they ordered (a group-buy's orders follow
# the group-buy's own mode when it has one, else the product's)
class Fulfilment(StrEnum):
    PICKUP = "pickup"  # picked up at the group's pickup point (the default)
    DELIVERY = "delivery"  # shipped to the member's address, never picked up
    BOTH = "both"  # the member chooses when ordering


FULFIL_PICKUP = Fulfilment.PICKUP
FULFIL_DELIVERY = Fulfilment.DELIVERY
FULFIL_BOTH = Fulfilment.BOTH
FULFILMENT_MODES = tuple(Fulfilment)


class Product(SQLModel, table=True):
    """Something members can order; stock None means unlimited."""

    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("price > 0", name="ck_product_price_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="ck_product_stock_non_negative"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    title: str = Field(max_length=128)
    description: str = Field(default="", max_length=1024)
    price: int = Field(sa_type=BigInteger)  # minor units of `currency`
    currency: str = Field(max_length=8)  # ISO 4217, or XTR for Telegram Stars
    stock: int | None = Field(default=None, sa_type=BigInteger)
    payment_mode: str = Field(default=PAYMENT_OFFLINE, max_length=16)
    fulfilment: str = Field(default=FULFIL_PICKUP, max_length=16)  # one of FULFILMENT_MODES
    photo_file_id: str | None = Field(default=None, max_length=256)  # Telegram's, this bot's
    # the photo's size in pixels, as Telegram gave it (for an invoice's photo), when known
    photo_width: int | None = Field(default=None)
    photo_height: int | None = Field(default=None)
    active: bool = Field(default=True)
    # the title and description in other languages: {locale: {"title": ..., "description": ...}}
    translations: dict[str, dict[str, str]] | None = Field(
        default=None, sa_column=translations_column()
    )
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ProductVariant(SQLModel, table=True):
    """One size, flavour or weight of a product (a SKU), with its own price and stock; the
    currency is the product's. stock None means unlimited."""

    __tablename__ = "product_variant"
    __table_args__ = (
        # names are unique per product whatever their case: name_key is the casefolded name
        UniqueConstraint("product_id", "name_key", name="uq_product_variant_name"),
        CheckConstraint("price > 0", name="ck_product_variant_price_positive"),
        CheckConstraint(
            "stock IS NULL OR stock >= 0", name="ck_product_variant_stock_non_negative"
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    product_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("product.id"), nullable=False, index=True)
    )
    name: str = Field(max_length=64)
    name_key: str = Field(max_length=64)  # name.casefold(): what two names collide on
    price: int = Field(sa_type=BigInteger)  # minor units of the product's currency
    stock: int | None = Field(default=None, sa_type=BigInteger)
    photo_file_id: str | None = Field(default=None, max_length=256)  # Telegram's, this bot's
    position: int = Field(default=0)  # the order they are offered in
    active: bool = Field(default=True)
