"""Orders: placing, the status machine, offline and Telegram payments, refunds.

Every status change is a conditional UPDATE on (status, version), so two leaders tapping
"paid" at once, or a payment racing a cancellation, change an order once. Every money
movement goes through the ledger under a key derived from the order, so a retry posts nothing
twice.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.groupbuy import (
    GROUPBUY_FORMED,
    GroupBuy,
    GroupBuyJoin,
    GroupBuyLine,
    GroupBuyVariant,
)
from models.ledger import (
    ACCOUNT_BRAND_COMMISSION_EXPENSE,
    ACCOUNT_BRAND_REFUNDS,
    ACCOUNT_BRAND_REVENUE,
    ACCOUNT_BRAND_SHIPPING,
    ACCOUNT_CUSTOMER_PAYABLE,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_POINTS,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.order import (
    DELIVERY_PICKUP,
    DELIVERY_SHIP,
    OPEN_STATUSES,
    ORDER_AWAITING_PAYMENT,
    ORDER_CANCELLED,
    ORDER_EXPIRED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_RESERVED,
    ORDER_TRANSITIONS,
    PAYMENT_RECEIVED,
    PAYMENT_REFUND_DUE,
    PAYMENT_REFUNDED_BACK,
    Order,
    OrderEvent,
    Payment,
)
from models.product import (
    FULFIL_DELIVERY,
    PAYMENT_OFFLINE,
    PAYMENT_TELEGRAM,
    Product,
    ProductVariant,
)
from models.waitlist import WAIT_OFFERED, WAIT_WAITING, WaitlistEntry
from services.cash import TX_CASH_COLLECTED, TX_REFUND_HANDED_BACK, collect_cash
from services.commission import CommissionHold, release_held
from services.content import DESCRIPTION, TITLE, ReadTranslations, localized
from services.coupons import release_coupon
from services.credit import cash_order_limit_reached
from services.db import rowcount
from services.errors import Refused
from services.ledger import STARS, AccountRef, Posting, find_transaction, post, reverse
from services.points import REASON_CLAWBACK, REASON_ORDER, claw_back, transaction_kind
from services.product import ProductPhoto
from services.referral import (
    TX_COMMISSION_ADJUST,
    TX_REFERRAL_COMMISSION,
    TX_REFERRAL_COMMISSION_RELEASE,
    TX_REFERRAL_POINTS,
    order_refunded,
)
from services.role import is_leader, is_suspended_leader
from services.shipping import ShippingGiven, shipping_for_payment
from services.tiers import tier_discount
from services.validation import shown

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
# transaction kinds of the order's own settlement, which a refund does not reverse (the cash a
# leader collected stays owed to the brand: the refund is owed to the member beside it)
_SETTLEMENT_KINDS = (
    TX_ORDER_PAID,
    TX_ORDER_REFUND,
    TX_REFUND_PAID,
    TX_PAYMENT_UNMATCHED,
    TX_CASH_COLLECTED,
    TX_REFUND_HANDED_BACK,
)
_PAYLOAD = re.compile(r"^order:(\d{1,18}):v(\d{1,9})$")
# pickup codes (核销码): read aloud or typed from a phone, so no 0/O, 1/I; random, so the
# next order's code cannot be guessed from this one's; 32^6 (about a billion) codes
PICKUP_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PICKUP_CODE_LENGTH = 6


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


async def new_pickup_code(session: AsyncSession) -> str:
    """A random pickup code no order holds yet (the unique constraint stays the last word)."""
    while True:
        code = "".join(secrets.choice(PICKUP_ALPHABET) for _ in range(PICKUP_CODE_LENGTH))
        taken = await session.scalar(select(col(Order.id)).where(col(Order.pickup_code) == code))
        if taken is None:
            return code


def _customer(member_id: int) -> AccountRef:
    return AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, member_id)


def _payable(member_id: int) -> AccountRef:
    return AccountRef(ACCOUNT_CUSTOMER_PAYABLE, member_id)


async def get_order(session: AsyncSession, order_id: int) -> OrderView | None:
    """The order with this id, if any."""
    row = await session.get(Order, order_id, populate_existing=True)
    return order_view(row) if row else None


async def _with_product(session: AsyncSession, order: OrderView) -> OrderView:
    """The order with what its invoice shows of its product: the description and photo."""
    product = await session.get(Product, order.product_id) if order.product_id else None
    if product is None:
        return order
    photo = (
        ProductPhoto(product.photo_file_id, product.photo_width, product.photo_height)
        if product.photo_file_id
        else None
    )
    return replace(
        order,
        description=product.description,
        photo=photo,
        translations=product.translations or None,
    )


async def with_translations(session: AsyncSession, orders: list[OrderView]) -> list[OrderView]:
    """The orders with their products' titles and descriptions in other languages, read in
    one statement (none when no order names a product), for a reader to pick theirs with
    OrderView.in_language."""
    ids = sorted({order.product_id for order in orders if order.product_id is not None})
    if not ids:
        return orders
    rows = await session.execute(
        select(col(Product.id), col(Product.translations)).where(col(Product.id).in_(ids))
    )
    found: dict[int, ReadTranslations] = {}
    for product_id, texts in rows.all():
        if product_id is not None and texts:
            found[product_id] = texts
    return [
        replace(order, translations=found[order.product_id]) if order.product_id in found else order
        for order in orders
    ]


async def order_for_invoice(session: AsyncSession, order_id: int) -> OrderView | None:
    """The order with this id, with what its invoice shows of the product, if any."""
    found = await get_order(session, order_id)
    return await _with_product(session, found) if found else None


async def _load(session: AsyncSession, order_id: int) -> Order:
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None:
        raise OrderError(OrderRefusal.NOT_FOUND, str(order_id))
    return row


async def place_order(
    session: AsyncSession,
    *,
    member_id: int,
    chat_id: int,
    product_id: int,
    quantity: int,
    max_total: int,
    leader_id: int | None = None,
    expires_at: datetime | None = None,
    variant_id: int | None = None,
) -> OrderView:
    """Reserve stock and open an order at the product's current price, or its variant's
    (`expires_at`: when an unpaid reservation is released, see services/reservation.py). A
    product with variants is ordered by variant (OrderError choose_variant otherwise), each
    with its own stock."""
    if type(quantity) is not int or quantity <= 0:
        raise OrderError(OrderRefusal.BAD_QUANTITY)
    product = await session.get(Product, product_id)
    if product is None or not product.active:
        raise OrderError(OrderRefusal.NO_PRODUCT, str(product_id))
    variant = await _variant_to_order(session, product_id, variant_id)
    price = variant.price if variant is not None else product.price
    if quantity * price > max_total:
        raise OrderError(OrderRefusal.OVER_CEILING)
    if variant is not None:
        await _take_variant_stock(session, variant, quantity)
    elif product.stock is not None:
        taken = await session.execute(
            update(Product)
            .where(col(Product.id) == product_id, col(Product.stock) >= quantity)
            .values(stock=col(Product.stock) - quantity)
        )
        if rowcount(taken) != 1:
            stock = select(col(Product.stock)).where(col(Product.id) == product_id)
            left = await session.scalar(stock)  # the refusal says what is left
            raise OrderError(OrderRefusal.OUT_OF_STOCK, str(left or 0))
    row = Order(
        member_id=member_id,
        chat_id=chat_id,
        leader_id=leader_id,
        product_id=product_id,
        title=product.title,
        variant_id=variant.id if variant is not None else None,
        variant_name=variant.name if variant is not None else "",
        quantity=quantity,
        unit_price=price,
        currency=product.currency,
        payment_mode=product.payment_mode,
        discount=await tier_discount(session, member_id=member_id, gross=quantity * price),
        expires_at=expires_at,
        # a product only delivered is delivered; one offered both ways is picked up unless
        # the member chooses delivery (services/delivery.py)
        delivery=DELIVERY_SHIP if product.fulfilment == FULFIL_DELIVERY else DELIVERY_PICKUP,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    session.add(OrderEvent(order_id=row.id, to_status=ORDER_RESERVED, actor_id=member_id))
    return order_view(row)


async def _variant_to_order(
    session: AsyncSession, product_id: int, variant_id: int | None
) -> ProductVariant | None:
    """The variant an order names, which must be an active one of its product; None for a
    product without variants. OrderError choose_variant when the product has some and none
    (or another product's) is named."""
    if variant_id is not None:
        variant = await session.get(ProductVariant, variant_id)
        if variant is not None and variant.product_id == product_id and variant.active:
            return variant
        raise OrderError(OrderRefusal.CHOOSE_VARIANT, str(product_id))
    has_variants = await session.scalar(
        select(col(ProductVariant.id))
        .where(col(ProductVariant.product_id) == product_id, col(ProductVariant.active))
        .limit(1)
    )
    if has_variants is not None:
        raise OrderError(OrderRefusal.CHOOSE_VARIANT, str(product_id))
    return None


async def _take_variant_stock(
    session: AsyncSession, variant: ProductVariant, quantity: int
) -> None:
    """The variant's stock loses `quantity` units, or the order is refused (out_of_stock with
    what is left): one conditional UPDATE, so concurrent orders never oversell a variant."""
    if variant.stock is None:
        return
    taken = await session.execute(
        update(ProductVariant)
        .where(col(ProductVariant.id) == variant.id, col(ProductVariant.stock) >= quantity)
        .values(stock=col(ProductVariant.stock) - quantity)
        .execution_options(synchronize_session=False)
    )
    if rowcount(taken) != 1:
        stock = select(col(ProductVariant.stock)).where(col(ProductVariant.id) == variant.id)
        left = await session.scalar(stock)
        raise OrderError(OrderRefusal.OUT_OF_STOCK, str(left or 0))


async def _move(
    session: AsyncSession,
    row: Order,
    to: str,
    *,
    actor_id: int | None,
    note: str = "",
    paid_amount: int | None = None,
    at: datetime | None = None,
    extra: dict[str, object] | None = None,
) -> Order:
    """Change the status if the machine allows it and nobody changed the order meanwhile
    (`at`: when, by the domain's clock; now when not given; `extra`: more columns to set in
    the same conditional UPDATE). A paid order gets its pickup code here."""
    at = at or utcnow()
    before, version = row.status, row.version
    if before == ORDER_EXPIRED:  # its stock is back on sale: the member orders again
        raise OrderError(OrderRefusal.EXPIRED, str(row.id))
    if to not in ORDER_TRANSITIONS.get(before, ()):
        raise OrderError(OrderRefusal.BAD_TRANSITION, f"{before} -> {to}")
    values: dict[str, object] = {"status": to, "version": version + 1, "updated_at": at}
    if paid_amount is not None:
        values["paid_amount"] = paid_amount
    if to == ORDER_PAID and row.pickup_code is None:
        values["pickup_code"] = await new_pickup_code(session)
    values.update(extra or {})
    result = await session.execute(
        update(Order)
        .where(
            col(Order.id) == row.id,
            col(Order.status) == before,
            col(Order.version) == version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise OrderError(OrderRefusal.CHANGED_MEANWHILE, str(row.id))
    assert row.id is not None
    session.add(
        OrderEvent(
            order_id=row.id, from_status=before, to_status=to, actor_id=actor_id, note=note, at=at
        )
    )
    return await _load(session, row.id)


async def cancel_order(
    session: AsyncSession, *, order_id: int, actor_id: int | None, note: str = ""
) -> OrderView:
    """Withdraw an unpaid order and give its stock back."""
    row = await _load(session, order_id)
    row = await _move(session, row, ORDER_CANCELLED, actor_id=actor_id, note=note)
    await release_reserved(session, row)
    return order_view(await _load(session, order_id))


async def release_reserved(session: AsyncSession, row: Order) -> None:
    """What an unpaid order held goes back: its units to the product's stock, its coupon to
    the member (for an order just cancelled or expired; a group-buy's stock is its own)."""
    assert row.id is not None
    if row.variant_id is not None and row.groupbuy_id is None:
        await session.execute(
            update(ProductVariant)
            .where(col(ProductVariant.id) == row.variant_id, col(ProductVariant.stock).is_not(None))
            .values(stock=col(ProductVariant.stock) + row.quantity)
            .execution_options(synchronize_session=False)
        )
    elif row.product_id is not None and row.groupbuy_id is None:
        await session.execute(
            update(Product)
            .where(col(Product.id) == row.product_id, col(Product.stock).is_not(None))
            .values(stock=col(Product.stock) + row.quantity)
        )
    await release_coupon(session, order_id=row.id)


async def _earns(session: AsyncSession, row: Order) -> bool:
    """Whether the order's leader earns its commission now: only while appointed and not
    suspended, in the order's group (staff's decision stops the earning of open group-buys)."""
    assert row.leader_id is not None
    if row.chat_id < 0:  # a group
        return await is_leader(session, member_id=row.leader_id, community_id=row.chat_id)
    return not await is_suspended_leader(session, row.leader_id)


async def _settle(session: AsyncSession, row: Order, *, actor_id: int | None) -> None:
    """Book the order's payment: the member's money becomes brand revenue, and the leader's
    commission is booked as pending until the refund window ends."""
    assert row.id is not None
    commission = (row.total - row.shipping_cost) * row.commission_bps // 10_000
    if row.leader_id is not None and commission > 0 and await _earns(session, row):
        await post(
            session,
            key=f"order:{row.id}:commission",
            kind=TX_COMMISSION,
            postings=[
                Posting(AccountRef(ACCOUNT_BRAND_COMMISSION_EXPENSE), row.currency, -commission),
                Posting(
                    AccountRef(ACCOUNT_LEADER_COMMISSION_PENDING, row.leader_id),
                    row.currency,
                    commission,
                ),
            ],
            memo=f"commission on order #{row.id}",
            actor_id=actor_id,
            order_id=row.id,
        )
    await post(
        session,
        key=f"order:{row.id}:paid",
        kind=TX_ORDER_PAID,
        postings=[
            Posting(_customer(row.member_id), row.currency, -row.total),
            Posting(AccountRef(ACCOUNT_BRAND_REVENUE), row.currency, row.total - row.shipping_cost),
            *(
                [Posting(AccountRef(ACCOUNT_BRAND_SHIPPING), row.currency, row.shipping_cost)]
                if row.shipping_cost
                else []
            ),
        ],
        memo=f"order #{row.id} {row.title} x{row.quantity}",
        actor_id=actor_id,
        order_id=row.id,
    )


async def mark_paid_offline(
    session: AsyncSession, *, order_id: int, actor_id: int, now: datetime | None = None
) -> OrderView:
    """The leader collected the money at pickup or by transfer: only for an offline order,
    and never by the member who placed it. The cash is then owed to the brand by whoever
    marked it received (their leader_cash account) until they hand it over."""
    row = await _load(session, order_id)
    if row.status == ORDER_PAID:
        raise OrderError(OrderRefusal.ALREADY_PAID, str(order_id))
    if row.payment_mode != PAYMENT_OFFLINE:  # an invoice order is paid in Telegram, only
        raise OrderError(OrderRefusal.PAID_IN_TELEGRAM, str(order_id))
    if row.member_id == actor_id:
        raise OrderError(OrderRefusal.OWN_ORDER, str(order_id))
    # staff may cap the order one leader takes cash for by hand (services/credit.py)
    limits = await cash_order_limit_reached(
        session, leader_id=actor_id, amount=row.total, currency=row.currency
    )
    if limits is not None:  # the detail names the limit: "<minor units> <currency>"
        raise OrderError(OrderRefusal.OVER_CASH_LIMIT, f"{limits.max_cash_order} {limits.currency}")
    row = await _move(
        session, row, ORDER_PAID, actor_id=actor_id, note="offline", paid_amount=row.total, at=now
    )
    await _settle(session, row, actor_id=actor_id)
    assert row.id is not None
    await collect_cash(
        session,
        order_id=row.id,
        member_id=row.member_id,
        collector_id=actor_id,
        amount=row.total,
        currency=row.currency,
    )
    return order_view(row)


async def mark_fulfilled(
    session: AsyncSession,
    *,
    order_id: int,
    actor_id: int,
    now: datetime | None = None,
    point_id: int | None = None,
    note: str = "",
) -> OrderView:
    """The member picked the order up (only after it was paid); never marked by that member,
    whose word alone would close their own order. Who and when are kept on the order, and
    the point it was picked up at when known (`point_id`)."""
    row = await _load(session, order_id)
    if row.status in OPEN_STATUSES:
        raise OrderError(OrderRefusal.NOT_PAID, str(order_id))
    if row.member_id == actor_id:
        raise OrderError(OrderRefusal.OWN_PICKUP, str(order_id))
    at = now or utcnow()
    extra: dict[str, object] = {"picked_up_by": actor_id, "picked_up_at": at}
    if point_id is not None:
        extra["pickup_point_id"] = point_id
    moved = await _move(
        session, row, ORDER_FULFILLED, actor_id=actor_id, at=at, note=note, extra=extra
    )
    return order_view(moved)


async def start_invoice(session: AsyncSession, *, order_id: int, member_id: int) -> OrderView:
    """Move an order to awaiting_payment for a Telegram invoice (again, if one was lost); the
    order comes with what the invoice shows of its product."""
    row = await _load(session, order_id)
    if row.member_id != member_id:
        raise OrderError(OrderRefusal.NOT_YOURS, str(order_id))
    if row.payment_mode != PAYMENT_TELEGRAM:
        raise OrderError(OrderRefusal.OFFLINE_ORDER, str(order_id))
    if row.status == ORDER_AWAITING_PAYMENT:  # a fresh invoice supersedes the old one
        row = await _move(session, row, ORDER_RESERVED, actor_id=member_id, note="new invoice")
    moved = await _move(session, row, ORDER_AWAITING_PAYMENT, actor_id=member_id)
    return await _with_product(session, order_view(moved))


async def _by_payload(session: AsyncSession, payload: str) -> tuple[Order | None, int | None]:
    match = _PAYLOAD.match(payload)
    if match is None:
        return None, None
    row = await session.get(Order, int(match.group(1)), populate_existing=True)
    return row, int(match.group(2))


async def check_pre_checkout(
    session: AsyncSession,
    *,
    payload: str,
    member_id: int,
    currency: str,
    total_amount: int,
    shipping: ShippingGiven | None = None,
) -> str | None:
    """None when Telegram may take the money; otherwise why not (a stable reason code). A
    delivery order's total includes the shipping option the member chose in the invoice."""
    row, version = await _by_payload(session, payload)
    if row is None or row.member_id != member_id:
        return "unknown_order"
    if row.status == ORDER_CANCELLED:
        return "cancelled"
    if row.status in (ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED):
        return "already_paid"
    if row.status != ORDER_AWAITING_PAYMENT or version != row.version:
        return "stale_invoice"
    delivery = await shipping_for_payment(session, row, shipping)
    if delivery is None:
        return "no_shipping"
    if row.currency != currency or row.total + delivery[0] != total_amount:
        return "price_changed"
    return None


async def record_telegram_payment(
    session: AsyncSession,
    *,
    payload: str,
    member_id: int,
    currency: str,
    amount: int,
    charge_id: str,
    provider_charge_id: str = "",
    shipping: ShippingGiven | None = None,
) -> PaymentOutcome:
    """Settle the order a successful payment is for, once per charge id.

    Money for an order that can no longer take it (cancelled meanwhile, already paid, unknown)
    is never lost: it is booked as owed back to the member, for the handler to refund.
    """
    existing = (
        await session.execute(select(Payment).where(col(Payment.telegram_charge_id) == charge_id))
    ).scalar_one_or_none()
    if existing is not None:
        order = await get_order(session, existing.order_id) if existing.order_id else None
        return PaymentOutcome(
            order, existing.status, existing.amount, existing.currency, charge_id, created=False
        )
    row, _version = await _by_payload(session, payload)
    # a delivery order paid with a provider: the option and address come with the payment
    delivery = await shipping_for_payment(session, row, shipping) if row is not None else None
    valid = (
        row is not None
        and delivery is not None
        and row.member_id == member_id
        and row.status in OPEN_STATUSES
        and row.currency == currency
        and row.total + delivery[0] == amount
    )
    if valid and row is not None and delivery is not None:
        row = await _move(
            session,
            row,
            ORDER_PAID,
            actor_id=member_id,
            note="telegram",
            paid_amount=amount,
            extra=delivery[1],
        )
        await _settle(session, row, actor_id=member_id)
        status = PAYMENT_RECEIVED
    else:
        status = PAYMENT_REFUNDED_BACK if currency == STARS else PAYMENT_REFUND_DUE
        await post(
            session,
            key=f"payment:{charge_id}:unmatched",
            kind=TX_PAYMENT_UNMATCHED,
            postings=[
                Posting(_customer(member_id), currency, -amount),
                Posting(_payable(member_id), currency, amount),
            ],
            memo=f"payment for {payload[:60]} could not settle it",
            actor_id=member_id,
            order_id=row.id if row is not None else None,
        )
    session.add(
        Payment(
            telegram_charge_id=charge_id,
            provider_charge_id=provider_charge_id,
            order_id=row.id if row is not None else None,
            member_id=member_id,
            amount=amount,
            currency=currency,
            status=status,
        )
    )
    await session.flush()
    return PaymentOutcome(
        order_view(row) if row is not None else None, status, amount, currency, charge_id, True
    )


async def refund_paid_back(
    session: AsyncSession, *, member_id: int, currency: str, amount: int, charge_id: str
) -> None:
    """The money owed to the member went back through Telegram (refundStarPayment succeeded)."""
    await post(
        session,
        key=f"payment:{charge_id}:refunded",
        kind=TX_REFUND_PAID,
        postings=[
            Posting(_payable(member_id), currency, -amount),
            Posting(_customer(member_id), currency, amount),
        ],
        memo="refund sent",
    )


async def star_charge_id(session: AsyncSession, order_id: int) -> str | None:
    """The Telegram charge id that paid the order in Stars, if it was paid that way."""
    result = await session.execute(
        select(col(Payment.telegram_charge_id)).where(
            col(Payment.order_id) == order_id,
            col(Payment.status) == PAYMENT_RECEIVED,
            col(Payment.currency) == STARS,
        )
    )
    return result.scalar_one_or_none()


async def mark_refund_due(session: AsyncSession, *, charge_id: str) -> None:
    """Telegram would not send the money back automatically: staff must do it by hand."""
    await session.execute(
        update(Payment)
        .where(col(Payment.telegram_charge_id) == charge_id)
        .values(status=PAYMENT_REFUND_DUE)
    )


async def check_refund(
    session: AsyncSession, *, order_id: int, amount: int | None = None, due_only: bool = False
) -> tuple[int, str | None]:
    """The amount a refund would return and the Stars charge to refund, or OrderError.

    Lets the handler ask Telegram for a Stars refund before anything is booked. `due_only`
    books the refund as owed to the member (paid back by staff), never through Telegram, which
    is how part of a Stars payment can be given back.
    """
    row = await _load(session, order_id)
    if row.status == ORDER_REFUNDED:
        raise OrderError(OrderRefusal.ALREADY_REFUNDED, str(order_id))
    if row.status not in (ORDER_PAID, ORDER_FULFILLED):
        raise OrderError(OrderRefusal.NOT_PAID, str(order_id))
    remaining = row.paid_amount - row.refunded_amount
    value = remaining if amount is None else amount
    if type(value) is not int or value <= 0:
        raise OrderError(OrderRefusal.BAD_AMOUNT)
    if value > remaining:
        raise OrderError(OrderRefusal.REFUND_TOO_LARGE, f"{value} > {remaining}")
    if due_only:
        return value, None
    charge = await star_charge_id(session, order_id) if row.currency == STARS else None
    # Telegram sends a whole Stars payment back: after part of it was refunded (owed, paid
    # back by hand), sending the charge back would return more than is left
    if row.currency == STARS and (value != remaining or row.refunded_amount > 0):
        raise OrderError(OrderRefusal.PARTIAL_STARS_REFUND)
    return value, charge


async def refund_order(
    session: AsyncSession,
    *,
    order_id: int,
    actor_id: int,
    amount: int | None = None,
    note: str = "",
    due_only: bool = False,
) -> RefundOutcome:
    """Refund a paid order fully (amount None) or partly, and book it on the ledger.

    A full refund also reverses what the order created besides its payment (points,
    commission); a partial one scales the pending commissions to what is still paid. Stars
    can only be refunded whole through Telegram, as Telegram refunds a whole payment;
    `due_only` books any refund as owed to the member instead (see check_refund).
    """
    value, charge = await check_refund(session, order_id=order_id, amount=amount, due_only=due_only)
    row = await _load(session, order_id)
    grown = await session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.refunded_amount) == row.refunded_amount,
            col(Order.version) == row.version,
        )
        .values(refunded_amount=row.refunded_amount + value, updated_at=utcnow())
    )
    if rowcount(grown) != 1:
        raise OrderError(OrderRefusal.CHANGED_MEANWHILE, str(order_id))
    sequence = row.refunded_amount + value  # unique per refund of this order
    await post(
        session,
        key=f"order:{order_id}:refund:{sequence}",
        kind=TX_ORDER_REFUND,
        postings=[
            Posting(AccountRef(ACCOUNT_BRAND_REFUNDS), row.currency, -value),
            Posting(_payable(row.member_id), row.currency, value),
        ],
        memo=note[:200] or f"refund of order #{order_id}",
        actor_id=actor_id,
        order_id=order_id,
    )
    row = await _load(session, order_id)
    if row.refunded_amount == row.paid_amount:
        before_pickup = row.status == ORDER_PAID
        row = await _move(session, row, ORDER_REFUNDED, actor_id=actor_id, note=note[:200])
        if before_pickup:
            await _free_groupbuy_units(session, row)
        await _reverse_side_effects(session, order_id=order_id, actor_id=actor_id)
        await order_refunded(session, order_id=order_id)
    else:
        await _scale_commissions(session, row=row, sequence=sequence, actor_id=actor_id)
    return RefundOutcome(
        order=order_view(row),
        amount=value,
        star_charge_id=charge,
        refund_due=charge is None,
    )


