"""Staff add products with one line; anyone lists them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.content import language_name, preview_lines
from handlers.views.lint import clear_command, split_override
from handlers.views.paging import PageCallback, page_counter, turn_card_page, with_page_row
from handlers.views.product import (
    MAX_STOCK,
    amount_error,
    product_card,
    product_error_text,
    variant_lines,
    variant_unreadable_text,
)
from handlers.views.review import rating_line, reviews_button
from handlers.views.text import HandlerSettings, esc, esc_name, format_money
from models.product import FULFILMENT_MODES, PAYMENT_OFFLINE, PAYMENT_TELEGRAM
from services.content import ContentError
from services.ledger import STARS
from services.member import LOCALES, MemberView
from services.money import InvalidAmount, parse_currency
from services.parsing import VariantUnreadable, parse_amount, parse_variants, variants_text
from services.product import PRODUCT_FIELDS as TRANSLATED_FIELDS
from services.product import (
    ProductError,
    ProductView,
    VariantSpec,
    create_product,
    get_product,
    list_products,
    translate_product,
    update_product,
)
from services.review import Rating, product_ratings
from services.role import Role
from services.validation import number

log = logging.getLogger(__name__)
router = Router(name="product")


# the examples in the usage messages (not translated: the keywords are literal)
PRODUCT_USAGE = "Oolong gift box | 35.90 CNY | stock 100 | telegram"


@router.message(Command("product_add"), PRIVATE, RoleFilter(Role.STAFF, "product.create"))
async def product_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Callable[[], datetime],
) -> None:
    """Creates a product from one line: title | price currency | stock N | offline/telegram
    | variants NAME=PRICE:STOCK, ... (or 规格 ...)
    (with `!!anyway reason` at the end when the lint finds something in the title)."""
    args, reason = split_override(command.args or "")
    line = _parse_product_line(args, member.locale, settings)
    if isinstance(line, str):
        await message.answer(line)
        return
    title, variants = line.title, line.variants
    cleared = await clear_command(
        message,
        [title, *(variant.name for variant in variants)],
        extra_words=settings.compliance_extra_words,
        reason=reason,
    )
    if cleared is None:
        return
    try:
        product = await create_product(
            session,
            title=title,
            price=line.price,
            currency=line.currency,
            stock=line.stock,
            payment_mode=line.mode,
            created_by=member.id,
            variants=variants,
        )
    except ProductError as exc:
        await message.answer(product_error_text(exc))
        return
    await cleared.audit(
        session, actor_id=member.id, action="product.create", what=f"#{product.id}", now=clock()
    )
    created = _("Product #{id} created: {title}, {price}.").format(
        id=product.id,
        title=f"<b>{esc_name(product.title)}</b>",
        price=format_money(product.price, product.currency, member.locale),
    )
    await message.answer("\n".join([created, *variant_lines(product, member.locale)]))


@dataclass(frozen=True)
class _ProductLine:
    """What /product_add's line says: title | price currency | stock N | mode | variants."""

    title: str
    price: int
    currency: str
    stock: int | None
    mode: str
    variants: list[VariantSpec]


def _parse_product_line(args: str, locale: str, settings: HandlerSettings) -> _ProductLine | str:
    """/product_add's line as a product, or the answer that says what is wrong with it."""
    parts = [part.strip() for part in args.replace("｜", "|").split("|")]
    usage = _("Send it in one line, for example:\n/product_add {example}").format(
        example=esc(PRODUCT_USAGE)
    )
    if len(parts) < 2 or not parts[0]:
        return usage
    title, price_text, *options = parts
    words = price_text.split()
    if len(words) != 2:
        return usage
    try:
        currency = parse_currency(words[1])
        price = parse_amount(words[0], currency, locale=locale, ceiling=settings.max_order_amount)
    except InvalidAmount as exc:
        return amount_error(exc.reason)
    stock: int | None = None
    mode = PAYMENT_OFFLINE
    variants: list[VariantSpec] = []
    for option in options:
        lowered = option.lower()
        typed_variants = variants_text(option)
        if typed_variants is not None:
            try:
                read = parse_variants(
                    typed_variants,
                    currency,
                    locale=locale,
                    ceiling=settings.max_order_amount,
                    max_stock=MAX_STOCK,
                )
            except VariantUnreadable as exc:
                return variant_unreadable_text(exc)
            if not read:
                return variant_unreadable_text(VariantUnreadable("shape", ""))
            variants = [VariantSpec(v.name, v.price, v.stock) for v in read]
        elif lowered.startswith("stock"):
            typed = number(lowered.removeprefix("stock").strip(), prefix="")
            if typed is None or typed > MAX_STOCK:
                return _("Stock must be a whole number, like: stock 100")
            stock = typed
        elif lowered in (PAYMENT_OFFLINE, PAYMENT_TELEGRAM):
            mode = lowered
        else:
            return usage
    refused = _payments_refusal(mode, currency, settings)
    if refused is not None:
        return refused
    if variants and stock is not None:
        return _("A product with variants has a stock per variant: leave out “stock N”.")
    return _ProductLine(title, price, currency, stock, mode, variants)


