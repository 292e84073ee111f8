"""Group-buys: open, join, change, leave, and settle at the deadline, safe under a rush.

Stock and the per-member limit are enforced by the database: a join is one conditional UPDATE
of the group-buy's counters plus one conditional upsert of the member's join row, in the
caller's transaction, so concurrent joins on any number of workers never oversell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import String, and_, bindparam, case, cast, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.community import LEVEL_OPEN, LEVELS, Community
from models.groupbuy import (
    GROUPBUY_CANCELLED,
    GROUPBUY_FAILED,
    GROUPBUY_FORMED,
    GROUPBUY_OPEN,
    GROUPBUY_SETTLING,
    MIN_PEOPLE,
    MIN_UNITS,
    GroupBuy,
    GroupBuyJoin,
    GroupBuyLine,
    GroupBuyPost,
    GroupBuyTier,
    GroupBuyVariant,
)
from models.order import (
    DELIVERY_PICKUP,
    DELIVERY_SHIP,
    ORDER_AWAITING_PAYMENT,
    ORDER_CANCELLED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_RESERVED,
    REFUND_GROUPBUY,
    Order,
    OrderEvent,
)
from models.product import (
    FULFIL_DELIVERY,
    FULFIL_PICKUP,
    FULFILMENT_MODES,
    PAYMENT_TELEGRAM,
    Product,
    ProductVariant,
)
from models.review import REVIEW_APPROVED, Review
from models.tiers import MemberTier
from models.waitlist import WAIT_LEFT, WAIT_OFFERED, WAIT_WAITING, WaitlistEntry
from services.community import get_community, open_among
from services.content import (
    DESCRIPTION,
    PICKUP_POINT,
    PICKUP_TIME,
    TITLE,
    ContentError,
    ReadTranslations,
    clean,
    localized,
    merged,
    with_language,
)
from services.coupons import release_coupon
from services.credit import groupbuys_limit_reached
from services.db import insert_for, insert_in, prepared, rowcount, table_of
from services.errors import Refused
from services.ledger import STARS
from services.member import get_member
from services.money import InvalidAmount
from services.order import OrderView, get_order, order_view, refund_order, start_invoice
from services.parsing import Unreadable, normalize, parse_amount, parse_moment
from services.pickup import PickupSheet, pickup_sheet
from services.product import VariantView, variants_of
from services.refund import refund_now
from services.role import led_communities
from services.tiers import tier_discount

MAX_DAYS_OPEN = 30
# '10件:35.90': the word people add after a number of units
_UNIT_WORDS = re.compile(r"\s*(?:件|个|個|份|盒|瓶|袋|u|units?|pcs)$", re.IGNORECASE)


class GroupBuyError(Refused):
    """A group-buy action that cannot be done; `reason` is a stable code handlers translate."""


class GroupBuyRefusal(StrEnum):
    """The reasons a GroupBuyError gives (its `reason`); the handlers map each to a message."""

    BAD_TIERS = "bad_tiers"
    TIERS_NOT_DECREASING = "tiers_not_decreasing"
    NOT_POSITIVE = "not_positive"
    BAD_DEADLINE = "bad_deadline"
    DEADLINE_PAST = "deadline_past"
    DEADLINE_TOO_FAR = "deadline_too_far"
    NOT_FOUND = "not_found"
    NO_PRODUCT = "no_product"
    NO_ITEMS = "no_items"
    VARIANTS_NO_TIERS = "variants_no_tiers"
    VARIANTS_PREPAID = "variants_prepaid"
    BAD_MIN_KIND = "bad_min_kind"
    BAD_FULFILMENT = "bad_fulfilment"
    MIN_ABOVE_STOCK = "min_above_stock"
    NO_CHATS = "no_chats"
    GROUP_NOT_OPEN = "group_not_open"
    VIP_AFTER_DEADLINE = "vip_after_deadline"
    BAD_TRANSLATION = "bad_translation"
    LEADER_LIMIT = "leader_limit"
    NOT_ENOUGH_STOCK = "not_enough_stock"
    BAD_QUANTITY = "bad_quantity"
    CLOSED = "closed"
    CHOOSE_VARIANT = "choose_variant"
    NOT_JOINED = "not_joined"
    OTHER_VARIANT = "other_variant"
    OVER_LIMIT = "over_limit"
    VIP_LEVEL_ONLY = "vip_level_only"
    VIP_ONLY = "vip_only"
    SOLD_OUT = "sold_out"
    CANNOT_EXTEND = "cannot_extend"
    CHANGED_MEANWHILE = "changed_meanwhile"
    ITEM_UNAVAILABLE = "item_unavailable"
    ITEM_SOLD_OUT = "item_sold_out"
    UNKNOWN_ITEM = "unknown_item"
    ITEM_OVER_LIMIT = "item_over_limit"
    # raised elsewhere: services/jielong.py, services/myorders.py, handlers/groupbuy.py
    BAD_FORM = "bad_form"
    PREPAID = "prepaid"
    USAGE = "usage"
    BAD_VIP = "bad_vip"
    BAD_OPTION = "bad_option"


@dataclass(frozen=True, slots=True)
class GroupBuyVariantView:
    """A variant offered in a group-buy: its price, stock cap and units sold there."""

    variant_id: int
    name: str
    unit_price: int
    stock_cap: int
    units_sold: int
    min_units: int = 0  # an item of a sign-up list: the units it needs to form (0: none)
    # an item of a sign-up list put from the catalogue: the product it sells, its title now
    # and the name of its variant ("" for a product without variants, whose own stock the
    # item took: `of_product`); None, "" and False for any other item or variant
    product_id: int | None = None
    product_title: str = ""
    variant_name: str = ""
    of_product: bool = False

    @property
    def units_left(self) -> int:
        return self.stock_cap - self.units_sold

    @property
    def reached(self) -> bool:
        """An item of a sign-up list that may form: its own minimum reached."""
        return self.units_sold >= self.min_units


@dataclass(frozen=True, slots=True)
class ListEntry:
    """An item a sign-up list opens with, in its place on the list: the variant that keys it
    (one of the list's own product, or of a catalogue product it sells), its name on the card,
    its price, the most units it takes from stock (None: all there is), its own minimum, and
    the catalogue product it sells (None: the list's own item)."""

    variant_id: int
    name: str
    price: int
    stock: int | None = None
    min_units: int = 0
    product_id: int | None = None


@dataclass(frozen=True, slots=True)
class GroupBuyView:
    """A group-buy as plain values."""

    id: int
    title: str
    unit_price: int
    currency: str
    payment_mode: str
    min_kind: str
    min_count: int
    stock_cap: int
    per_member_limit: int
    units_sold: int
    participants: int
    deadline: datetime
    pickup_point: str
    pickup_time: str
    status: str
    opened_by: int
    final_price: int | None
    tiers: tuple[tuple[int, int], ...]  # (from units, unit price), ascending
    product_id: int
    commission_bps: int
    vip_until: datetime | None = None  # before this, only members of vip_rank and above join
    vip_rank: int = 0
    vip_level: str = ""  # or: only members joining from a group of this level or above
    description: str = ""  # the product's, as staff wrote it (plain text)
    photo_file_id: str | None = None  # the product's photo, if it has one
    # the product's title and description and the group-buy's pickup texts in other
    # languages: {locale: {field: text}}
    translations: ReadTranslations = None
    review_count: int = 0  # the product's approved reviews
    review_stars: int = 0  # their stars, summed
    # how its orders are fulfilled (models/product.py FULFILMENT_MODES): the group-buy's own
    # mode when it has one, else its product's; `own_fulfilment` is "" when it follows it
    fulfilment: str = FULFIL_PICKUP
    own_fulfilment: str = ""
    # a group-buy of a product with variants: members join one variant each, at its price,
    # within its own stock; `variants` is filled in where a card is drawn (get_groupbuy)
    with_variants: bool = False
    variants: tuple[GroupBuyVariantView, ...] = ()
    # a sign-up list (接龙): its variants are its items, numbered from 1 in `variants`' order;
    # a member orders several of them at once; it forms item by item when `form_per_item`
    multi: bool = False
    form_per_item: bool = False

    def item(self, number: int) -> GroupBuyVariantView | None:
        """The item with this number on a sign-up list (from 1), None when there is none."""
        return self.variants[number - 1] if 0 < number <= len(self.variants) else None

    def in_language(self, locale: str, default_locale: str) -> GroupBuyView:
        """The group-buy as a reader of `locale` sees it (services/content.py's fallback)."""
        if not self.translations:
            return self

        def text(field: str) -> str:
            original = getattr(self, field)
            return localized(original, self.translations, field, locale, default_locale)

        return replace(
            self,
            title=text(TITLE),
            description=text(DESCRIPTION),
            pickup_point=text(PICKUP_POINT),
            pickup_time=text(PICKUP_TIME),
        )

    def at_pickup(self, pickup: str) -> GroupBuyView:
        """The group-buy as one group of a targeted drop shows it: that group's own pickup text
        (when it has one) instead of the pickup point and time, in every language."""
        if not pickup:
            return self
        translations = {
            locale: {k: v for k, v in fields.items() if k not in (PICKUP_POINT, PICKUP_TIME)}
            for locale, fields in (self.translations or {}).items()
        }
        return replace(self, pickup_point=pickup, pickup_time="", translations=translations)

    def vip_only(self, now: datetime) -> bool:
        """True while the VIP early-access window is open."""
        return self.vip_until is not None and now < self.vip_until

    @property
    def current_price(self) -> int:
        """The unit price everyone pays if it closed now."""
        return price_for(self.unit_price, self.tiers, self.units_sold)

    @property
    def units_left(self) -> int:
        return self.stock_cap - self.units_sold

    @property
    def progress(self) -> int:
        """People or units so far, whichever the minimum counts."""
        return self.participants if self.min_kind == MIN_PEOPLE else self.units_sold

    @property
    def reached(self) -> bool:
        return self.progress >= self.min_count


@dataclass(frozen=True, slots=True)
class JoinResult:
    """A member's share after a join or change: their units and their place in the list."""

    groupbuy: GroupBuyView
    quantity: int
    position: int


@dataclass(frozen=True, slots=True)
class Participant:
    """One line of the sign-up list (接龙)."""

    position: int
    member_id: int
    chat_id: int
    quantity: int
    variant_id: int | None = None  # the variant they joined with, for a product with some


@dataclass(frozen=True, slots=True)
class Settlement:
    """What closing a group-buy did."""

    groupbuy: GroupBuyView
    formed: bool
    orders: tuple[OrderView, ...]  # to pay at the final price when formed (new or repriced)
    participants: tuple[Participant, ...]
    # formed: prepayments above the final price, booked as owed back (member, order, amount)
    differences: tuple[tuple[int, int, int], ...] = ()
    # failed or cancelled: paid prepayments the handler refunds in full (through Telegram
    # for Stars, else booked as owed back)
    to_refund: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupNotice:
    """A group the group-buy was posted in, to tell how it closed."""

    chat_id: int
    message_id: int | None  # the group's card, edited to its final state
    locale: str
    timezone: str
    photo: bool = False  # the card is a photo: its caption is edited, not its text
    pickup: str = ""  # the group's own pickup text in a targeted drop ("" : the group-buy's)


@dataclass(frozen=True, slots=True)
class MemberNotice:
    """A participant to tell how it closed (only members who started the bot can be told)."""

    member_id: int
    locale: str
    order: OrderView | None  # what they owe at the final price, when it formed
    invoice: OrderView | None = None  # the order awaiting payment: its Telegram invoice to send
    pickup: str = ""  # their group's own pickup text in a targeted drop ("" : the group-buy's)
    # a sign-up list: their orders, one per line of an item that formed (none: nothing formed)
    lines: tuple[OrderView, ...] = ()


@dataclass(frozen=True, slots=True)
class OwedBack:
    """Money a participant prepaid that staff pay back by hand (not Stars: those the refunder
    sends back and tells about)."""

    member_id: int
    locale: str
    order_id: int
    amount: int
    whole: bool  # the whole prepayment (not formed), else the part above the final price


@dataclass(frozen=True, slots=True)
class UnreachedLeader:
    """The member who opened a group-buy that formed but never started the bot: their pickup
    sheet cannot reach them in private, so the group tells them how to open it."""

    member_id: int
    name: str
    groups: tuple[GroupNotice, ...]  # the groups of the group-buy they lead (else where it ran)


@dataclass(frozen=True, slots=True)
class Closing:
    """What closing a group-buy did, with whom to tell what in which language."""

    settlement: Settlement
    groups: tuple[GroupNotice, ...]
    members: tuple[MemberNotice, ...]
    owed: tuple[OwedBack, ...] = ()
    star_refunds: bool = False  # Stars refunds were committed for the refunder to send
    # formed: the pickup sheet for the member who opened it, in their language (None when they
    # never started the bot, so cannot be written to in private)
    sheet: PickupSheet | None = None
    sheet_locale: str = ""
    # formed, and the member who opened it never started the bot: told in the group instead
    unreached_leader: UnreachedLeader | None = None

    @property
    def groupbuy(self) -> GroupBuyView:
        return self.settlement.groupbuy

    @property
    def formed(self) -> bool:
        return self.settlement.formed


def price_for(base: int, tiers: tuple[tuple[int, int], ...], units: int) -> int:
    """The unit price at this many units sold: the last tier reached, else the base price."""
    price = base
    for min_units, tier_price in tiers:
        if units >= min_units:
            price = tier_price
    return price


def parse_tiers(
    text: str, *, currency: str, locale: str, base_price: int, ceiling: int
) -> tuple[tuple[int, int], ...]:
    """'10:35.90, 30:32.90' -> ((10, 3590), (30, 3290)); more units must always cost less.
    Full-width '１０：３５．９０，３０：３２．９０', '10件:35.9元', '10 -> ¥35.90' read the same."""
    tiers: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", normalize(text)))):
        units_text, sep, price_text = part.replace("->", ":").replace("=", ":").partition(":")
        units_text = _UNIT_WORDS.sub("", units_text.strip())
        if not sep or not units_text.isdigit() or len(units_text) > 7:
            raise GroupBuyError(GroupBuyRefusal.BAD_TIERS, part)
        try:
            price = parse_amount(price_text, currency, locale=locale, ceiling=ceiling)
        except InvalidAmount:
            raise GroupBuyError(GroupBuyRefusal.BAD_TIERS, part) from None
        tiers.append((int(units_text), price))
    previous_units, previous_price = 0, base_price
    for units, price in tiers:
        if units <= previous_units or price >= previous_price:
            raise GroupBuyError(GroupBuyRefusal.TIERS_NOT_DECREASING, f"{units}:{price}")
        previous_units, previous_price = units, price
    return tuple(tiers)


def parse_count(text: str) -> int:
    """'50' -> 50: a whole number of at most 7 digits (zero passes; the caller decides)."""
    cleaned = text.strip()
    if not cleaned.isdecimal() or len(cleaned) > 7:
        raise GroupBuyError(GroupBuyRefusal.NOT_POSITIVE, cleaned)
    return int(cleaned)


def parse_minimum(text: str) -> tuple[str, int]:
    """'5' or '5人' -> (people, 5); '20u' or '20件' -> (units, 20): how many a group-buy needs
    to form."""
    cleaned = text.strip().lower()
    if cleaned.endswith(("u", "件")):
        return MIN_UNITS, parse_count(cleaned[:-1])
    return MIN_PEOPLE, parse_count(cleaned.removesuffix("人").removesuffix("位"))


def parse_deadline(
    text: str, *, now: datetime, timezone: str, since: datetime | None = None
) -> datetime:
    """'24h', '3d', '明天晚上8点', 'tomorrow 8pm' or '2026-11-25 20:00' in the group's time zone
    (services/parsing.py reads it; a duration counts from `since`, default `now`), later than
    `since` and at most MAX_DAYS_OPEN after it. The refusal's detail is the unreadable part."""
    base = since or now
    try:
        deadline = parse_moment(text, now=now, timezone=timezone, since=base)
    except Unreadable as exc:
        raise GroupBuyError(GroupBuyRefusal.BAD_DEADLINE, exc.part) from None
    cleaned = normalize(text)
    if deadline <= base:
        raise GroupBuyError(GroupBuyRefusal.DEADLINE_PAST, cleaned)
    if deadline - base > timedelta(days=MAX_DAYS_OPEN):
        raise GroupBuyError(GroupBuyRefusal.DEADLINE_TOO_FAR, cleaned)
    return deadline


def _groupbuy_read(with_join: bool) -> Any:
    """The one SELECT that reads a group-buy (`groupbuy_id`) as a view: its row and its price
    tiers (aggregated as "units:price,..." text, so one statement reads both). For a join
    (`with_join`), also whether it was posted in the chat (`chat_id`) and the member's
    (`member_id`) units in it now (NULL when they never joined)."""
    gb, tiers = table_of(GroupBuy), table_of(GroupBuyTier)
    tier_text = cast(tiers.c.min_units, String) + ":" + cast(tiers.c.unit_price, String)
    columns: list[Any] = [
        *gb.c,
        select(func.aggregate_strings(tier_text, ","))
        .where(tiers.c.groupbuy_id == gb.c.id)
        .scalar_subquery()
        .label("tier_text"),
    ]
    if with_join:
        posts, joins = table_of(GroupBuyPost), table_of(GroupBuyJoin)
        columns.append(
            exists()
            .where(posts.c.groupbuy_id == gb.c.id, posts.c.chat_id == bindparam("chat_id"))
            .label("posted")
        )
        columns.append(
            select(joins.c.quantity)
            .where(joins.c.groupbuy_id == gb.c.id, joins.c.member_id == bindparam("member_id"))
            .scalar_subquery()
            .label("held")
        )
    offered = table_of(GroupBuyVariant)
    columns.append(exists().where(offered.c.groupbuy_id == gb.c.id).label("with_variants"))
    products = table_of(Product)
    # the product's approved reviews (services.review): count and stars, for the card's
    # rating; a join checks limits and stock only, and leaves them out
    if not with_join:
        reviews, orders = table_of(Review), table_of(Order)
        of_product = reviews.join(orders, orders.c.id == reviews.c.order_id)
        approved = (orders.c.product_id == gb.c.product_id, reviews.c.status == REVIEW_APPROVED)
        for label, figure in (
            ("review_count", func.count()),
            ("review_stars", func.coalesce(func.sum(reviews.c.rating), 0)),
        ):
            columns.append(
                select(figure)
                .select_from(of_product)
                .where(*approved)
                .scalar_subquery()
                .label(label)
            )
    columns.append(products.c.description.label("product_description"))
    columns.append(products.c.photo_file_id.label("product_photo"))
    columns.append(products.c.translations.label("product_translations"))
    columns.append(products.c.fulfilment.label("product_fulfilment"))
    return (
        select(*columns)
        .select_from(gb.outerjoin(products, products.c.id == gb.c.product_id))
        .where(gb.c.id == bindparam("groupbuy_id"))
    )


_READ_GROUPBUY = prepared(lambda _dialect: _groupbuy_read(False))
_READ_FOR_JOIN = prepared(lambda _dialect: _groupbuy_read(True))


def _tiers_of_text(text: str | None) -> tuple[tuple[int, int], ...]:
    if not text:
        return ()
    pairs = (part.split(":") for part in text.split(","))
    return tuple(sorted((int(units), int(price)) for units, price in pairs))


def _view_of(row: Any) -> GroupBuyView:
    return GroupBuyView(
        id=row.id,
        title=row.title,
        unit_price=row.unit_price,
        currency=row.currency,
        payment_mode=row.payment_mode,
        min_kind=row.min_kind,
        min_count=row.min_count,
        stock_cap=row.stock_cap,
        per_member_limit=row.per_member_limit,
        units_sold=row.units_sold,
        participants=row.participants,
        deadline=row.deadline,
        pickup_point=row.pickup_point,
        pickup_time=row.pickup_time,
        status=row.status,
        opened_by=row.opened_by,
        final_price=row.final_price,
        tiers=_tiers_of_text(row.tier_text),
        product_id=row.product_id,
        commission_bps=row.commission_bps,
        vip_until=row.vip_until,
        vip_rank=row.vip_rank,
        vip_level=row.vip_level,
        description=row.product_description or "",
        photo_file_id=row.product_photo,
        translations=merged(row.product_translations, row.translations) or None,
        review_count=int(getattr(row, "review_count", 0) or 0),
        review_stars=int(getattr(row, "review_stars", 0) or 0),
        fulfilment=row.fulfilment or row.product_fulfilment or FULFIL_PICKUP,
        own_fulfilment=row.fulfilment,
        with_variants=bool(row.with_variants),
        multi=bool(row.multi),
        form_per_item=bool(row.form_per_item),
    )


async def get_groupbuy(session: AsyncSession, groupbuy_id: int) -> GroupBuyView | None:
    """The group-buy with its tiers, read fresh from the database in one statement."""
    row = (await session.execute(_READ_GROUPBUY(session), {"groupbuy_id": groupbuy_id})).first()
    if row is None:
        return None
    found = _view_of(row)
    if found.with_variants:
        found = replace(found, variants=await groupbuy_variants(session, groupbuy_id))
    return found


async def _must(session: AsyncSession, groupbuy_id: int) -> GroupBuyView:
    found = await get_groupbuy(session, groupbuy_id)
    if found is None:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    return found


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
    product = await session.get(Product, product_id)
    # a leader's own sign-up list is a product made for it, never in the catalogue (inactive)
    own_list = multi and product is not None and product.created_by == opened_by
    if product is None or not (product.active or own_list):
        raise GroupBuyError(GroupBuyRefusal.NO_PRODUCT, str(product_id))
    variants = await variants_of(session, product_id)
    if items and not multi:
        raise GroupBuyError(GroupBuyRefusal.NO_ITEMS)
    if multi and not (variants or items):  # a sign-up list's items are its product's variants
        raise GroupBuyError(GroupBuyRefusal.NO_ITEMS)
    if (variants or items) and tiers:  # each has its own price: one tier table cannot fit all
        raise GroupBuyError(GroupBuyRefusal.VARIANTS_NO_TIERS)
    if variants and product.payment_mode == PAYMENT_TELEGRAM:
        raise GroupBuyError(GroupBuyRefusal.VARIANTS_PREPAID)
    if min_kind not in (MIN_PEOPLE, MIN_UNITS):
        raise GroupBuyError(GroupBuyRefusal.BAD_MIN_KIND, min_kind)
    if fulfilment and fulfilment not in FULFILMENT_MODES:
        raise GroupBuyError(GroupBuyRefusal.BAD_FULFILMENT, fulfilment)
    if stock_cap <= 0 or min_count <= 0 or per_member_limit <= 0:
        raise GroupBuyError(GroupBuyRefusal.NOT_POSITIVE)
    if min_count > stock_cap:  # people or units, each needs at least one unit
        raise GroupBuyError(GroupBuyRefusal.MIN_ABOVE_STOCK)
    if per_member_limit > stock_cap:
        per_member_limit = stock_cap
    if deadline <= now:
        raise GroupBuyError(GroupBuyRefusal.DEADLINE_PAST)
    if not chat_ids:
        raise GroupBuyError(GroupBuyRefusal.NO_CHATS)
    # only groups open for business (approved, the bot in them): a drop skips the others
    chat_ids = await open_among(session, chat_ids)
    if not chat_ids:
        raise GroupBuyError(GroupBuyRefusal.GROUP_NOT_OPEN)
    if vip_until is not None and not now < vip_until < deadline:
        raise GroupBuyError(GroupBuyRefusal.VIP_AFTER_DEADLINE)
    try:  # a drop's pickup texts in other languages
        translations = clean(pickup_translations, (PICKUP_POINT, PICKUP_TIME))
    except ContentError as exc:
        raise GroupBuyError(GroupBuyRefusal.BAD_TRANSLATION, exc.detail) from exc
    previous = (0, product.price)
    for units, price in tiers:
        if units <= previous[0] or price >= previous[1]:
            raise GroupBuyError(GroupBuyRefusal.TIERS_NOT_DECREASING)
        previous = (units, price)
    # staff may limit how many group-buys one leader has open at once (services/credit.py)
    limit = await groupbuys_limit_reached(session, leader_id=opened_by)
    if limit is not None:
        raise GroupBuyError(GroupBuyRefusal.LEADER_LIMIT, str(limit))
    minimums = {v.id: max(0, m) for v, m in zip(variants, item_minimums, strict=False)}
    # each item or variant offered: what it is, the units it took and its place on the card
    caps: list[tuple[ListEntry, int, int]] = []
    if items:
        caps = await _take_item_stock(session, items, stock_cap, currency=product.currency)
    elif variants:
        caps = [
            (ListEntry(v.id, v.name, v.price, min_units=minimums.get(v.id, 0)), cap, v.position)
            for v, cap in await _take_variant_stock(session, variants, stock_cap)
        ]
    if caps:
        stock_cap = sum(cap for _item, cap, _place in caps)
        if min_count > stock_cap:
            raise GroupBuyError(GroupBuyRefusal.MIN_ABOVE_STOCK)
        per_member_limit = min(per_member_limit, max(cap for _item, cap, _place in caps))
    elif product.stock is not None and not await _take_from_product(session, product_id, stock_cap):
        stock = select(col(Product.stock)).where(col(Product.id) == product_id)
        left = await session.scalar(stock)
        raise GroupBuyError(GroupBuyRefusal.NOT_ENOUGH_STOCK, str(left or 0))
    row = GroupBuy(
        product_id=product_id,
        title=product.title,
        # with variants: the lowest of their prices ("from"), each variant keeping its own
        unit_price=min((item.price for item, _cap, _place in caps), default=product.price),
        currency=product.currency,
        payment_mode=product.payment_mode,
        min_kind=min_kind,
        min_count=min_count,
        stock_cap=stock_cap,
        per_member_limit=per_member_limit,
        deadline=deadline,
        pickup_point=pickup_point[:255],
        pickup_time=pickup_time[:64],
        translations=translations or None,
        opened_by=opened_by,
        commission_bps=max(0, commission_bps),
        vip_until=vip_until,
        vip_rank=max(0, vip_rank) if vip_until is not None else 0,
        vip_level=vip_level if vip_until is not None and vip_level in LEVELS else "",
        fulfilment=fulfilment,
        multi=multi,
        form_per_item=multi and form_per_item,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    session.add_all(
        GroupBuyTier(groupbuy_id=row.id, min_units=units, unit_price=price)
        for units, price in tiers
    )
    session.add_all(
        GroupBuyPost(groupbuy_id=row.id, chat_id=chat, pickup=(pickups or {}).get(chat, ""))
        for chat in dict.fromkeys(chat_ids)
    )
    session.add_all(
        GroupBuyVariant(
            groupbuy_id=row.id,
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
    await session.flush()
    return await _must(session, row.id)


async def set_quantity(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    quantity: int,
    now: datetime,
    add: bool = False,
    variant_id: int | None = None,
) -> JoinResult:
    """Set (or with add=True, increase) the member's units; 0 leaves. Refused with a reason.
    A group-buy with variants is joined with one variant (`variant_id`; choose_variant when
    missing, other_variant when the member holds units of another one); its units come out of
    that variant's own stock.

    Order of work: the member's join row first (the per-member limit, and the old quantity
    under its row lock), then the group-buy's counters (the stock); both are conditional, so a
    refusal anywhere rolls the whole change back with the caller's transaction.
    """
    if type(quantity) is not int or quantity < 0 or (add and quantity == 0):
        raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
    read = _READ_FOR_JOIN(session)
    ids = {"groupbuy_id": groupbuy_id, "chat_id": chat_id, "member_id": member_id}
    row = (await session.execute(read, ids)).first()
    # a button names the group-buy by id, which a client can edit: only the groups it was
    # posted in may change it, or a join would be credited to another group's leader
    if row is None or not row.posted:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    found = _view_of(row)
    if found.status != GROUPBUY_OPEN or found.deadline <= now:
        raise GroupBuyError(GroupBuyRefusal.CLOSED)
    if quantity > 0:
        await _check_vip(session, found, member_id, chat_id, now)
    if found.multi:  # a sign-up list is ordered by its lines (change_lines)
        if quantity == 0 and not add:
            return await _leave_list(session, found, member_id, chat_id, now)
        raise GroupBuyError(GroupBuyRefusal.CHOOSE_VARIANT)
    if found.with_variants and quantity > 0 and variant_id is None and not row.held:
        raise GroupBuyError(GroupBuyRefusal.CHOOSE_VARIANT)
    if not found.with_variants:
        variant_id = None
    if add:
        return await _add_units(session, found, member_id, chat_id, quantity, now, variant_id)
    created = None
    if row.held is None:
        if quantity == 0:
            raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
        created = await _empty_join(session, groupbuy_id, member_id, chat_id, now)
    if created is not None:
        old = 0  # the row is new, and this transaction holds it
    else:
        # lock the member's row and read the quantity it holds now (concurrent taps of one
        # member queue here; SQLite serialises writers anyway)
        locked = select(col(GroupBuyJoin.quantity), col(GroupBuyJoin.variant_id)).where(
            col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
            col(GroupBuyJoin.member_id) == member_id,
        )
        if session.get_bind().dialect.name == "postgresql":
            locked = locked.with_for_update()
        old, held_variant = (await session.execute(locked)).one()
        old = int(old)
        if found.with_variants and old > 0:  # a change is of the variant they hold
            if variant_id is not None and variant_id != held_variant:
                raise GroupBuyError(
                    GroupBuyRefusal.OTHER_VARIANT, await _variant_name(session, held_variant)
                )
            variant_id = held_variant
    new = quantity
    if new > found.per_member_limit:
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    if new == old:
        if new == 0:
            raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
        position = await _position(session, groupbuy_id, member_id)
        return JoinResult(found, new, position)
    if found.with_variants:
        await _count_variant(session, found.id, variant_id, new - old)
    try:
        counted = await _count_units(session, found, new - old, old, new, now)
    except GroupBuyError:
        if found.with_variants:  # the variant's counter goes back with the refusal
            await _count_variant(session, found.id, variant_id, old - new)
        raise
    values: dict[str, object] = {"quantity": new, "updated_at": now, "chat_id": chat_id}
    if old == 0:
        values["joined_at"] = now  # a member who comes back goes to the end of the list
        values["variant_id"] = variant_id
    await session.execute(
        update(GroupBuyJoin)
        .where(
            col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
            col(GroupBuyJoin.member_id) == member_id,
            col(GroupBuyJoin.quantity) == old,
        )
        .values(**values)
    )
    # the counters as this update left them (others' joins included); the rest is as read
    after = replace(found, units_sold=counted.units_sold, participants=counted.participants)
    position = await _position(session, groupbuy_id, member_id) if new else 0
    return JoinResult(after, new, position)


async def _check_vip(
    session: AsyncSession, found: GroupBuyView, member_id: int, chat_id: int, now: datetime
) -> None:
    """Refuse, during the early-access window, a member below the VIP rank (vip_only) or, in a
    level's window, a member joining from a group below that level (vip_level_only)."""
    if not found.vip_only(now):
        return
    if found.vip_level in LEVELS:
        group = await session.get(Community, chat_id)
        level = group.level if group is not None and group.level in LEVELS else LEVEL_OPEN
        if LEVELS.index(level) < LEVELS.index(found.vip_level):
            raise GroupBuyError(GroupBuyRefusal.VIP_LEVEL_ONLY, found.vip_level)
        return
    held = await session.get(MemberTier, member_id)
    if (held.rank if held else 0) < found.vip_rank:
        raise GroupBuyError(GroupBuyRefusal.VIP_ONLY, str(found.vip_rank))


async def _empty_join(
    session: AsyncSession, groupbuy_id: int, member_id: int, chat_id: int, now: datetime
) -> int | None:
    """The member's join row, created with no units when they have none yet: 0 when this
    transaction created it (and holds it), None when it was there already."""
    created = await session.execute(
        insert_for(session, table_of(GroupBuyJoin))
        .values(
            groupbuy_id=groupbuy_id,
            member_id=member_id,
            chat_id=chat_id,
            quantity=0,
            joined_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["groupbuy_id", "member_id"])
        .returning(col(GroupBuyJoin.quantity))
    )
    return created.scalar_one_or_none()


def _add_to_join(dialect: str) -> Any:
    """A tap on Join: the member's row gains `quantity` units (created on the first tap), under
    the per-member `limit`; nothing is written when the limit would be passed. A member who
    comes back after leaving goes to the end of the list."""
    joins = table_of(GroupBuyJoin)
    statement = insert_in(dialect, joins).values(
        groupbuy_id=bindparam("groupbuy_id"),
        member_id=bindparam("member_id"),
        chat_id=bindparam("chat_id"),
        quantity=bindparam("quantity"),
        joined_at=bindparam("now"),
        updated_at=bindparam("now"),
        variant_id=bindparam("variant_id"),
    )
    added = joins.c.quantity + statement.excluded.quantity
    return statement.on_conflict_do_update(
        index_elements=["groupbuy_id", "member_id"],
        set_={
            "quantity": added,
            "chat_id": statement.excluded.chat_id,
            "updated_at": statement.excluded.updated_at,
            "joined_at": case(
                (joins.c.quantity == 0, statement.excluded.joined_at), else_=joins.c.joined_at
            ),
            "variant_id": statement.excluded.variant_id,
        },
        # a member holds one variant: another one only once they left (quantity 0)
        where=and_(
            added <= bindparam("limit"),
            or_(
                joins.c.quantity == 0,
                joins.c.variant_id.is_not_distinct_from(statement.excluded.variant_id),
            ),
        ),
    ).returning(joins.c.quantity, joins.c.joined_at, joins.c.id)


_ADD_TO_JOIN = prepared(_add_to_join)
_COUNT_UNITS = prepared(
    lambda _dialect: (
        update(table_of(GroupBuy))
        .where(
            col(GroupBuy.id) == bindparam("groupbuy_id"),
            col(GroupBuy.status) == GROUPBUY_OPEN,
            col(GroupBuy.deadline) > bindparam("now"),
            col(GroupBuy.units_sold) + bindparam("delta") <= col(GroupBuy.stock_cap),
        )
        .values(
            units_sold=col(GroupBuy.units_sold) + bindparam("delta"),
            participants=col(GroupBuy.participants) + bindparam("people"),
        )
        .returning(col(GroupBuy.units_sold), col(GroupBuy.participants))
    )
)


async def _count_units(
    session: AsyncSession, found: GroupBuyView, delta: int, old: int, new: int, now: datetime
) -> Any:
    """The group-buy's counters take the member's change (`old` -> `new` units), or the
    change is refused (closed meanwhile, or not that much stock left): one conditional UPDATE."""
    people = (1 if old == 0 else 0) - (1 if new == 0 else 0)
    counted = (
        await session.execute(
            _COUNT_UNITS(session),
            {"groupbuy_id": found.id, "now": now, "delta": delta, "people": people},
        )
    ).one_or_none()
    if counted is None:
        refreshed = await _must(session, found.id)
        if refreshed.status != GROUPBUY_OPEN or refreshed.deadline <= now:
            raise GroupBuyError(GroupBuyRefusal.CLOSED)
        raise GroupBuyError(GroupBuyRefusal.SOLD_OUT, str(refreshed.units_left))
    return counted


async def _add_units(
    session: AsyncSession,
    found: GroupBuyView,
    member_id: int,
    chat_id: int,
    quantity: int,
    now: datetime,
    variant_id: int | None = None,
) -> JoinResult:
    """A Join tap: the member's row first (the per-member limit, under its row lock), then the
    counters (the variant's stock, then the group-buy's); a refusal of the counters puts the
    member's row back as it was."""
    if quantity > found.per_member_limit:
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    if found.units_sold + quantity > found.stock_cap:  # as read; the counters decide for sure
        raise GroupBuyError(GroupBuyRefusal.SOLD_OUT, str(found.units_left))
    values: dict[str, Any] = {"groupbuy_id": found.id, "member_id": member_id, "chat_id": chat_id}
    values |= {"quantity": quantity, "now": now, "limit": found.per_member_limit}
    values["variant_id"] = variant_id
    joined = (await session.execute(_ADD_TO_JOIN(session), values)).one_or_none()
    if joined is None:
        if found.with_variants:
            await _refuse_other_variant(session, found.id, member_id, variant_id)
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    new, joined_at, row_id = joined
    old = new - quantity
    # the place on the list before the counters: their row is the hot one every join updates,
    # and its lock is held from the UPDATE to the commit, so as little as possible comes after
    position = await _rank(session, found.id, joined_at, row_id)
    try:
        if found.with_variants:
            await _count_variant(session, found.id, variant_id, quantity)
        try:
            counted = await _count_units(session, found, quantity, old, new, now)
        except GroupBuyError:
            if found.with_variants:  # the variant's counter goes back with the refusal
                await _count_variant(session, found.id, variant_id, -quantity)
            raise
    except GroupBuyError:
        await session.execute(
            update(GroupBuyJoin)
            .where(col(GroupBuyJoin.groupbuy_id) == found.id)
            .where(col(GroupBuyJoin.member_id) == member_id)
            .values(quantity=old)
        )
        raise
    after = replace(found, units_sold=counted.units_sold, participants=counted.participants)
    return JoinResult(after, new, position)


async def _position(session: AsyncSession, groupbuy_id: int, member_id: int) -> int:
    """The member's number on the sign-up list: one count, not the whole list (a hot path)."""
    mine = (
        await session.execute(
            select(table_of(GroupBuyJoin).c.joined_at, table_of(GroupBuyJoin).c.id).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
                col(GroupBuyJoin.quantity) > 0,
            )
        )
    ).first()
    if mine is None:
        return 0
    return await _rank(session, groupbuy_id, mine.joined_at, mine.id)


_RANK = prepared(
    lambda _dialect: (
        select(func.count())
        .select_from(GroupBuyJoin)
        .where(
            col(GroupBuyJoin.groupbuy_id) == bindparam("groupbuy_id"),
            col(GroupBuyJoin.quantity) > 0,
            or_(
                col(GroupBuyJoin.joined_at) < bindparam("joined_at"),
                and_(
                    col(GroupBuyJoin.joined_at) == bindparam("joined_at"),
                    col(GroupBuyJoin.id) <= bindparam("row_id"),
                ),
            ),
        )
    )
)


async def _rank(session: AsyncSession, groupbuy_id: int, joined_at: datetime, row_id: int) -> int:
    """The number on the sign-up list of the join row (`row_id`, joined at `joined_at`)."""
    ahead = await session.execute(
        _RANK(session), {"groupbuy_id": groupbuy_id, "joined_at": joined_at, "row_id": row_id}
    )
    return int(ahead.scalar_one())


async def participants(session: AsyncSession, groupbuy_id: int) -> list[Participant]:
    """The sign-up list: members with units, in the order they joined."""
    rows = await session.execute(
        select(
            col(GroupBuyJoin.member_id),
            col(GroupBuyJoin.chat_id),
            col(GroupBuyJoin.quantity),
            col(GroupBuyJoin.variant_id),
        )
        .where(col(GroupBuyJoin.groupbuy_id) == groupbuy_id, col(GroupBuyJoin.quantity) > 0)
        .order_by(col(GroupBuyJoin.joined_at), col(GroupBuyJoin.id))
    )
    return [
        Participant(position=i, member_id=int(m), chat_id=int(c), quantity=int(q), variant_id=v)
        for i, (m, c, q, v) in enumerate(rows.all(), start=1)
    ]


async def due_groupbuys(session: AsyncSession, *, now: datetime) -> list[int]:
    """Open group-buys whose deadline has passed or that sold out: the closing job's work."""
    rows = await session.execute(
        select(col(GroupBuy.id))
        .where(
            col(GroupBuy.status) == GROUPBUY_OPEN,
            or_(
                col(GroupBuy.deadline) <= now,
                col(GroupBuy.units_sold) >= col(GroupBuy.stock_cap),
            ),
        )
        .order_by(col(GroupBuy.deadline))
    )
    return [int(i) for i in rows.scalars().all() if i is not None]


async def open_groupbuys(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Every open group-buy with its deadline, so the scheduler can rebuild its jobs."""
    rows = await session.execute(
        select(col(GroupBuy.id), col(GroupBuy.deadline)).where(
            col(GroupBuy.status) == GROUPBUY_OPEN
        )
    )
    return [(int(i or 0), d) for i, d in rows.all()]


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


async def settle(
    session: AsyncSession, *, groupbuy_id: int, now: datetime, early: bool = False
) -> Settlement | None:
    """Close a due group-buy exactly once: formed -> orders at the final tier price; failed ->
    every reservation released. None when it is not due or another worker closed it first.

    `early` closes an open group-buy before its deadline (a leader's "close now").
    """
    due = or_(
        col(GroupBuy.deadline) <= now,
        col(GroupBuy.units_sold) >= col(GroupBuy.stock_cap),
    )
    claimed = await session.execute(
        update(GroupBuy)
        .where(
            col(GroupBuy.id) == groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_OPEN,
            *(() if early else (due,)),
        )
        .values(status=GROUPBUY_SETTLING)
    )
    if rowcount(claimed) != 1:
        return None
    found = await _must(session, groupbuy_id)
    listed = tuple(await participants(session, groupbuy_id))
    if found.multi:
        return await _settle_list(session, found, listed, now)
    formed = found.reached
    orders: list[OrderView] = []
    differences: list[tuple[int, int, int]] = []
    to_refund: tuple[int, ...] = ()
    if formed:
        price = found.current_price
        offered = {v.variant_id: v for v in await groupbuy_variants(session, groupbuy_id)}
        for entry in listed:
            covered = 0
            for row in await _member_orders(session, groupbuy_id, entry.member_id):
                covered += row.quantity
                if row.status in PREPAY_OPEN:
                    orders.append(await _reprice(session, row, price))
                    continue
                owed = await _price_difference(session, row, price)
                if owed > 0:
                    await refund_order(
                        session,
                        order_id=_id(row),
                        actor_id=0,
                        amount=owed,
                        note=f"group-buy #{groupbuy_id} formed at a lower price",
                        due_only=True,
                    )
                    differences.append((entry.member_id, _id(row), owed))
            if entry.quantity > covered:
                variant = offered.get(entry.variant_id) if entry.variant_id else None
                orders.append(
                    await _new_order(
                        session,
                        found,
                        member_id=entry.member_id,
                        chat_id=entry.chat_id,
                        quantity=entry.quantity - covered,
                        price=variant.unit_price if variant else price,
                        variant=variant,
                    )
                )
        await _release_stock(session, found, found.stock_cap - found.units_sold)
        if found.units_left > 0 or found.with_variants:  # a variant's line: only while open
            await _end_waitlist(session, groupbuy_id, now)
        status, final = GROUPBUY_FORMED, price
    else:
        to_refund = await _unwind(session, found, listed)
        await _release_stock(session, found, found.stock_cap)
        status, final = GROUPBUY_FAILED, None
    await session.execute(
        update(GroupBuy)
        .where(col(GroupBuy.id) == groupbuy_id)
        .values(status=status, final_price=final, settled_at=now)
    )
    return Settlement(
        await _must(session, groupbuy_id),
        formed,
        tuple(orders),
        listed,
        differences=tuple(differences),
        to_refund=to_refund,
    )


async def _end_waitlist(session: AsyncSession, groupbuy_id: int, now: datetime) -> None:
    """A group-buy formed with units left gave them back to its product, where they are for
    sale: its waitlist has nothing more to wait for, and an offer made of them is void (else
    the waitlist would book a unit the product sells too). A group-buy with variants and a
    sign-up list end theirs when they close: an item's units freed later (a refund) go back
    on the shelf (services/order.py)."""
    await session.execute(
        update(WaitlistEntry)
        .where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            col(WaitlistEntry.status).in_((WAIT_WAITING, WAIT_OFFERED)),
        )
        .values(status=WAIT_LEFT, offer_units=0, offer_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def cancel_groupbuy(session: AsyncSession, *, groupbuy_id: int, now: datetime) -> Settlement:
    """Cancel an open group-buy: every reservation released, nothing ordered."""
    claimed = await session.execute(
        update(GroupBuy)
        .where(col(GroupBuy.id) == groupbuy_id, col(GroupBuy.status) == GROUPBUY_OPEN)
        .values(status=GROUPBUY_CANCELLED, settled_at=now)
    )
    if rowcount(claimed) != 1:
        raise GroupBuyError(GroupBuyRefusal.CLOSED, str(groupbuy_id))
    found = await _must(session, groupbuy_id)
    listed = tuple(await participants(session, groupbuy_id))
    to_refund = await _unwind(session, found, listed)
    await _release_stock(session, found, found.stock_cap)
    return Settlement(found, False, (), listed, to_refund=to_refund)


async def settle_groupbuy(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    now: datetime,
    tier_currency: str,
    default_locale: str,
    default_timezone: str,
    early: bool = False,
) -> Closing | None:
    """Close a due group-buy as one story: settled once (see `settle`), prepayments above the
    final price or of a group-buy that did not form refunded, invoices opened for what members
    now owe, and who is to be told what. None when it is not due or was closed meanwhile.

    `early` closes an open group-buy before its deadline (a leader's "close now")."""
    settlement = await settle(session, groupbuy_id=groupbuy_id, now=now, early=early)
    if settlement is None:
        return None
    return await _closing(
        session,
        settlement,
        now=now,
        tier_currency=tier_currency,
        default_locale=default_locale,
        default_timezone=default_timezone,
    )


async def call_off_groupbuy(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    now: datetime,
    tier_currency: str,
    default_locale: str,
    default_timezone: str,
) -> Closing:
    """Cancel an open group-buy as one story: reservations released, prepayments refunded,
    and who is to be told. Raises GroupBuyError("closed") when it is not open any more."""
    settlement = await cancel_groupbuy(session, groupbuy_id=groupbuy_id, now=now)
    return await _closing(
        session,
        settlement,
        now=now,
        tier_currency=tier_currency,
        default_locale=default_locale,
        default_timezone=default_timezone,
    )


async def _closing(
    session: AsyncSession,
    settlement: Settlement,
    *,
    now: datetime,
    tier_currency: str,
    default_locale: str,
    default_timezone: str,
) -> Closing:
    gb = settlement.groupbuy
    groups = []
    for post in await posts(session, gb.id):
        community = await get_community(session, post.chat_id)
        groups.append(
            GroupNotice(
                post.chat_id,
                post.message_id,
                community.locale if community else default_locale,
                community.timezone if community else default_timezone,
                post.photo,
                post.pickup,
            )
        )
    orders: dict[int, list[OrderView]] = {}  # a sign-up list's member has one per line
    for made in settlement.orders:
        orders.setdefault(made.member_id, []).append(made)
    members = []
    locales: dict[int, str] = {}  # participants who can be told, in their language
    for entry in settlement.participants:
        who = await get_member(session, entry.member_id)
        if who is None or not who.started:
            continue
        locales[who.id] = who.locale
        mine = orders.get(who.id, [])
        order = mine[0] if mine else None
        invoice = None
        if order is not None and order.payment_mode == PAYMENT_TELEGRAM:
            invoice = await start_invoice(session, order_id=order.id, member_id=who.id)
        pickup = next((g.pickup for g in groups if g.chat_id == entry.chat_id), "")
        lines = tuple(mine) if gb.multi else ()
        members.append(MemberNotice(who.id, who.locale, order, invoice, pickup, lines))
    owed = [
        OwedBack(member_id, locales[member_id], order_id, amount, whole=False)
        for member_id, order_id, amount in settlement.differences
        if member_id in locales
    ]
    stars = False
    for order_id in settlement.to_refund:
        row = await get_order(session, order_id)
        if row is None:
            continue
        refund = await refund_now(
            session,
            order_id=order_id,
            actor_id=0,
            amount=None,
            tier_currency=tier_currency,
            now=now,
            note=f"group-buy #{gb.id} closed",
            due_only=row.currency != STARS,
            reason=REFUND_GROUPBUY,
        )
        if refund.star_charge_id is not None:
            stars = True  # the refunder sends them back and tells the member
            continue
        who = await get_member(session, row.member_id)
        if who is not None and who.started:
            owed.append(OwedBack(who.id, who.locale, order_id, refund.amount, whole=True))
    sheet, sheet_locale, unreached = None, "", None
    opener = await get_member(session, gb.opened_by) if settlement.formed else None
    if opener is not None and opener.started:
        sheet, sheet_locale = await pickup_sheet(session, gb.id), opener.locale
    elif opener is not None:
        led = await led_communities(session, member_id=opener.id)
        where = tuple(g for g in groups if g.chat_id in led) or tuple(groups[:1])
        unreached = UnreachedLeader(opener.id, opener.display_name, where)
    return Closing(
        settlement,
        tuple(groups),
        tuple(members),
        tuple(owed),
        stars,
        sheet,
        sheet_locale,
        unreached,
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


async def posts(session: AsyncSession, groupbuy_id: int) -> list[GroupBuyPost]:
    """The cards of a group-buy, one per group."""
    rows = await session.execute(
        select(GroupBuyPost).where(col(GroupBuyPost.groupbuy_id) == groupbuy_id)
    )
    return list(rows.scalars().all())


async def record_card(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    chat_id: int,
    message_id: int,
    now: datetime,
    photo: bool = False,
) -> None:
    """Remember the message that is the group-buy's card in a chat, and whether it is a photo
    (whose caption is the card)."""
    await session.execute(
        update(GroupBuyPost)
        .where(col(GroupBuyPost.groupbuy_id) == groupbuy_id, col(GroupBuyPost.chat_id) == chat_id)
        .values(message_id=message_id, edited_at=now, photo=photo)
    )


@dataclass(frozen=True, slots=True)
class CardSlot:
    """A card this worker may edit now: its message, and whether it is a photo."""

    message_id: int
    photo: bool


async def claim_card_edit(
    session: AsyncSession, *, groupbuy_id: int, chat_id: int, now: datetime, interval: float
) -> CardSlot | None:
    """The card to edit if this worker may edit it now (one edit per interval per group)."""
    result = await session.execute(
        update(GroupBuyPost)
        .where(
            col(GroupBuyPost.groupbuy_id) == groupbuy_id,
            col(GroupBuyPost.chat_id) == chat_id,
            col(GroupBuyPost.message_id).is_not(None),
            or_(
                col(GroupBuyPost.edited_at).is_(None),
                col(GroupBuyPost.edited_at) <= now - timedelta(seconds=interval),
            ),
        )
        .values(edited_at=now)
        .returning(col(GroupBuyPost.message_id), col(GroupBuyPost.photo))
    )
    row = result.one_or_none()
    if row is None:
        return None
    message_id, photo = row
    assert message_id is not None  # claimed only where a card was posted
    return CardSlot(int(message_id), bool(photo))


async def groupbuys_in_chat(session: AsyncSession, chat_id: int) -> list[int]:
    """Open group-buys posted in the chat, newest first."""
    rows = await session.execute(
        select(col(GroupBuy.id))
        .join(GroupBuyPost, col(GroupBuyPost.groupbuy_id) == col(GroupBuy.id))
        .where(col(GroupBuyPost.chat_id) == chat_id, col(GroupBuy.status) == GROUPBUY_OPEN)
        .order_by(col(GroupBuy.id).desc())
    )
    return [int(i) for i in rows.scalars().all() if i is not None]


# ---------------------------------------------------------------- prepayment ----------------
# A Telegram-paid group-buy takes payment when members join: each member has at most one
# unpaid order covering what they joined beyond what they already paid. At formation unpaid
# orders are repriced to the final tier price, and paid ones above it get the difference owed
# back; when it fails or is cancelled, unpaid orders are withdrawn and paid ones refunded.

PREPAY_OPEN = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT)
PREPAY_PAID = (ORDER_PAID, ORDER_FULFILLED)


def _id(row: Order) -> int:
    assert row.id is not None
    return row.id


async def _member_orders(session: AsyncSession, groupbuy_id: int, member_id: int) -> list[Order]:
    rows = await session.execute(
        select(Order)
        .where(
            col(Order.groupbuy_id) == groupbuy_id,
            col(Order.member_id) == member_id,
            col(Order.status).in_((*PREPAY_OPEN, *PREPAY_PAID)),
        )
        .order_by(col(Order.id))
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars().all())


async def prepayment_due(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, chat_id: int
) -> OrderView | None:
    """The member's unpaid order of a Telegram-paid group-buy, in line with their place, to
    invoice now: a member who joined before starting the bot is invoiced when they do."""
    created = await sync_prepayment(
        session, groupbuy_id=groupbuy_id, member_id=member_id, chat_id=chat_id
    )
    if created is not None:
        return created
    unpaid = [
        row
        for row in await _member_orders(session, groupbuy_id, member_id)
        if row.status in PREPAY_OPEN
    ]
    return order_view(unpaid[0]) if unpaid else None


async def prepaid_units(session: AsyncSession, *, groupbuy_id: int, member_id: int) -> int:
    """Units the member already paid for in this group-buy (they cannot go below them)."""
    rows = await _member_orders(session, groupbuy_id, member_id)
    return sum(row.quantity for row in rows if row.status in PREPAY_PAID)


async def _new_order(
    session: AsyncSession,
    found: GroupBuyView,
    *,
    member_id: int,
    chat_id: int,
    quantity: int,
    price: int,
    variant: GroupBuyVariantView | None = None,
) -> OrderView:
    """An order for the group-buy's units (its stock was taken when the group-buy opened), of
    the member's variant if any; delivered when the group-buy (or, without a mode of its own,
    its product) is only delivered: its invoice then asks the address, or the member gives it
    in private. A sign-up list's item put from the catalogue is an order of that product (and
    its variant, if it has some), so its stats and reviews count it."""
    sells = variant if variant is not None and variant.product_id is not None else None
    row = Order(
        member_id=member_id,
        chat_id=chat_id,
        leader_id=found.opened_by,
        product_id=sells.product_id if sells else found.product_id,
        groupbuy_id=found.id,
        title=sells.product_title if sells else found.title,
        variant_id=variant.variant_id if variant else None,
        variant_name=sells.variant_name if sells else variant.name if variant else "",
        quantity=quantity,
        unit_price=price,
        currency=found.currency,
        payment_mode=found.payment_mode,
        status=ORDER_RESERVED,
        commission_bps=found.commission_bps,
        discount=await tier_discount(session, member_id=member_id, gross=quantity * price),
        delivery=DELIVERY_SHIP if found.fulfilment == FULFIL_DELIVERY else DELIVERY_PICKUP,
    )
    session.add(row)
    await session.flush()
    session.add(
        OrderEvent(order_id=_id(row), to_status=ORDER_RESERVED, note=f"group-buy #{found.id}")
    )
    return order_view(row)


async def _withdraw(session: AsyncSession, row: Order, note: str) -> None:
    """Cancel an unpaid group-buy order without giving stock to the product (the units are
    the group-buy's); a coupon on it goes back to the member."""
    moved = await session.execute(
        update(Order)
        .where(
            col(Order.id) == row.id,
            col(Order.status).in_(PREPAY_OPEN),
            col(Order.version) == row.version,
        )
        .values(status=ORDER_CANCELLED, version=row.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        raise GroupBuyError(GroupBuyRefusal.CHANGED_MEANWHILE, str(row.id))
    session.add(
        OrderEvent(
            order_id=_id(row), from_status=row.status, to_status=ORDER_CANCELLED, note=note[:255]
        )
    )
    await release_coupon(session, order_id=_id(row))


async def _reprice(session: AsyncSession, row: Order, price: int) -> OrderView:
    """An unpaid order moved to the final price: a new version, so an older invoice fails."""
    await release_coupon(session, order_id=_id(row))
    discount = await tier_discount(session, member_id=row.member_id, gross=row.quantity * price)
    moved = await session.execute(
        update(Order)
        .where(col(Order.id) == row.id, col(Order.status).in_(PREPAY_OPEN))
        .values(
            unit_price=price,
            discount=discount,
            status=ORDER_RESERVED,
            version=col(Order.version) + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        raise GroupBuyError(GroupBuyRefusal.CHANGED_MEANWHILE, str(row.id))
    fresh = await session.get(Order, _id(row), populate_existing=True)
    assert fresh is not None
    return order_view(fresh)


async def _price_difference(session: AsyncSession, row: Order, price: int) -> int:
    """What a paid order paid above the final price (after the member's tier discount)."""
    gross = row.quantity * price
    final_total = gross - await tier_discount(session, member_id=row.member_id, gross=gross)
    final_total += row.shipping_cost  # the delivery paid with it is not a price difference
    return max(0, row.paid_amount - row.refunded_amount - final_total)


async def _unwind(
    session: AsyncSession, found: GroupBuyView, listed: tuple[Participant, ...]
) -> tuple[int, ...]:
    """A group-buy that failed or was cancelled: unpaid orders withdrawn; returns the paid
    ones, which the caller refunds in full."""
    paid: list[int] = []
    for entry in listed:
        for row in await _member_orders(session, found.id, entry.member_id):
            if row.status in PREPAY_OPEN:
                await _withdraw(session, row, f"group-buy #{found.id} closed")
            else:
                paid.append(_id(row))
    return tuple(paid)


async def sync_prepayment(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, chat_id: int
) -> OrderView | None:
    """After a join or change in a Telegram-paid group-buy: the member's one unpaid order
    covers what they joined beyond what they paid. Returns a new order to invoice, or None."""
    found = await _must(session, groupbuy_id)
    if found.payment_mode != PAYMENT_TELEGRAM:
        return None
    joined = (
        await session.execute(
            select(col(GroupBuyJoin.quantity)).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
        )
    ).scalar_one_or_none() or 0
    rows = await _member_orders(session, groupbuy_id, member_id)
    paid = sum(row.quantity for row in rows if row.status in PREPAY_PAID)
    unpaid = [row for row in rows if row.status in PREPAY_OPEN]
    wanted = joined - paid
    if len(unpaid) == 1 and unpaid[0].quantity == wanted:
        return None
    for row in unpaid:
        await _withdraw(session, row, "quantity changed")
    if wanted <= 0:
        return None
    return await _new_order(
        session,
        found,
        member_id=member_id,
        chat_id=chat_id,
        quantity=wanted,
        price=found.current_price,
    )


async def book_after_forming(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    units: int,
    now: datetime,
) -> OrderView:
    """Units freed in a formed group-buy (a refund before pickup) booked for a member from its
    waitlist: the counters take them by a conditional UPDATE (never past the stock), the
    member's join row grows under the per-member limit, and an order opens at the final price.
    Refused with "sold_out" when someone else took them first."""
    found = await _must(session, groupbuy_id)
    if found.status != GROUPBUY_FORMED or found.final_price is None:
        raise GroupBuyError(GroupBuyRefusal.CLOSED)
    held = (
        await session.execute(
            select(col(GroupBuyJoin.quantity)).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
        )
    ).scalar_one_or_none()
    old = int(held or 0)
    if old + units > found.per_member_limit:
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    counted = await session.execute(
        update(GroupBuy)
        .where(
            col(GroupBuy.id) == groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_FORMED,
            col(GroupBuy.units_sold) + units <= col(GroupBuy.stock_cap),
        )
        .values(
            units_sold=col(GroupBuy.units_sold) + units,
            participants=col(GroupBuy.participants) + (1 if old == 0 else 0),
        )
    )
    if rowcount(counted) != 1:
        raise GroupBuyError(GroupBuyRefusal.SOLD_OUT, "0")
    if held is None:
        session.add(
            GroupBuyJoin(
                groupbuy_id=groupbuy_id,
                member_id=member_id,
                chat_id=chat_id,
                quantity=units,
                joined_at=now,
                updated_at=now,
            )
        )
        await session.flush()
    else:
        await session.execute(
            update(GroupBuyJoin)
            .where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
            .values(quantity=col(GroupBuyJoin.quantity) + units, updated_at=now)
        )
    return await _new_order(
        session,
        found,
        member_id=member_id,
        chat_id=chat_id,
        quantity=units,
        price=found.final_price,
    )


# ------------------------------------------------------------------ variants ---------------


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
        if await _take_from_variant(session, variant.id, cap):
            caps.append((variant, cap))
    if not caps:
        raise GroupBuyError(GroupBuyRefusal.NOT_ENOUGH_STOCK, "0")
    return caps


async def _take_from_variant(session: AsyncSession, variant_id: int, units: int) -> bool:
    """The variant's stock gives `units` to a group-buy: one conditional UPDATE (stock >=
    units), so two group-buys, lists and orders taking at once never take it below zero.
    False when it has fewer left (a variant of unlimited stock has none to take)."""
    taken = await session.execute(
        update(ProductVariant)
        .where(col(ProductVariant.id) == variant_id, col(ProductVariant.stock) >= units)
        .values(stock=col(ProductVariant.stock) - units)
        .execution_options(synchronize_session=False)
    )
    return rowcount(taken) == 1


async def _take_from_product(session: AsyncSession, product_id: int, units: int) -> bool:
    """The product's own stock (a product without variants) gives `units` to a group-buy,
    by the same conditional UPDATE as a variant's; False when it has fewer left."""
    taken = await session.execute(
        update(Product)
        .where(col(Product.id) == product_id, col(Product.stock) >= units)
        .values(stock=col(Product.stock) - units)
    )
    return rowcount(taken) == 1


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
                taken = await _take_from_product(session, item.product_id, cap)
            else:
                taken = await _take_from_variant(session, item.variant_id, cap)
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
            await session.execute(
                update(Product)
                .where(col(Product.id) == offered.product_id, col(Product.stock).is_not(None))
                .values(stock=col(Product.stock) + units)
                .execution_options(synchronize_session=False)
            )
            continue
        await session.execute(
            update(ProductVariant)
            .where(
                col(ProductVariant.id) == offered.variant_id, col(ProductVariant.stock).is_not(None)
            )
            .values(stock=col(ProductVariant.stock) + units)
            .execution_options(synchronize_session=False)
        )


# ------------------------------------------------------------ sign-up lists (接龙) ----------
# A sign-up list is a group-buy whose variants are its items (GroupBuyVariant rows, numbered
# from 1 in their order): each keeps its price, its own stock counter (moved by the same
# conditional UPDATE as a variant's) and its own minimum. A member has one join row (the sum
# of their units, their place on the list) and one line per item they ordered (GroupBuyLine);
# at forming, each line becomes an order of that item, priced and stocked as a variant's.


@dataclass(frozen=True, slots=True)
class LineChange:
    """What a member asks of one item of a sign-up list: `quantity` more (`add`), else that
    many in all (0 takes the item off their order)."""

    item: int  # the item's number on the list, from 1
    quantity: int
    add: bool = False


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of a member's order in a sign-up list."""

    item: int  # the item's number on the list
    variant_id: int
    name: str
    unit_price: int
    quantity: int


@dataclass(frozen=True, slots=True)
class ListOrder:
    """A member's order in a sign-up list after a change: its lines and their place."""

    groupbuy: GroupBuyView
    lines: tuple[OrderLine, ...]
    position: int  # their number on the list (0: they have no units left)

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def total(self) -> int:
        return sum(line.quantity * line.unit_price for line in self.lines)


def _item_detail(number: int, item: GroupBuyVariantView, figure: int | str) -> str:
    """A refusal's detail about one item: its number, name and the figure that refused it."""
    return f"{number}\t{item.name}\t{figure}"


async def change_lines(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    changes: list[LineChange],
    now: datetime,
) -> ListOrder:
    """Change a member's order in a sign-up list, several items at once, all or nothing: a
    refusal of any line (unknown_item, item_over_limit or item_sold_out, whose detail is
    "number<TAB>name<TAB>figure"; closed, vip_only, not_joined) takes back every line.

    Order of work: the member's join row (created empty, then locked: one member's taps queue
    there), then each item's counter in the order of its id (so two orders never wait on each
    other crosswise), then the group-buy's counters: each a conditional UPDATE, never oversold.
    """
    for change in changes:
        if type(change.item) is not int or type(change.quantity) is not int:
            raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
        if change.quantity < 0 or (change.add and change.quantity == 0):
            raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
    if not changes:
        raise GroupBuyError(GroupBuyRefusal.BAD_QUANTITY)
    async with session.begin_nested():  # a refusal anywhere takes back every line
        return await _change_lines(session, groupbuy_id, member_id, chat_id, changes, now)


async def _change_lines(
    session: AsyncSession,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    changes: list[LineChange],
    now: datetime,
) -> ListOrder:
    ids = {"groupbuy_id": groupbuy_id, "chat_id": chat_id, "member_id": member_id}
    row = (await session.execute(_READ_FOR_JOIN(session), ids)).first()
    if row is None or not row.posted:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    found = _view_of(row)
    if not found.multi:
        raise GroupBuyError(GroupBuyRefusal.NOT_FOUND, str(groupbuy_id))
    if found.status != GROUPBUY_OPEN or found.deadline <= now:
        raise GroupBuyError(GroupBuyRefusal.CLOSED)
    if any(change.quantity for change in changes):
        await _check_vip(session, found, member_id, chat_id, now)
    found = replace(found, variants=await groupbuy_variants(session, groupbuy_id))
    for change in changes:
        if found.item(change.item) is None:
            raise GroupBuyError(GroupBuyRefusal.UNKNOWN_ITEM, str(change.item))
    if row.held is None:
        await _empty_join(session, groupbuy_id, member_id, chat_id, now)
    locked = select(col(GroupBuyJoin.quantity)).where(
        col(GroupBuyJoin.groupbuy_id) == groupbuy_id, col(GroupBuyJoin.member_id) == member_id
    )
    if session.get_bind().dialect.name == "postgresql":
        locked = locked.with_for_update()
    old_total = int((await session.execute(locked)).scalar_one())
    held = await _lines_of(session, groupbuy_id, member_id)
    wanted = dict(held)
    for change in changes:
        item = found.item(change.item)
        assert item is not None
        before = wanted.get(item.variant_id, 0)
        wanted[item.variant_id] = before + change.quantity if change.add else change.quantity
    numbers = {item.variant_id: n for n, item in enumerate(found.variants, start=1)}
    by_id = {item.variant_id: item for item in found.variants}
    for variant_id, quantity in wanted.items():
        if quantity > found.per_member_limit:
            number = numbers[variant_id]
            detail = _item_detail(number, by_id[variant_id], found.per_member_limit)
            raise GroupBuyError(GroupBuyRefusal.ITEM_OVER_LIMIT, detail)
    new_total = sum(wanted.values())
    if new_total == 0 and old_total == 0:
        raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
    for variant_id in sorted(wanted):
        delta = wanted[variant_id] - held.get(variant_id, 0)
        try:
            await _count_variant(session, groupbuy_id, variant_id, delta)
        except GroupBuyError as exc:
            if exc.reason != "sold_out":
                raise
            detail = _item_detail(numbers[variant_id], by_id[variant_id], exc.detail or "0")
            raise GroupBuyError(GroupBuyRefusal.ITEM_SOLD_OUT, detail) from None
    if new_total != old_total:
        delta = new_total - old_total
        counted = await _count_units(session, found, delta, old_total, new_total, now)
        units_sold, people = int(counted.units_sold), int(counted.participants)
    else:
        units_sold, people = found.units_sold, found.participants
    lines = table_of(GroupBuyLine)
    for variant_id in sorted(wanted):
        if wanted[variant_id] == held.get(variant_id, 0):
            continue
        upsert = insert_for(session, lines).values(
            groupbuy_id=groupbuy_id,
            member_id=member_id,
            variant_id=variant_id,
            quantity=wanted[variant_id],
            updated_at=now,
        )
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=["groupbuy_id", "member_id", "variant_id"],
                set_={"quantity": upsert.excluded.quantity, "updated_at": now},
            )
        )
    values: dict[str, object] = {"quantity": new_total, "updated_at": now, "chat_id": chat_id}
    if old_total == 0:
        values["joined_at"] = now  # a member who comes back goes to the end of the list
    await session.execute(
        update(GroupBuyJoin)
        .where(
            col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
            col(GroupBuyJoin.member_id) == member_id,
        )
        .values(**values)
    )
    fresh = await groupbuy_variants(session, groupbuy_id)
    after = replace(found, units_sold=units_sold, participants=people, variants=fresh)
    position = await _position(session, groupbuy_id, member_id) if new_total else 0
    return ListOrder(after, _order_lines(after, wanted), position)


def _order_lines(gb: GroupBuyView, held: Mapping[int, int]) -> tuple[OrderLine, ...]:
    """The member's units per item as lines, in the list's order (items they hold none of
    left out)."""
    return tuple(
        OrderLine(number, item.variant_id, item.name, item.unit_price, held[item.variant_id])
        for number, item in enumerate(gb.variants, start=1)
        if held.get(item.variant_id, 0) > 0
    )


async def _lines_of(session: AsyncSession, groupbuy_id: int, member_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(col(GroupBuyLine.variant_id), col(GroupBuyLine.quantity)).where(
            col(GroupBuyLine.groupbuy_id) == groupbuy_id,
            col(GroupBuyLine.member_id) == member_id,
        )
    )
    return {int(variant): int(quantity) for variant, quantity in rows.all() if quantity}


async def list_lines(session: AsyncSession, groupbuy_id: int) -> dict[int, tuple[OrderLine, ...]]:
    """Every member's lines in a sign-up list, by member (members with no units left out)."""
    gb = await get_groupbuy(session, groupbuy_id)
    if gb is None or not gb.multi:
        return {}
    rows = await session.execute(
        select(
            col(GroupBuyLine.member_id), col(GroupBuyLine.variant_id), col(GroupBuyLine.quantity)
        ).where(col(GroupBuyLine.groupbuy_id) == groupbuy_id, col(GroupBuyLine.quantity) > 0)
    )
    held: dict[int, dict[int, int]] = {}
    for member_id, variant_id, quantity in rows.all():
        held.setdefault(int(member_id), {})[int(variant_id)] = int(quantity)
    return {member_id: _order_lines(gb, lines) for member_id, lines in held.items()}


async def my_lines(session: AsyncSession, *, groupbuy_id: int, member_id: int) -> ListOrder:
    """The member's order in a sign-up list as it stands (no lines: they have none)."""
    gb = await _must(session, groupbuy_id)
    held = await _lines_of(session, groupbuy_id, member_id)
    position = await _position(session, groupbuy_id, member_id)
    return ListOrder(gb, _order_lines(gb, held), position)


def formed_items(gb: GroupBuyView) -> set[int]:
    """The items (variant ids) of a sign-up list that form now: item by item, each ordered
    item at its own minimum; as a whole, every ordered item when the list's minimum and each
    ordered item's own minimum are reached, else none."""
    ordered = [item for item in gb.variants if item.units_sold > 0]
    if gb.form_per_item:
        return {item.variant_id for item in ordered if item.reached}
    if gb.reached and all(item.reached for item in ordered):
        return {item.variant_id for item in ordered}
    return set()


async def _settle_list(
    session: AsyncSession, found: GroupBuyView, listed: tuple[Participant, ...], now: datetime
) -> Settlement:
    """A sign-up list closes: an order per line of each item that formed, at the item's
    price; what the items did not sell (all of an item that did not form) back to stock."""
    forming = formed_items(found)
    lines = await list_lines(session, found.id)
    by_id = {item.variant_id: item for item in found.variants}
    orders: list[OrderView] = []
    for entry in listed:
        for line in lines.get(entry.member_id, ()):
            if line.variant_id not in forming:
                continue
            orders.append(
                await _new_order(
                    session,
                    found,
                    member_id=entry.member_id,
                    chat_id=entry.chat_id,
                    quantity=line.quantity,
                    price=line.unit_price,
                    variant=by_id[line.variant_id],
                )
            )
    await _release_variant_stock(session, found.id, all_of_it=False, kept=forming)
    await _end_waitlist(session, found.id, now)  # an item's line is served only while open
    formed = bool(forming)
    await session.execute(
        update(GroupBuy)
        .where(col(GroupBuy.id) == found.id)
        .values(
            status=GROUPBUY_FORMED if formed else GROUPBUY_FAILED,
            final_price=found.unit_price if formed else None,
            settled_at=now,
        )
    )
    return Settlement(await _must(session, found.id), formed, tuple(orders), listed)


async def _leave_list(
    session: AsyncSession, found: GroupBuyView, member_id: int, chat_id: int, now: datetime
) -> JoinResult:
    """Leave a sign-up list: every line of the member's order taken off."""
    found = replace(found, variants=await groupbuy_variants(session, found.id))
    held = await _lines_of(session, found.id, member_id)
    numbers = {item.variant_id: n for n, item in enumerate(found.variants, start=1)}
    changes = [LineChange(numbers[variant_id], 0) for variant_id in held if variant_id in numbers]
    if not changes:
        raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
    ids = {"groupbuy_id": found.id, "member_id": member_id, "chat_id": chat_id}
    left = await change_lines(session, **ids, changes=changes, now=now)
    return JoinResult(left.groupbuy, 0, 0)
