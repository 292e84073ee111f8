"""Orders, their status history, and the payments that settle them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Order.status values and the moves allowed between them
ORDER_RESERVED = "reserved"  # stock held for the member, nothing paid yet
ORDER_AWAITING_PAYMENT = "awaiting_payment"  # an invoice was sent, waiting for Telegram
ORDER_PAID = "paid"  # money received (by Telegram, or by the leader offline)
ORDER_FULFILLED = "fulfilled"  # picked up or delivered
ORDER_CANCELLED = "cancelled"  # withdrawn before payment; stock released
ORDER_REFUNDED = "refunded"  # paid, then fully refunded
ORDER_EXPIRED = "expired"  # a pay-at-pickup reservation not paid in time; stock released
# an order event that changes no status: the order was shipped (it stays paid). Never a second
# "paid" event: readers find payments by their event (metrics, attribution, alerts, segments).
EVENT_SHIPPED = "shipped"

ORDER_TRANSITIONS: dict[str, tuple[str, ...]] = {
    ORDER_RESERVED: (ORDER_AWAITING_PAYMENT, ORDER_PAID, ORDER_CANCELLED, ORDER_EXPIRED),
    ORDER_AWAITING_PAYMENT: (ORDER_PAID, ORDER_CANCELLED, ORDER_RESERVED),
    ORDER_PAID: (ORDER_FULFILLED, ORDER_REFUNDED),
    ORDER_FULFILLED: (ORDER_REFUNDED,),
    ORDER_CANCELLED: (),
    ORDER_REFUNDED: (),
    ORDER_EXPIRED: (),
}
OPEN_STATUSES = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT)

# Order.delivery values: how the order reaches the member
DELIVERY_PICKUP = "pickup"  # picked up at a point (the default)
DELIVERY_SHIP = "delivery"  # shipped to the address kept on the order

# the longest "for" text an order keeps (orders for someone else)
FOR_WHOM_MAX = 60

# Payment.status values
PAYMENT_RECEIVED = "received"  # money arrived and settled its order
PAYMENT_REFUNDED_BACK = "refunded"  # the order was no longer valid: sent straight back
PAYMENT_REFUND_DUE = "refund_due"  # must go back, but the provider needs staff to do it


class Order(SQLModel, table=True):
    """One member's order of a product (or, later, a group-buy), priced in minor units."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_order_quantity_positive"),
        CheckConstraint("unit_price > 0", name="ck_order_unit_price_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= paid_amount",
            name="ck_order_refund_within_paid",
        ),
        CheckConstraint(
            "discount >= 0 AND discount < quantity * unit_price", name="ck_order_discount"
        ),
        CheckConstraint("shipping_cost >= 0", name="ck_order_shipping_cost"),
        UniqueConstraint("coupon_id", name="uq_orders_coupon_id"),
        UniqueConstraint("pickup_code", name="uq_orders_pickup_code"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    member_id: int = Field(
        sa_column=Column(TelegramId, ForeignKey("member.id"), nullable=False, index=True)
    )
    # the chat the order was placed from (a group, or the member's private chat)
    chat_id: int = Field(sa_type=TelegramId, index=True)
    # the leader who runs the group's pickup and collects offline payments, if any
    leader_id: int | None = Field(default=None, sa_type=TelegramId)
    product_id: int | None = Field(
        default=None, sa_column=Column(SurrogateKey, ForeignKey("product.id"), index=True)
    )
    groupbuy_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("groupbuy.id", name="fk_orders_groupbuy_id"), index=True
        ),
    )
    title: str = Field(max_length=128)  # the product's title when ordered
    # the variant ordered (size, flavour...) and its name when ordered; None and "" for a
    # product without variants
    variant_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("product_variant.id", name="fk_orders_variant_id"), index=True
        ),
    )
    variant_name: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    quantity: int
    unit_price: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=8)
    payment_mode: str = Field(max_length=16)
    status: str = Field(default=ORDER_RESERVED, max_length=20, index=True)
    paid_amount: int = Field(default=0, sa_type=BigInteger)
    refunded_amount: int = Field(default=0, sa_type=BigInteger)
    # the leader's commission on this order, in basis points of what was paid (0: none)
    commission_bps: int = Field(default=0)
    # taken off the price: the member's tier discount and the coupon applied, if any
    discount: int = Field(default=0, sa_type=BigInteger)
    coupon_id: int | None = Field(
        default=None,
        sa_column=Column(SurrogateKey, ForeignKey("member_coupon.id", name="fk_orders_coupon_id")),
    )
    # bumped on every status change: the invoice payload carries it, so a stale invoice fails
    version: int = Field(default=1)
    # a pay-at-pickup reservation (/buy of an offline product) is released at this moment if
    # still unpaid; None: held until paid or cancelled (Telegram orders, group-buy sign-ups)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # when the member was reminded that the reservation is about to expire (once)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the code the member shows at pickup (核销), given when the order is paid; unique for good
    pickup_code: str | None = Field(default=None, max_length=8)
    # where the member picks it up: chosen by the member, or the point that confirmed pickup
    pickup_point_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("pickup_point.id", name="fk_orders_pickup_point_id")
        ),
    )
    # who confirmed the pickup and when (set once, with the move to fulfilled)
    picked_up_by: int | None = Field(default=None, sa_type=TelegramId)
    picked_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # delivery instead of pickup: the address the member gave (in the invoice or in private),
    # erased by /forgetme and after its retention period counted from the shipping
    delivery: str = Field(default=DELIVERY_PICKUP, max_length=16)
    ship_name: str = Field(default="", max_length=64)
    ship_phone: str = Field(default="", max_length=32)
    ship_address: str = Field(default="", max_length=300)
    shipping_option_id: int | None = Field(
        default=None,
        sa_column=Column(
            SurrogateKey, ForeignKey("shipping_option.id", name="fk_orders_shipping_option_id")
        ),
    )
    # what the delivery costs, in minor units of the order's currency, part of its total
    shipping_cost: int = Field(default=0, sa_type=BigInteger)
    # who marked it shipped, when, with which carrier and tracking number (set once)
    carrier: str = Field(default="", max_length=32)
    tracking_number: str = Field(default="", max_length=64)
    shipped_by: int | None = Field(default=None, sa_type=TelegramId)
    shipped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # whom the order is for when not the member themself (代订), free text such as "Mom,
    # building 3": shown on pickup sheets and in exports, erased by /forgetme
    for_whom: str = Field(default="", max_length=FOR_WHOM_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price - self.discount + self.shipping_cost


class OrderEvent(SQLModel, table=True):
    """One status change of an order: from, to, who, when, why."""

    __tablename__ = "order_event"
    # the weekly metrics find payments by when they happened (services/metrics/)
    __table_args__ = (Index("ix_order_event_status_at", "to_status", "at"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    order_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("orders.id"), nullable=False, index=True)
    )
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor_id: int | None = Field(default=None, sa_type=TelegramId)
    note: str = Field(default="", max_length=255)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Payment(SQLModel, table=True):
    """A Telegram payment, recorded once per charge id whatever happens to its order."""

    __tablename__ = "payment"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    telegram_charge_id: str = Field(max_length=128, unique=True)
    provider_charge_id: str = Field(default="", max_length=128)
    order_id: int | None = Field(
        default=None, sa_column=Column(SurrogateKey, ForeignKey("orders.id"), index=True)
    )
    member_id: int = Field(sa_type=TelegramId)
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=8)
    status: str = Field(default=PAYMENT_RECEIVED, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# StarRefund.status values
STAR_REFUND_PENDING = "pending"  # committed; the refunder asks Telegram (again) until it answers
STAR_REFUND_SENT = "sent"  # Telegram sent the Stars back and the ledger booked it
STAR_REFUND_FAILED = "failed"  # Telegram refused for good: staff pay it back by hand

# StarRefund.reason values: why the Stars go back, which says what the member is told
REFUND_BY_STAFF = "staff"  # /refund of a paid order
REFUND_UNPAYABLE = "unpayable"  # a payment for an order that could no longer take it
REFUND_GROUPBUY = "groupbuy"  # the prepayment of a group-buy that did not form
REFUND_MEMBERSHIP = "membership"  # a membership payment not kept (its plan no longer sold)


class StarRefund(SQLModel, table=True):
    """A Stars refund owed to a member, committed before Telegram is asked for it, so that it
    is neither forgotten nor sent twice across failures and restarts (one row per charge)."""

    __tablename__ = "star_refund"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    charge_id: str = Field(max_length=128, unique=True)
    member_id: int = Field(sa_type=TelegramId)
    order_id: int | None = Field(
        default=None, sa_column=Column(SurrogateKey, ForeignKey("orders.id"), index=True)
    )
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=8)
    reason: str = Field(max_length=16)
    status: str = Field(default=STAR_REFUND_PENDING, max_length=16, index=True)
    attempts: int = Field(default=0)
    # not asked again before this time (backoff), nor while another refunder holds the lease
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
