"""Group-buys (拼团): a product offered to one or more groups until a deadline.

Units and participants are counters on the group-buy row, moved only by conditional UPDATEs,
so stock is never oversold whatever the concurrency; each member's share is one join row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, translations_column, utcnow

# GroupBuy.status values
GROUPBUY_OPEN = "open"  # taking joins until the deadline or until sold out
GROUPBUY_SETTLING = "settling"  # claimed by the closing job; becomes formed or failed
GROUPBUY_FORMED = "formed"  # reached its minimum: orders were opened at the final price
GROUPBUY_FAILED = "failed"  # missed its minimum: every reservation released
GROUPBUY_CANCELLED = "cancelled"  # cancelled by its leader or staff before closing

# GroupBuy.min_kind values
MIN_PEOPLE = "people"
MIN_UNITS = "units"


class GroupBuy(SQLModel, table=True):
    """One group-buy; a drop posted into several groups shares this row and its stock."""

    __tablename__ = "groupbuy"
    __table_args__ = (
        CheckConstraint("units_sold >= 0 AND units_sold <= stock_cap", name="ck_groupbuy_stock"),
        CheckConstraint("participants >= 0", name="ck_groupbuy_participants"),
        CheckConstraint("per_member_limit > 0", name="ck_groupbuy_limit"),
        CheckConstraint("min_count > 0", name="ck_groupbuy_min"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    product_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("product.id"), nullable=False, index=True)
    )
    title: str = Field(max_length=128)
    unit_price: int = Field(sa_type=BigInteger)  # before any tier, minor units
    currency: str = Field(max_length=8)
    payment_mode: str = Field(max_length=16)
    min_kind: str = Field(default=MIN_PEOPLE, max_length=8)
    min_count: int
    stock_cap: int
    per_member_limit: int
    units_sold: int = Field(default=0)
    participants: int = Field(default=0)
    deadline: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    # VIP early access: until vip_until, only members of tier rank vip_rank and above may join
    vip_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    vip_rank: int = Field(default=0)
    # or, with a level (models/community.py LEVELS), only members joining from a group of that
    # level or above may join until vip_until (a window for the VIP or core groups); "": none
    vip_level: str = Field(default="", max_length=8, sa_column_kwargs={"server_default": ""})
    pickup_point: str = Field(default="", max_length=255)
    pickup_time: str = Field(default="", max_length=64)
    # how its orders are fulfilled (one of models/product.py FULFILMENT_MODES); "": the product's
    fulfilment: str = Field(default="", max_length=16)
    # a sign-up list (接龙): several items (its variants), a member orders several of them in
    # one order with lines (GroupBuyLine), each item within the per-member limit
    multi: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # a sign-up list forms item by item (each at its own minimum), else as a whole
    form_per_item: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # the pickup texts in other languages (a drop's): {locale: {"pickup_point": ..., ...}}
    translations: dict[str, dict[str, str]] | None = Field(
        default=None, sa_column=translations_column()
    )
    status: str = Field(default=GROUPBUY_OPEN, max_length=12, index=True)
    # the leader who opened it (earns the commission), or the staff member for a drop
    opened_by: int = Field(sa_type=TelegramId)
    # the opener's commission on each paid order, in basis points (0 for staff drops)
    commission_bps: int = Field(default=0)
    final_price: int | None = Field(default=None, sa_type=BigInteger)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class GroupBuyTier(SQLModel, table=True):
    """From `min_units` sold on, everyone pays `unit_price`."""

    __tablename__ = "groupbuy_tier"
    __table_args__ = (UniqueConstraint("groupbuy_id", "min_units", name="uq_groupbuy_tier"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("groupbuy.id"), nullable=False, index=True)
    )
    min_units: int
    unit_price: int = Field(sa_type=BigInteger)


class GroupBuyPost(SQLModel, table=True):
    """The card of a group-buy in one group, kept current by editing it."""

    __tablename__ = "groupbuy_post"
    __table_args__ = (UniqueConstraint("groupbuy_id", "chat_id", name="uq_groupbuy_post"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("groupbuy.id"), nullable=False, index=True)
    )
    chat_id: int = Field(sa_type=TelegramId)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    # when the card was last edited: edits are spaced out per group
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the card is the product's photo with the card as its caption (edited with
    # editMessageCaption), else a text message (editMessageText)
    photo: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # this group's own pickup text in a targeted drop ("" : the group-buy's pickup texts)
    pickup: str = Field(
        default="", sa_column=Column(String(255), nullable=False, server_default="")
    )


class GroupBuyJoin(SQLModel, table=True):
    """A member's share of a group-buy; quantity 0 means they left."""

    __tablename__ = "groupbuy_join"
    __table_args__ = (
        UniqueConstraint("groupbuy_id", "member_id", name="uq_groupbuy_join"),
        CheckConstraint("quantity >= 0", name="ck_groupbuy_join_quantity"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("groupbuy.id"), nullable=False, index=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    chat_id: int = Field(sa_type=TelegramId)  # the group they joined from
    quantity: int
    # the variant they joined with, for a product with variants (one per member; None else)
    variant_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("product_variant.id", name="fk_groupbuy_join_variant_id")
        ),
    )
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class GroupBuyVariant(SQLModel, table=True):
    """One variant offered in a group-buy of a product with variants: its price and its own
    stock cap (taken from the variant's stock at opening) and units sold, moved only by
    conditional UPDATEs like the group-buy's counters, which hold the totals."""

    __tablename__ = "groupbuy_variant"
    __table_args__ = (
        UniqueConstraint("groupbuy_id", "variant_id", name="uq_groupbuy_variant"),
        CheckConstraint(
            "units_sold >= 0 AND units_sold <= stock_cap", name="ck_groupbuy_variant_stock"
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("groupbuy.id"), nullable=False, index=True)
    )
    variant_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("product_variant.id"), nullable=False)
    )
    name: str = Field(max_length=64)  # the variant's name when the group-buy opened
    unit_price: int = Field(sa_type=BigInteger)  # minor units of the group-buy's currency
    stock_cap: int
    units_sold: int = Field(default=0)
    position: int = Field(default=0)
    # an item of a sign-up list: the units it needs to form (0: no minimum of its own)
    min_units: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # an item of a sign-up list put from the catalogue: the product it sells (its orders name
    # that product, so its stats and reviews count them); None for a list's own items and for
    # the variants of the group-buy's own product. Its stock is its variant's (`variant_id`
    # is that product's variant), or the product's own when the product has no variants
    # (`variant_id` is then a variant of the list's product, the item's key on the list)
    product_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("product.id", name="fk_groupbuy_variant_product_id")
        ),
    )


class GroupBuyLine(SQLModel, table=True):
    """One line of a member's order in a sign-up list (接龙): units of one item (a variant of
    the group-buy). The member's GroupBuyJoin row holds the sum of their lines; quantity 0 means
    they took the item off."""

    __tablename__ = "groupbuy_line"
    __table_args__ = (
        UniqueConstraint("groupbuy_id", "member_id", "variant_id", name="uq_groupbuy_line"),
        CheckConstraint("quantity >= 0", name="ck_groupbuy_line_quantity"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    groupbuy_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("groupbuy.id"), nullable=False, index=True)
    )
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    variant_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("product_variant.id"), nullable=False)
    )
    quantity: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
