"""A product as members see it: its card in /products (the photo with the card as caption),
and the public address of its photo for a Telegram invoice (served by bot/photos.py)."""

from __future__ import annotations

import hashlib

from aiogram.utils.i18n import gettext as _

from handlers.text import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    default_locale,
    esc,
    esc_name,
    format_money,
    shorten,
    visible_length,
)
from services.product import ProductPhoto, ProductView

PHOTO_PATH = "/photos"  # under the dashboard's address: /dashboard/photos/<id>-<tag>.jpg


def product_card(product: ProductView, locale: str, *, caption: bool, rating: str = "") -> str:
    """The product's card: number and name, price and stock, then its description (whole in a
    message; as a photo's caption, shortened to fit Telegram's 1024 characters), in the
    reader's language when the product is given in it."""
    product = product.in_language(locale, default_locale())
    details = format_money(product.price, product.currency, locale)
    if product.stock is not None:
        details += " · " + _("{count} left").format(count=product.stock)
    lines = [f"<b>#{product.id} {esc_name(product.title)}</b>", details]
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