PRODUCT_CARDS = 5  # products on a page of /products: one card each, a phone screen or two


async def send_product_cards(
    target: Message, session: AsyncSession, locale: str, offset: int
) -> None:
    """A page of the products on sale, one card each (the photo with the card as its caption,
    or a message for a product without one), then a line that counts them, says how to order,
    and has Back / More when there are other pages."""
    page = await list_products(session, limit=PRODUCT_CARDS, offset=offset)
    if not page.total:
        await target.answer(_("There are no products on sale yet."))
        return
    ratings = await product_ratings(session, [product.id for product in page.items])
    for product in page.items:
        await _send_card(target, product, locale, ratings.get(product.id))
    await target.answer(
        _("Products on sale: {counter}. Order with /buy ID QUANTITY.").format(
            counter=page_counter(page)
        ),
        reply_markup=with_page_row(None, "products", page, PRODUCT_CARDS),
    )


async def _send_card(
    target: Message, product: ProductView, locale: str, rating: Rating | None = None
) -> None:
    """One product's card, with its rating and a Reviews button once it has approved reviews."""
    line = rating_line(rating.count, rating.stars, locale) if rating else ""
    markup = (
        InlineKeyboardMarkup(inline_keyboard=[[reviews_button(product.id, rating.count)]])
        if rating
        else None
    )
    if product.photo is not None:
        try:
            await target.answer_photo(
                product.photo.file_id,
                caption=product_card(product, locale, caption=True, rating=line),
                reply_markup=markup,
            )
            return
        except TelegramBadRequest as exc:  # a file id this bot cannot send (another token)
            log.warning("product %s: photo refused (%s), shown as text", product.id, exc)
    await target.answer(
        product_card(product, locale, caption=False, rating=line), reply_markup=markup
    )


@router.message(Command("products"))
async def products(message: Message, session: AsyncSession, locale: str) -> None:
    """Shows the products on sale a page at a time, each with its photo and description."""
    await send_product_cards(message, session, locale, 0)


@router.callback_query(PageCallback.filter(F.name == "products"))
async def products_more(
    query: CallbackQuery, callback_data: PageCallback, session: AsyncSession, locale: str
) -> None:
    """More or Back under /products: that page's cards follow as new messages."""
    await query.answer()
    if await turn_card_page(query.message):
        assert isinstance(query.message, Message)
        await send_product_cards(query.message, session, locale, callback_data.offset)


async def _named_product(
    message: Message, session: AsyncSession, product_id: int, typed: str
) -> ProductView | None:
    """The product a staff command names; else None, and the answer says there is none."""
    product = await get_product(session, product_id)
    if product is None:
        await message.answer(
            _("There is no product #{id}. Send /products to see them.").format(id=esc(typed))
        )
    return product


PRODUCT_FIELDS = {
    "title": "title",
    "price": "price",
    "stock": "stock",
    "mode": "payment_mode",
    "delivery": "fulfilment",
    "active": "active",
    "description": "description",
}


@router.message(Command("product_set"), PRIVATE, RoleFilter(Role.STAFF, "product.edit"))
async def product_set(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Callable[[], datetime],
) -> None:
    """Edits one field: /product_set ID price 32.90 | stock 50 | title ... | mode telegram (a
    title or description linted; `!!anyway reason` at the end goes ahead despite findings)."""
    args, reason = split_override(command.args or "")
    words = args.split(maxsplit=2)
    usage = _(
        "Send /product_set ID FIELD VALUE, where FIELD is title, description, price, stock "
        "(a number or none), mode (offline or telegram), delivery (pickup, delivery or both) "
        "or active (on or off)."
    )
    product_id = number(words[0]) if len(words) == 3 else None
    if product_id is None or words[1] not in PRODUCT_FIELDS:
        await message.answer(usage)
        return
    product = await _named_product(message, session, product_id, words[0])
    if product is None:
        return
    field, text = PRODUCT_FIELDS[words[1]], words[2].strip()
    cleared = await clear_command(
        message,
        [text] if field in ("title", "description") else [],
        extra_words=settings.compliance_extra_words,
        reason=reason,
    )
    if cleared is None:
        return
    try:
        value = _field_value(field, text, product, member.locale, settings, usage)
        if isinstance(value, _Refusal):
            await message.answer(value.text)
            return
        updated = await update_product(session, product_id=product.id, field=field, value=value)
    except InvalidAmount as exc:
        await message.answer(amount_error(exc.reason))
        return
    except ProductError:
        await message.answer(usage)
        return
    await cleared.audit(
        session, actor_id=member.id, action="product.edit", what=f"#{updated.id}", now=clock()
    )
    stock = _("no limit") if updated.stock is None else str(updated.stock)
    await message.answer(
        _("Product #{id} saved: {title}, {price}, stock {stock}.").format(
            id=updated.id,
            title=f"<b>{esc_name(updated.title)}</b>",
            price=format_money(updated.price, updated.currency, member.locale),
            stock=stock,
        )
    )