async def _free_groupbuy_units(session: AsyncSession, row: Order) -> None:
    """A formed group-buy's order refunded before pickup: its units are free again and the
    member's share shrinks. A group-buy of one product whose sold-out waitlist still has
    members waiting keeps them for that line (services/waitlist.py offers them); otherwise
    (nobody waiting, or a variant or sign-up list item, whose lines are served only while
    open) they leave the group-buy and go back on the shelf: the product's or variant's stock,
    where the shop sells them."""
    if row.groupbuy_id is None:
        return
    waiting = row.variant_id is None and await _has_waiting(session, row.groupbuy_id)
    shelved = 0 if waiting else row.quantity  # the group-buy's cap shrinks by what it gives back
    freed = await session.execute(
        update(GroupBuy)
        .where(
            col(GroupBuy.id) == row.groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_FORMED,
            col(GroupBuy.units_sold) >= row.quantity,
        )
        .values(
            units_sold=col(GroupBuy.units_sold) - row.quantity,
            stock_cap=col(GroupBuy.stock_cap) - shelved,
        )
        .returning(col(GroupBuy.product_id))
    )
    product_id = freed.scalar_one_or_none()
    if product_id is None:
        return
    left = (
        await session.execute(
            update(GroupBuyJoin)
            .where(
                col(GroupBuyJoin.groupbuy_id) == row.groupbuy_id,
                col(GroupBuyJoin.member_id) == row.member_id,
                col(GroupBuyJoin.quantity) >= row.quantity,
            )
            .values(quantity=col(GroupBuyJoin.quantity) - row.quantity)
            .returning(col(GroupBuyJoin.quantity))
        )
    ).scalar_one_or_none()
    if left == 0:  # nothing of theirs is left in it: one participant fewer
        await session.execute(
            update(GroupBuy)
            .where(col(GroupBuy.id) == row.groupbuy_id, col(GroupBuy.participants) >= 1)
            .values(participants=col(GroupBuy.participants) - 1)
        )
    if row.variant_id is None:
        if shelved:
            await _shelve(session, Product, int(product_id), shelved)
        return
    # of a variant (or a sign-up list's item): its own counter, and the member's line of it
    item = (
        await session.execute(
            update(GroupBuyVariant)
            .where(
                col(GroupBuyVariant.groupbuy_id) == row.groupbuy_id,
                col(GroupBuyVariant.variant_id) == row.variant_id,
                col(GroupBuyVariant.units_sold) >= row.quantity,
            )
            .values(
                units_sold=col(GroupBuyVariant.units_sold) - row.quantity,
                stock_cap=col(GroupBuyVariant.stock_cap) - shelved,
            )
            .returning(col(GroupBuyVariant.product_id))
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    await session.execute(
        update(GroupBuyLine)
        .where(
            col(GroupBuyLine.groupbuy_id) == row.groupbuy_id,
            col(GroupBuyLine.member_id) == row.member_id,
            col(GroupBuyLine.variant_id) == row.variant_id,
            col(GroupBuyLine.quantity) >= row.quantity,
        )
        .values(quantity=col(GroupBuyLine.quantity) - row.quantity)
        .execution_options(synchronize_session=False)
    )
    if item is None:
        return
    sells = item[0]  # a catalogue product on a list: a product without variants keeps its own
    variant = await session.get(ProductVariant, row.variant_id)
    if sells is not None and (variant is None or variant.product_id != sells):
        await _shelve(session, Product, int(sells), shelved)
    else:
        await _shelve(session, ProductVariant, row.variant_id, shelved)


async def _has_waiting(session: AsyncSession, groupbuy_id: int) -> bool:
    """Whether members wait in the group-buy's waitlist (of the whole group-buy, not a variant)."""
    found = await session.execute(
        select(col(WaitlistEntry.id))
        .where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            col(WaitlistEntry.variant_id).is_(None),
            col(WaitlistEntry.status).in_((WAIT_WAITING, WAIT_OFFERED)),
        )
        .limit(1)
    )
    return found.first() is not None


async def _shelve(
    session: AsyncSession, model: type[Product] | type[ProductVariant], row_id: int, units: int
) -> None:
    """Units a group-buy gives back go on sale again: onto the product's or variant's stock
    (none when it is not counted)."""
    if units <= 0:
        return
    await session.execute(
        update(model)
        .where(col(model.id) == row_id, col(model.stock).is_not(None))
        .values(stock=col(model.stock) + units)
        .execution_options(synchronize_session=False)
    )


_COMMISSION_RELEASES = {
    ACCOUNT_LEADER_COMMISSION_PENDING: TX_COMMISSION_RELEASE,
    ACCOUNT_MEMBER_COMMISSION_PENDING: TX_REFERRAL_COMMISSION_RELEASE,
}


async def _scale_commissions(
    session: AsyncSession, *, row: Order, sequence: int, actor_id: int
) -> None:
    """After a partial refund, bring the order's pending commissions (the leader's and each
    referrer's) down to their share of what is still paid, rounded down, so nobody earns
    commission on money given back. Commission already released is left alone."""
    assert row.id is not None and row.paid_amount > 0
    remaining = row.paid_amount - row.refunded_amount
    found = await session.execute(
        select(
            col(LedgerTransaction.kind),
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
            func.sum(col(LedgerEntry.amount)),
        )
        .join(LedgerEntry, col(LedgerEntry.transaction_id) == col(LedgerTransaction.id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(
            col(LedgerTransaction.order_id) == row.id,
            col(LedgerAccount.kind).in_(tuple(_COMMISSION_RELEASES)),
        )
        .group_by(
            col(LedgerTransaction.kind),
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
        )
    )
    booked: dict[tuple[str, int, str], int] = {}
    adjusted: dict[tuple[str, int, str], int] = {}
    released: set[str] = set()
    for tx_kind, account_kind, owner, asset, amount in found.all():
        key = (str(account_kind), int(owner), str(asset))
        if tx_kind in (TX_COMMISSION, TX_REFERRAL_COMMISSION):
            booked[key] = booked.get(key, 0) + int(amount)
        elif tx_kind == TX_COMMISSION_ADJUST:
            adjusted[key] = adjusted.get(key, 0) + int(amount)
        elif tx_kind == _COMMISSION_RELEASES[str(account_kind)]:
            released.add(str(account_kind))
    postings: list[Posting] = []
    given_back: dict[str, int] = {}
    for (account_kind, owner, asset), original in sorted(booked.items()):
        if account_kind in released or original <= 0:
            continue
        target = original * remaining // row.paid_amount
        excess = original + adjusted.get((account_kind, owner, asset), 0) - target
        if excess > 0:
            postings.append(Posting(AccountRef(account_kind, owner), asset, -excess))
            given_back[asset] = given_back.get(asset, 0) + excess
    if not postings:
        return
    postings += [
        Posting(AccountRef(ACCOUNT_BRAND_COMMISSION_EXPENSE), asset, amount)
        for asset, amount in sorted(given_back.items())
    ]
    await post(
        session,
        key=f"order:{row.id}:commission-adjust:{sequence}",
        kind=TX_COMMISSION_ADJUST,
        postings=postings,
        memo=f"commission on order #{row.id} scaled to what is still paid",
        actor_id=actor_id,
        order_id=row.id,
    )


_COMMISSION_KINDS = frozenset(
    {
        TX_COMMISSION,
        TX_COMMISSION_ADJUST,
        TX_COMMISSION_RELEASE,
        TX_REFERRAL_COMMISSION,
        TX_REFERRAL_COMMISSION_RELEASE,
    }
)


async def _reverse_side_effects(session: AsyncSession, *, order_id: int, actor_id: int) -> None:
    """Reverse every transaction the order created other than its own settlement."""
    reversed_ids = select(col(LedgerTransaction.reverses_id)).where(
        col(LedgerTransaction.reverses_id).is_not(None)
    )
    rows = await session.execute(
        select(col(LedgerTransaction.id), col(LedgerTransaction.kind))
        .where(
            col(LedgerTransaction.order_id) == order_id,
            col(LedgerTransaction.kind).not_in((*_SETTLEMENT_KINDS, "reversal", TX_CLAWBACK)),
            col(LedgerTransaction.id).not_in(reversed_ids),
        )
        .order_by(col(LedgerTransaction.id))
    )
    found = rows.all()
    # commission released after the refund window stays earned: the brand bears a later refund
    # (its leader may have been paid it already); before the release it is taken back
    released = {TX_COMMISSION_RELEASE, TX_REFERRAL_COMMISSION_RELEASE} & {k for _i, k in found}
    for tx_id, kind in found:
        assert tx_id is not None
        if released and kind in _COMMISSION_KINDS:
            continue
        if kind in (TX_ORDER_POINTS, TX_REFERRAL_POINTS):
            # the member may have spent them: take back what is left, never below zero
            await claw_back_order_points(
                session,
                order_id=order_id,
                transaction_id=tx_id,
                key=None if kind == TX_ORDER_POINTS else f"order:{order_id}:clawback:{tx_id}",
            )
            continue
        await reverse(
            session,
            transaction_id=tx_id,
            key=f"order:{order_id}:refund-reverses:{tx_id}",
            memo=f"order #{order_id} refunded",
            actor_id=actor_id,
        )


async def claw_back_order_points(
    session: AsyncSession, *, order_id: int, transaction_id: int, key: str | None = None
) -> int:
    """Take back the points an order granted, as far as the member still holds them
    (`key`: for points other than the order's own, such as a referral reward)."""
    tx = await session.get(LedgerTransaction, transaction_id)
    assert tx is not None
    view = await find_transaction(session, tx.idempotency_key)
    assert view is not None
    for posting in view.postings:
        if posting.account.kind == ACCOUNT_MEMBER_POINTS and posting.amount > 0:
            return await claw_back(
                session,
                member_id=posting.account.owner_id,
                points=posting.amount,
                key=key or f"order:{order_id}:points-clawback",
                order_id=order_id,
            )
    return 0


def buyer_name(row: Member | None, member_id: int) -> str:
    """How a list names a member: first name (as it may be shown), else @username, else the
    id."""
    if row is None:
        return str(member_id)
    return shown(row.first_name) or (f"@{row.username}" if row.username else str(member_id))


@dataclass(frozen=True, slots=True)
class PickupPage:
    """A page of a group's pickup list: its orders, the buyers' names, how many are open."""

    orders: tuple[OrderView, ...]
    names: dict[int, str]
    total: int  # orders of the chat not yet picked up


_PICKUP_OPEN = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT, ORDER_PAID)


async def pickup_page(
    session: AsyncSession,
    *,
    chat_id: int,
    offset: int,
    limit: int,
    ids: list[int] | None = None,
) -> PickupPage:
    """The chat's orders not yet picked up, oldest first, `limit` from `offset`; or, with
    `ids`, exactly those orders of the chat in that order, whatever their status now (a page
    shown again after a tap keeps its rows)."""
    if ids:
        found = await session.execute(
            select(Order)
            .where(col(Order.chat_id) == chat_id, col(Order.id).in_(ids))
            .execution_options(populate_existing=True)
        )
        by_id = {row.id: row for row in found.scalars().all()}
        rows = [by_id[i] for i in ids if i in by_id]
    else:
        found = await session.execute(
            select(Order)
            .where(
                col(Order.chat_id) == chat_id,
                col(Order.status).in_(_PICKUP_OPEN),
                col(Order.delivery) == DELIVERY_PICKUP,  # delivered orders are shipped, not here
            )
            .order_by(col(Order.id))
            .offset(max(offset, 0))
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        rows = list(found.scalars().all())
    total = await session.execute(
        select(func.count())
        .select_from(Order)
        .where(
            col(Order.chat_id) == chat_id,
            col(Order.status).in_(_PICKUP_OPEN),
            col(Order.delivery) == DELIVERY_PICKUP,
        )
    )
    members = await session.execute(
        select(Member).where(col(Member.id).in_({row.member_id for row in rows}))
    )
    names = {m.id: buyer_name(m, m.id) for m in members.scalars().all()}
    return PickupPage(tuple(order_view(row) for row in rows), names, int(total.scalar_one()))


async def orders_of_member_in_chat(
    session: AsyncSession, *, chat_id: int, member_id: int, statuses: tuple[str, ...]
) -> list[OrderView]:
    """A member's orders in a chat with one of the statuses, oldest first."""
    rows = await session.execute(
        select(Order)
        .where(
            col(Order.chat_id) == chat_id,
            col(Order.member_id) == member_id,
            col(Order.status).in_(statuses),
        )
        .order_by(col(Order.id))
    )
    return [order_view(row) for row in rows.scalars().all()]


LEADER_HOLD = CommissionHold(
    booked=(TX_COMMISSION, TX_COMMISSION_ADJUST),
    pending=ACCOUNT_LEADER_COMMISSION_PENDING,
    earned=ACCOUNT_LEADER_COMMISSION,
    release=TX_COMMISSION_RELEASE,
    key="commission-release",
    label="commission",
)


async def release_commissions(session: AsyncSession, *, now: datetime, window: timedelta) -> int:
    """Release the pending commission of orders paid longer ago than the refund window and
    not refunded; each release is posted once (its key is the order's). Returns how many."""
    return await release_held(session, LEADER_HOLD, now=now, window=window)
