"""Delivery (配送): the brand's shipping options, offered in an invoice or in private.

What a delivered order carries (its address, cost, carrier and tracking number) is on the
order itself (models/order.py), so the order and its delivery change in one UPDATE.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow


class ShippingOption(SQLModel, table=True):
    """A way the brand ships (a courier, a same-day van) at a price in one currency, to some
    countries or to all; staff add and remove them."""

    __tablename__ = "shipping_option"
    __table_args__ = (CheckConstraint("price >= 0", name="ck_shipping_option_price"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    name: str = Field(max_length=64)
    price: int = Field(sa_type=BigInteger)  # minor units of `currency`; 0: free
    currency: str = Field(max_length=8)
    # ISO 3166-1 alpha-2 codes it ships to, comma-separated; "" ships everywhere
    countries: str = Field(default="", max_length=200)
    active: bool = Field(default=True)  # False: removed; orders shipped with it still name it
    created_by: int = Field(sa_type=TelegramId)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