@dataclass(frozen=True)
class _Refusal:
    """Why a value typed for /product_set cannot be saved, as the answer says it."""

    text: str


def _field_value(
    field: str,
    text: str,
    product: ProductView,
    locale: str,
    settings: HandlerSettings,
    usage: str,
) -> object:
    """The value typed for the field, as the product keeps it, or a _Refusal; a price that
    cannot be read raises InvalidAmount."""
    value: object = text
    if field == "price":
        value = parse_amount(
            text, product.currency, locale=locale, ceiling=settings.max_order_amount
        )
    elif field == "stock":
        if text.lower() == "none":
            value = None
        elif (typed_stock := number(text, prefix="")) is not None and typed_stock <= MAX_STOCK:
            value = typed_stock
        else:
            return _Refusal(_("Stock must be a whole number, like: stock 100"))
    elif field == "active":
        if text.lower() not in ("on", "off"):
            return _Refusal(usage)
        value = text.lower() == "on"
    elif field == "fulfilment":
        value = text.lower()
        if value not in FULFILMENT_MODES:
            return _Refusal(usage)
    elif field == "payment_mode":
        value = text.lower()
        refused = _payments_refusal(value, product.currency, settings)
        if refused is not None:
            return _Refusal(refused)
    return value


def _payments_refusal(mode: str, currency: str, settings: HandlerSettings) -> str | None:
    """Why a product in this currency cannot be paid in Telegram (no provider token for a
    currency other than Stars), or None when it can (or is paid offline)."""
    if mode == PAYMENT_TELEGRAM and currency != STARS and settings.provider_token is None:
        return _(
            "Telegram payments in {currency} need PAYMENT_PROVIDER_TOKEN in the bot's "
            "settings. Use XTR (Telegram Stars) or offline payment instead."
        ).format(currency=currency)
    return None


def _language(word: str) -> str | None:
    """The bot's language a staff member typed: en, zh_Hans or zh_Hant, in any case, with _ or
    -."""
    wanted = word.replace("-", "_").lower()
    return next((locale for locale in LOCALES if locale.lower() == wanted), None)


@router.message(Command("product_translate"), PRIVATE, RoleFilter(Role.STAFF, "product.translate"))
async def product_translate(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Callable[[], datetime],
) -> None:
    """Adds, replaces or removes a product's title and description in one language:
    /product_translate ID LANGUAGE Title | Description (or none), linted (`!!anyway reason`
    at the end goes ahead despite findings)."""
    args, reason = split_override(command.args or "")
    words = args.split(maxsplit=2)
    usage = _(
        "Send /product_translate ID LANGUAGE Title | Description, where LANGUAGE is en, "
        "zh_Hans or zh_Hant (the description may be left out), or /product_translate ID "
        "LANGUAGE none to remove that language."
    )
    product_id = number(words[0]) if words else None
    if product_id is None:
        await message.answer(usage)
        return
    product = await _named_product(message, session, product_id, words[0])
    if product is None:
        return
    locale = _language(words[1]) if len(words) > 1 else None
    if locale is None or len(words) < 3:
        shown = [f"<b>#{product.id} {esc_name(product.title)}</b>"]
        shown += preview_lines(product.translations, TRANSLATED_FIELDS)
        await message.answer("\n".join([*shown, "", usage]))
        return
    title, _sep, description = words[2].partition("|")
    if title.strip().lower() == "none" and not description.strip():
        title = ""
    cleared = await clear_command(
        message,
        [title.strip(), description.strip()],
        extra_words=settings.compliance_extra_words,
        reason=reason,
    )
    if cleared is None:
        return
    try:
        updated = await translate_product(
            session,
            product_id=product.id,
            locale=locale,
            title=title.strip(),
            description=description.strip(),
        )
    except ContentError:
        await message.answer(
            _("The title can be at most 128 characters and the description 1024.") + "\n\n" + usage
        )
        return
    await cleared.audit(
        session,
        actor_id=member.id,
        action="product.translate",
        what=f"#{updated.id} {locale}",
        now=clock(),
    )
    if not title:
        text = _(
            "Product #{id} has no {language} text any more: readers of {language} see it in "
            "the brand's language."
        ).format(id=updated.id, language=language_name(locale))
    else:
        text = _("Product #{id} in {language} saved: {title}.").format(
            id=updated.id,
            language=language_name(locale),
            title=f"<b>{esc(updated.in_language(locale, locale).title)}</b>",
        )
    await message.answer(text)
