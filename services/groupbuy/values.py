"""Group-buy values: the refusals (GroupBuyError and its reasons) and the plain dataclasses
the verbs return (a group-buy's view, a join's result, a settlement and who to tell about it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from models.groupbuy import MIN_PEOPLE
from models.product import FULFIL_PICKUP
from services.content import (
    DESCRIPTION,
    PICKUP_POINT,
    PICKUP_TIME,
    TITLE,
    ReadTranslations,
    localized,
)
from services.errors import Refused
from services.order import OrderView
from services.pickup import PickupSheet


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
    # the members whose place on its waitlist ended with it (nothing left to wait for)
    waitlist_ended: tuple[int, ...] = ()


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
    # members (not participants) whose waitlist place ended, who can be told: (id, locale)
    waiting: tuple[tuple[int, str], ...] = ()

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
