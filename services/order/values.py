"""Order values: the refusals (OrderError and its reasons), the ledger transaction kinds an
order books, and the plain dataclasses the verbs return.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from models.order import Order
from services.content import DESCRIPTION, TITLE, ReadTranslations, localized
from services.errors import Refused
from services.points import REASON_CLAWBACK, REASON_ORDER, transaction_kind
from services.product import ProductPhoto

# ledger transaction kinds written here
TX_ORDER_PAID = "order_paid"
TX_ORDER_REFUND = "order_refund"
TX_REFUND_PAID = "refund_paid"
TX_PAYMENT_UNMATCHED = "payment_unmatched"
# pending: scaled by a partial refund, reversed by a full one, released after the window
TX_COMMISSION = "commission"
TX_COMMISSION_RELEASE = "commission_release"
TX_ORDER_POINTS = transaction_kind(REASON_ORDER)
TX_CLAWBACK = transaction_kind(REASON_CLAWBACK)


class OrderError(Refused):
    """An order action that cannot be done; `reason` is a stable code handlers translate."""


class OrderRefusal(StrEnum):
    """The reasons an OrderError gives (its `reason`); the handlers map each to a message."""

    NOT_FOUND = "not_found"
    BAD_QUANTITY = "bad_quantity"
    NO_PRODUCT = "no_product"
    OVER_CEILING = "over_ceiling"
    OUT_OF_STOCK = "out_of_stock"
    CHOOSE_VARIANT = "choose_variant"
    EXPIRED = "expired"
    BAD_TRANSITION = "bad_transition"
    CHANGED_MEANWHILE = "changed_meanwhile"
    ALREADY_PAID = "already_paid"
    PAID_IN_TELEGRAM = "paid_in_telegram"
    OWN_ORDER = "own_order"
    OVER_CASH_LIMIT = "over_cash_limit"
    NOT_PAID = "not_paid"
    OWN_PICKUP = "own_pickup"
    NOT_YOURS = "not_yours"
    OFFLINE_ORDER = "offline_order"
    ALREADY_REFUNDED = "already_refunded"
    BAD_AMOUNT = "bad_amount"
    REFUND_TOO_LARGE = "refund_too_large"
    PARTIAL_STARS_REFUND = "partial_stars_refund"
    # raised by services/myorders.py and services/reservation.py
    NOT_OPEN = "not_open"
    NOT_RESERVED = "not_reserved"


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as plain values."""

    id: int
    member_id: int
    chat_id: int
    leader_id: int | None
    title: str
    quantity: int
    unit_price: int
    currency: str
    payment_mode: str
    status: str
    paid_amount: int
    refunded_amount: int
    version: int
    discount: int = 0  # the tier discount and the coupon, taken off quantity x unit price
    coupon_id: int | None = None
    expires_at: datetime | None = None  # a pay-at-pickup reservation is released then, unpaid
    product_id: int | None = None
    pickup_code: str | None = None  # given when paid; shown to the member, typed by a keeper
    pickup_point_id: int | None = None
    picked_up_by: int | None = None
    picked_up_at: datetime | None = None
    delivery: str = "pickup"  # DELIVERY_PICKUP or DELIVERY_SHIP (models/order.py)
    shipping_cost: int = 0  # part of the total, in minor units
    ship_address: str = ""  # "" until the member gave it (or after it was erased)
    carrier: str = ""
    tracking_number: str = ""
    shipped_at: datetime | None = None
    for_whom: str = ""  # whom it is for when not the member themself (代订), "" for them
    # what its invoice shows of the product (filled in where an invoice is prepared)
    description: str = ""
    photo: ProductPhoto | None = None
    # the product's title and description in other languages (filled in with them)
    translations: ReadTranslations = None
    variant_id: int | None = None
    variant: str = ""  # the variant's name when ordered ("" without variants), in the title

    def in_language(self, locale: str, default_locale: str) -> OrderView:
        """The order as a reader of `locale` sees its product (services/content.py's
        fallback)."""
        if not self.translations:
            return self
        title = localized(self.title, self.translations, TITLE, locale, default_locale)
        if self.variant and title != self.title:  # the product's title changed language
            title = with_variant(title, self.variant)
        return replace(
            self,
            title=title,
            description=localized(
                self.description, self.translations, DESCRIPTION, locale, default_locale
            ),
        )

    @property
    def gross(self) -> int:
        return self.quantity * self.unit_price

    @property
    def total(self) -> int:
        return self.gross - self.discount + self.shipping_cost

    @property
    def invoice_payload(self) -> str:
        """What the invoice carries: the order and the version it was sent at."""
        return f"order:{self.id}:v{self.version}"


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """What a Telegram payment did: settled its order, or must go back to the member."""

    order: OrderView | None
    status: str  # PAYMENT_RECEIVED, PAYMENT_REFUNDED_BACK (Stars: refund it now) or REFUND_DUE
    amount: int
    currency: str
    charge_id: str
    created: bool  # False for a payment already recorded (a duplicated update)


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    """A refund booked on the ledger; Stars go back through Telegram with `star_charge_id`."""

    order: OrderView
    amount: int
    star_charge_id: str | None  # set when the handler must call refundStarPayment
    refund_due: bool  # another provider: staff must pay it back and are told


def with_variant(title: str, variant: str) -> str:
    """The product's title with the variant's name beside it, as every list shows an order."""
    return f"{title} · {variant}" if variant else title


def order_view(row: Order) -> OrderView:
    """The plain view of an order row."""
    assert row.id is not None
    return OrderView(
        id=row.id,
        member_id=row.member_id,
        chat_id=row.chat_id,
        leader_id=row.leader_id,
        title=with_variant(row.title, row.variant_name),
        quantity=row.quantity,
        unit_price=row.unit_price,
        currency=row.currency,
        payment_mode=row.payment_mode,
        status=row.status,
        paid_amount=row.paid_amount,
        refunded_amount=row.refunded_amount,
        version=row.version,
        discount=row.discount,
        coupon_id=row.coupon_id,
        expires_at=row.expires_at,
        product_id=row.product_id,
        pickup_code=row.pickup_code,
        pickup_point_id=row.pickup_point_id,
        picked_up_by=row.picked_up_by,
        picked_up_at=row.picked_up_at,
        delivery=row.delivery,
        shipping_cost=row.shipping_cost,
        ship_address=row.ship_address,
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        shipped_at=row.shipped_at,
        variant_id=row.variant_id,
        variant=row.variant_name,
        for_whom=row.for_whom,
    )
