"""Sign-up lists (接龙): a leader's pasted list of items read line by line, the product made for
it (each item one of its variants, so prices, stock, orders, sheets and exports work per item
as they do per variant), and members' replies such as `1x2 3x1` or `+1 3` read as changes to
their order (services/groupbuy/ change_lines books them).

A line may put a product of the catalogue on the list instead of a new item: `1. #12` (a
product without variants) or `1. #12:250g` (its variant 250g). Such an item sells that product:
its stock is the product's or the variant's, taken when the list opens like any group-buy's,
and its orders are orders of that product (resolve_catalogue reads the lines against the
catalogue)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GroupBuy, GroupBuyPost
from models.product import PAYMENT_OFFLINE, PAYMENT_TELEGRAM, Product
from services.errors import Refused
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    LineChange,
    ListEntry,
    groupbuys_in_chat,
)
from services.money import InvalidAmount
from services.parsing import is_option, normalize, parse_amount, split_option
from services.product import (
    MAX_VARIANTS,
    VARIANT_NAME_MAX,
    ProductView,
    VariantSpec,
    create_product,
    get_product,
)
from services.validation import NumberRefused, number

TITLE_MAX = 128
# an item typed without stock= takes orders up to this many units (its card shows no count)
UNLIMITED_ITEM = 9999
ITEM_STOCK_MAX = UNLIMITED_ITEM - 1
# an item line starts with its number: '1.', '1、', '1)', '1:', '(1)', '①' is not read
_ITEM = re.compile(r"^\(?(\d{1,3})\s*[.,):]\s*(.*)$")
# a product of the catalogue: '#12', '#12:250g' (its variant), '#12 250g' too
_CATALOGUE = re.compile(r"^#(\d{1,9})(?:(:)|\s|$)\s*(.*)$")
# the price's mark: a symbol before it or the word after it
_PRICE_MARK = re.compile(r"^[¥￥$]|(?:元|块|塊|圆|圓)$")
# a reply to a list: 'NxQ' (× and * too) and '+N' with an optional quantity after it
_TIMES = re.compile(r"^(\d{1,3})[x×*](\d{1,5})$", re.IGNORECASE)
_PLUS = re.compile(r"^\+(\d{1,3})$")
_QUANTITY = re.compile(r"^\d{1,5}$")

# BadLine.reason values: why an item line was not read
LINE_SHAPE = "shape"  # not an item: no number at its start (and not the title)
LINE_PRICE = "price"  # no price that can be read
LINE_NAME = "name"  # no name, or a name too long
LINE_DUPLICATE = "duplicate"  # the same name (whatever its case) as an item before it
LINE_OPTION = "option"  # stock= or min= without a whole number, or an unknown key
LINE_TOO_MANY = "too_many"  # more items than a card has room for
# ... and of a line that puts a product of the catalogue on the list
LINE_CATALOGUE = "catalogue"  # '#' and a number, but not read as #12 or #12:250g
LINE_UNKNOWN_PRODUCT = "unknown_product"  # no product with this number
LINE_PRODUCT_OFF = "product_off"  # switched off by staff: not on sale
LINE_NOT_OFFLINE = "not_offline"  # paid by invoice, or in another currency than the list
LINE_CHOOSE_VARIANT = "choose_variant"  # it has variants and the line names none
LINE_UNKNOWN_VARIANT = "unknown_variant"  # it has no variant of that name
LINE_NO_VARIANTS = "no_variants"  # a variant named for a product without any
LINE_OUT_OF_STOCK = "out_of_stock"  # none left in stock
LINE_PRICE_FIXED = "price_fixed"  # a leader typed another price: only staff set prices


# form= : a list forms item by item, or as a whole (the default)
PER_ITEM_WORDS = ("each", "item", "items", "per_item", "单品", "單品", "分开", "分開", "逐个")
WHOLE_WORDS = ("all", "whole", "list", "整单", "整單", "一起", "整体", "整體")


def parse_form(text: str) -> bool:
    """form=each (单品: item by item, True) or form=all (整单: as a whole, False); GroupBuyError
    bad_form naming what was typed otherwise."""
    word = normalize(text).lower()
    if word in PER_ITEM_WORDS:
        return True
    if word in WHOLE_WORDS:
        return False
    raise GroupBuyError(GroupBuyRefusal.BAD_FORM, text)


class ListError(Refused):
    """A sign-up list that cannot be opened: no_items (no line could be read)."""


@dataclass(frozen=True, slots=True)
class ListItem:
    """An item as the leader typed it: name, price (minor units), stock (None: as many as
    ordered) and its own minimum (0: none).

    An item put from the catalogue has its `product_id`, and once read against the catalogue
    (resolve_catalogue) the `variant_id` it sells (None: the product has no variants), the
    product's name, its price unless one was typed, and as `stock` what the list will take of
    the product's (None: it has no limit, nor the line)."""

    name: str
    price: int
    stock: int | None = None
    min_units: int = 0
    product_id: int | None = None
    variant_id: int | None = None
    # as typed, until read against the catalogue: the variant named (#12:250g), whether a
    # price was typed, and the line it came from
    variant: str = field(default="", compare=False)
    priced: bool = field(default=True, compare=False)
    line: int = field(default=0, compare=False)
    text: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line the bot could not read: its number in the message, its text, and why."""

    number: int
    text: str
    reason: str
    part: str = ""  # the word that was not read, when it is one
    # a catalogue line's product ("#12 Tea"), its variants' names, its price in minor units
    product: str = ""
    choices: tuple[str, ...] = ()
    amount: int = 0


@dataclass(frozen=True, slots=True)
class ParsedList:
    """A pasted list: its title (the first line that is not an item), items and bad lines."""

    title: str
    items: tuple[ListItem, ...]
    bad: tuple[BadLine, ...]


def parse_list(lines: list[str], *, currency: str, locale: str, ceiling: int) -> ParsedList:
    """Read the lines of a pasted list: `1. 草莓 2斤 ¥39.9 stock=20 min=5` is item 1, 草莓 2斤
    at ¥39.90, 20 in stock, forming at 5 units (库存= and 成团= too). The price is the word
    marked as one (¥39.9, 39.9元), else the last word that is a number. The first line before
    the items that is not one is the title; every other line is reported with its reason."""
    title = ""
    items: list[ListItem] = []
    bad: list[BadLine] = []
    seen: set[str] = set()
    for index, raw in enumerate(lines, start=1):
        text = normalize(raw)
        if not text:
            continue
        found = _ITEM.match(text)
        if found is None:
            if not items and not title:
                title = text[:TITLE_MAX]
            else:
                bad.append(BadLine(index, text, LINE_SHAPE))
            continue
        try:
            item = _item(found.group(2), currency=currency, locale=locale, ceiling=ceiling)
        except _Bad as exc:
            bad.append(BadLine(index, text, exc.reason, exc.part))
            continue
        # a catalogue line is told apart by its product and variant, until they are read
        key = f"#{item.product_id}:{item.variant}" if item.product_id else item.name
        if key.casefold() in seen:
            bad.append(BadLine(index, text, LINE_DUPLICATE, item.name or key))
            continue
        if len(items) >= MAX_VARIANTS:
            bad.append(BadLine(index, text, LINE_TOO_MANY, str(MAX_VARIANTS)))
            continue
        seen.add(key.casefold())
        items.append(replace(item, line=index, text=text))
    return ParsedList(title, tuple(items), tuple(bad))


class _Bad(Exception):
    def __init__(self, reason: str, part: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.part = part


def _item(body: str, *, currency: str, locale: str, ceiling: int) -> ListItem:
    reference = None
    if body.startswith("#") and body[1:2].isdigit():  # '#12...': a product of the catalogue
        reference = _CATALOGUE.match(body)
        if reference is None:
            raise _Bad(LINE_CATALOGUE, body.split()[0])
        body = reference.group(3)
    # '草莓2斤¥39.9': the price's symbol starts a word of its own
    words = re.sub(r"\s*([¥￥])\s*", r" \1", body).split()
    options: dict[str, str] = {}
    rest: list[str] = []
    for word in words:
        option = split_option(word) if is_option(word) else None
        if option is None:
            rest.append(word)
            continue
        key, value = option
        if key not in ("stock", "min"):
            raise _Bad(LINE_OPTION, word)
        options[key] = value
    stock = _whole(options["stock"]) if "stock" in options else None
    if stock == 0:
        raise _Bad(LINE_OPTION, f"stock={options['stock']}")
    minimum = _whole(options["min"]) if "min" in options else 0
    if reference is not None:
        price, variant = _catalogue_price(
            rest, colon=bool(reference.group(2)), currency=currency, locale=locale, ceiling=ceiling
        )
        return ListItem(
            "",
            price or 0,
            stock,
            minimum,
            product_id=int(reference.group(1)),
            variant=variant,
            priced=price is not None,
        )
    marked = [i for i, word in enumerate(rest) if _PRICE_MARK.search(word)]
    at = marked[-1] if marked else len(rest) - 1
    if at < 0:
        raise _Bad(LINE_PRICE)
    try:
        price = parse_amount(rest[at], currency, locale=locale, ceiling=ceiling)
    except InvalidAmount:
        raise _Bad(LINE_PRICE, rest[at]) from None
    name = " ".join(rest[:at] + rest[at + 1 :]).strip()
    if not name or len(name) > VARIANT_NAME_MAX:
        raise _Bad(LINE_NAME, name)
    return ListItem(name, price, stock, minimum)


def _catalogue_price(
    rest: list[str], *, colon: bool, currency: str, locale: str, ceiling: int
) -> tuple[int | None, str]:
    """The price typed on a catalogue line, if any, and the variant it names: a price is the
    word marked as one (¥39.9, 39.9元), or a last number after the variant (`#12:500 39.9`;
    `#12:500` alone names the variant 500, `#12 39.9` is the price of #12)."""
    marked = [i for i, word in enumerate(rest) if _PRICE_MARK.search(word)]
    at: int | None = marked[-1] if marked else None
    if at is None and rest and (not colon or len(rest) > 1):
        try:
            parse_amount(rest[-1], currency, locale=locale, ceiling=ceiling)
            at = len(rest) - 1
        except InvalidAmount:
            at = None
    if at is None:
        return None, " ".join(rest)
    try:
        price = parse_amount(rest[at], currency, locale=locale, ceiling=ceiling)
    except InvalidAmount:
        raise _Bad(LINE_PRICE, rest[at]) from None
    return price, " ".join(rest[:at] + rest[at + 1 :])


def _whole(text: str) -> int:
    try:
        found = number(text, prefix="", maximum=ITEM_STOCK_MAX)
    except NumberRefused:
        found = None
    if found is None:
        raise _Bad(LINE_OPTION, text)
    return found


def _shown_name(title: str, variant: str) -> str:
    """A catalogue item's name on the list: the product's title and its variant's name, cut to
    the length of an item's name."""
    name = f"{title} {variant}".strip()
    return name if len(name) <= VARIANT_NAME_MAX else name[: VARIANT_NAME_MAX - 1] + "…"


async def resolve_catalogue(
    session: AsyncSession, parsed: ParsedList, *, currency: str, may_set_price: bool
) -> ParsedList:
    """Read a pasted list's catalogue lines against the catalogue: each becomes the item of
    its product (and the variant it names) with the product's name and price, and as stock
    what the list will take of the product's; a line that cannot be (no such product or
    variant, switched off, paid by invoice or in another currency, out of stock, the same
    item twice, or a price typed by someone who may not set one: staff set catalogue prices)
    goes to the bad lines with its reason, the product and its variants."""
    items: list[ListItem] = []
    bad = list(parsed.bad)
    seen = {item.name.casefold() for item in parsed.items if item.product_id is None}
    for item in parsed.items:
        if item.product_id is None:
            items.append(item)
            continue
        found = await _from_catalogue(session, item, currency, may_set_price)
        if isinstance(found, ListItem) and found.name.casefold() in seen:
            found = BadLine(item.line, item.text, LINE_DUPLICATE, found.name)
        if isinstance(found, BadLine):
            bad.append(found)
            continue
        seen.add(found.name.casefold())
        items.append(found)
    bad.sort(key=lambda line: line.number)
    return ParsedList(parsed.title, tuple(items), tuple(bad))


async def _from_catalogue(
    session: AsyncSession, item: ListItem, currency: str, may_set_price: bool
) -> ListItem | BadLine:
    """One catalogue line read against the catalogue: its item, or why it cannot be one."""
    assert item.product_id is not None
    product = await get_product(session, item.product_id)
    if product is None:
        return BadLine(item.line, item.text, LINE_UNKNOWN_PRODUCT, f"#{item.product_id}")
    label = f"#{product.id} {product.title}"
    names = tuple(variant.name for variant in product.variants)

    def refuse(reason: str, part: str = "", amount: int = 0) -> BadLine:
        return BadLine(item.line, item.text, reason, part, label, names, amount)

    if not product.active:
        return refuse(LINE_PRODUCT_OFF)
    if product.payment_mode == PAYMENT_TELEGRAM or product.currency != currency:
        return refuse(LINE_NOT_OFFLINE)
    variant = None
    if product.variants:
        if not item.variant:
            return refuse(LINE_CHOOSE_VARIANT, f"#{product.id}:{names[0]}")
        wanted = normalize(item.variant).casefold()
        variant = next((v for v in product.variants if v.name.casefold() == wanted), None)
        if variant is None:
            return refuse(LINE_UNKNOWN_VARIANT, item.variant)
    elif item.variant:
        return refuse(LINE_NO_VARIANTS, f"#{product.id}")
    price, stock = (variant.price, variant.stock) if variant else (product.price, product.stock)
    if stock is not None and stock <= 0:
        return refuse(LINE_OUT_OF_STOCK)
    if item.priced and item.price != price and not may_set_price:
        return refuse(LINE_PRICE_FIXED, amount=price)
    return replace(
        item,
        name=_shown_name(product.title, variant.name if variant else ""),
        price=item.price if item.priced else price,
        # the list takes all there is, or as many as stock= says
        stock=item.stock if stock is None else min(stock, item.stock or stock),
        variant_id=variant.id if variant else None,
        variant=variant.name if variant else "",
    )


async def list_product(
    session: AsyncSession, *, parsed: ParsedList, title: str, currency: str, created_by: int
) -> ProductView:
    """The product a sign-up list sells: its items as variants (in the order typed), paid at
    pickup, and never in the catalogue (inactive: only its list sells it). A catalogue
    product's variant is not one of them (the list sells that variant itself); a catalogue
    product without variants is, without stock of its own (its stock is the product's)."""
    if not parsed.items:
        raise ListError("no_items")
    made = await create_product(
        session,
        title=(parsed.title or title)[:TITLE_MAX],
        price=min(item.price for item in parsed.items),
        currency=currency,
        created_by=created_by,
        payment_mode=PAYMENT_OFFLINE,
        variants=[
            VariantSpec(item.name, item.price, None if item.product_id else item.stock)
            for item in parsed.items
            if item.variant_id is None
        ],
    )
    await session.execute(
        update(Product)
        .where(col(Product.id) == made.id)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    found = await get_product(session, made.id)
    assert found is not None
    return found


def list_entries(product: ProductView, items: tuple[ListItem, ...]) -> tuple[ListEntry, ...]:
    """The items a list opens with, in its order: the list's own (a variant of its product,
    `list_product`) and those of the catalogue (the variant sold, or for a product without
    variants the list's variant that keys it)."""
    own = {variant.name.casefold(): variant.id for variant in product.variants}
    return tuple(
        ListEntry(
            item.variant_id or own[item.name.casefold()],
            item.name,
            item.price,
            item.stock,
            item.min_units,
            item.product_id,
        )
        for item in items
    )


class ReplyUnreadable(Exception):
    """A reply to a list that starts like an order but has a word the bot cannot read."""

    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


def parse_reply(text: str) -> list[LineChange] | None:
    """A member's reply to a list as changes to their order: `1x2 3x1` (2 of item 1 and 1 of
    item 3, in all), `+1` (one more of item 1), `+1 3` (3 more of item 1); commas and 、 too.
    None when the reply is not an order at all (its first word is none of these);
    ReplyUnreadable naming the word that spoils one."""
    words = re.sub(r"\s*([x×*])\s*(?=\d)", r"\1", normalize(text)).replace(",", " ").split()
    if not words or not (_TIMES.match(words[0]) or _PLUS.match(words[0])):
        return None
    changes: list[LineChange] = []
    index = 0
    while index < len(words):
        word = words[index]
        times = _TIMES.match(word)
        plus = _PLUS.match(word)
        if times:
            changes.append(LineChange(int(times.group(1)), int(times.group(2))))
        elif plus:
            following = words[index + 1] if index + 1 < len(words) else ""
            quantity = 1
            if _QUANTITY.match(following):
                quantity = int(following)
                index += 1
            changes.append(LineChange(int(plus.group(1)), quantity, add=True))
        else:
            raise ReplyUnreadable(word)
        index += 1
    return changes


async def list_of_card(session: AsyncSession, *, chat_id: int, message_id: int) -> int | None:
    """The open sign-up list whose card in the chat is this message, if any."""
    found = await session.execute(
        select(col(GroupBuy.id))
        .join(GroupBuyPost, col(GroupBuyPost.groupbuy_id) == col(GroupBuy.id))
        .where(
            col(GroupBuyPost.chat_id) == chat_id,
            col(GroupBuyPost.message_id) == message_id,
            col(GroupBuy.multi),
        )
    )
    return found.scalar_one_or_none()


_HEADING = re.compile(r"^#(\d+) ", re.MULTILINE)


async def list_of_listing(session: AsyncSession, *, chat_id: int, text: str) -> int | None:
    """The open sign-up list a bot's /list message names (its "#12 title" headings), when it
    names exactly one of the chat's open lists: a reply to that message orders from it."""
    named = {int(found) for found in _HEADING.findall(text)}
    if not named:
        return None
    open_here = set(await groupbuys_in_chat(session, chat_id)) & named
    if not open_here:
        return None
    found = await session.execute(
        select(col(GroupBuy.id)).where(col(GroupBuy.id).in_(open_here), col(GroupBuy.multi))
    )
    lists = [int(i) for i in found.scalars().all() if i is not None]
    return lists[0] if len(lists) == 1 else None
