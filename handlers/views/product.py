"""A product as members see it: its card in /products (the photo with the card as caption),
and the public address of its photo for a Telegram invoice (served by bot/web/photos.py).
Also how staff's typed product values are refused (amounts, titles, variants), shared by
/newproduct, the product wizard and every command that takes an amount."""

from __future__ import annotations

import hashlib
import unicodedata

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from handlers.views.text import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    N_,
    default_locale,
    esc,
    esc_name,
    format_money,
    shorten,
    visible_length,
)
from services.money import AmountRefusal
from services.parsing import VariantUnreadable
from services.product import ProductError, ProductPhoto, ProductRefusal, ProductView, VariantView

PHOTO_PATH = "/photos"  # under the dashboard's address: /dashboard/photos/<id>-<tag>.jpg


def product_card(product: ProductView, locale: str, *, caption: bool, rating: str = "") -> str:
    """The product's card: number and name, price and stock, then its description (whole in a
    message; as a photo's caption, shortened to fit Telegram's 1024 characters), in the
    reader's language when the product is given in it."""
    product = product.in_language(locale, default_locale())
    details = format_money(product.price, product.currency, locale)
    if product.stock is not None and not product.variants:  # else each variant has its own
        details += " · " + _("{count} left").format(count=product.stock)
    lines = [f"<b>#{product.id} {esc_name(product.title)}</b>"]
    lines += variant_lines(product, locale) if product.variants else [details]
    if rating:  # the product's approved reviews (handlers.views.review.rating_line)
        lines.append(rating)
    head = "\n".join(lines)
    room = (CAPTION_LIMIT if caption else MESSAGE_LIMIT) - visible_length(head) - 1
    description = shorten(product.description, room, one_paragraph=False)
    return f"{head}\n{esc(description)}" if description else head


def photo_tag(file_id: str) -> str:
    """A short tag of the photo in its address: another photo gets another address (so no
    cached copy of the old one is shown), and an address cannot be guessed from an id."""
    return hashlib.sha256(file_id.encode()).hexdigest()[:16]


def photo_url(base: str | None, product_id: int, photo: ProductPhoto | None) -> str | None:
    """Where Telegram can fetch the product's photo for an invoice: under the bot's public
    web address; None when the product has no photo or the bot has no public address."""
    if base is None or photo is None:
        return None
    return f"{base}{PHOTO_PATH}/{product_id}-{photo_tag(photo.file_id)}.jpg"


def variant_label(variant: VariantView, currency: str, locale: str) -> str:
    """A variant as one short line (plain text, for a button too): name, price, stock."""
    text = f"{variant.name} · {format_money(variant.price, currency, locale)}"
    if variant.stock is not None:
        text += " · " + (
            _("{count} left").format(count=variant.stock) if variant.stock else _("sold out")
        )
    return text


def variant_lines(product: ProductView, locale: str) -> list[str]:
    """The product's variants, one escaped line each."""
    return [f"• {esc(variant_label(v, product.currency, locale))}" for v in product.variants]


def find_variant(product: ProductView, name: str) -> VariantView | None:
    """The product's variant called `name` (whatever its case, full-width forms as ASCII)."""
    wanted = " ".join(unicodedata.normalize("NFKC", name).split()).casefold()
    if not wanted:
        return None
    for variant in product.variants:
        if unicodedata.normalize("NFKC", variant.name).casefold() == wanted:
            return variant
    return None


def choose_variant_text(product: ProductView, typed: str, locale: str) -> str:
    """/buy of a product with variants without (or with an unknown) variant: which there are
    and how to order one."""
    head = (
        _("Product #{id} has no variant “{name}”.").format(id=product.id, name=esc_name(typed))
        if typed
        else _("Product #{id} comes in several variants: say which one.").format(id=product.id)
    )
    example = _("For example: /buy {id} {variant} 2").format(
        id=product.id, variant=esc_name(product.variants[0].name)
    )
    return "\n".join([head, *variant_lines(product, locale), example])


MAX_STOCK = 999_999_999  # nine digits: any more is a typo


AMOUNT_ERRORS: dict[str, str] = {
    AmountRefusal.NOT_A_NUMBER: N_("The amount must be a number, like 35.90."),
    AmountRefusal.NOT_POSITIVE: N_("The amount must be more than zero."),
    AmountRefusal.TOO_PRECISE: N_("That currency does not have so many decimal places."),
    AmountRefusal.TOO_LARGE: N_("That amount is above the allowed maximum."),
    AmountRefusal.CURRENCY: N_(
        "Use a currency code such as CNY, HKD, TWD, USD, or XTR for Telegram Stars."
    ),
}


def amount_error(reason: str) -> str:
    """What to fix in an amount someone typed."""
    return _(AMOUNT_ERRORS.get(reason, AMOUNT_ERRORS[AmountRefusal.NOT_A_NUMBER]))


VARIANTS_EXAMPLE = "variants 100g=35.90:50, 250g=79.00:20"


def variant_unreadable_text(exc: VariantUnreadable) -> str:
    """What to fix in the variants of a one-line product, naming the item."""
    example = _("Write each variant as NAME=PRICE:STOCK, for example: {example}").format(
        example=esc(VARIANTS_EXAMPLE)
    )
    if exc.kind == "price":
        head = _("The price of “{item}” is not right.").format(item=esc_name(exc.part))
        return f"{head} {amount_error(exc.reason)}\n{example}"
    if exc.kind == "stock":
        head = _("“{item}” needs its stock after a colon, a whole number.").format(
            item=esc_name(exc.part)
        )
        return f"{head}\n{example}"
    if exc.part:
        head = _("I cannot read the variant “{item}”.").format(item=esc_name(exc.part))
        return f"{head}\n{example}"
    return example


# why a product (or its variants) was not created; {name}: the variant's name
VARIANT_ERRORS: dict[str, str] = {
    ProductRefusal.VARIANT_TAKEN: N_(
        "Two variants are called “{name}” (names count as the same whatever their case). "
        "Give each variant its own name."
    ),
    ProductRefusal.VARIANT_NAME: N_("A variant's name must be 1-64 characters."),
    ProductRefusal.VARIANT_PRICE: N_("The price of “{name}” must be more than zero."),
    ProductRefusal.VARIANT_STOCK: N_("The stock of “{name}” must be zero or more."),
}


BAD_TITLE = N_("The title must be 1-128 characters.")


def product_error_text(exc: ProductError) -> str:
    """Why a product (or its variants) was not created, naming the variant."""
    template = VARIANT_ERRORS.get(exc.reason)
    if template is None:
        return too_many_variants(exc)
    return _(template).format(name=esc_name(exc.detail))


def too_many_variants(exc: ProductError) -> str:
    """The refusal of more variants than a product may have (else of a bad title)."""
    if exc.reason != ProductRefusal.TOO_MANY_VARIANTS:
        return _(BAD_TITLE)
    limit = int(exc.detail)
    return ngettext(
        "A product has at most {count} variant.", "A product has at most {count} variants.", limit
    ).format(count=limit)
