"""Reviews as people see them: a product's rating line, the Reviews button, a review's text
(in the queue, in the product's reviews and in the group post), its photos as an album."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InputMediaPhoto, InputMediaVideo
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from babel.numbers import format_decimal, format_percent

from handlers.text import CAPTION_LIMIT, CallbackId, esc, esc_name, shorten
from models.perks import MEDIA_PHOTO
from services.review import ReviewStats, ReviewView


class ReviewsCallback(CallbackData, prefix="rv"):
    """The Reviews button under a product or a group-buy card: its latest approved reviews."""

    product_id: CallbackId


def rating_line(count: int, stars: int, locale: str) -> str:
    """⭐ 4.5 (3 reviews): a product's approved reviews; empty when it has none."""
    if not count:
        return ""
    average = format_decimal(round(stars / count, 1), format="0.0", locale=locale)
    return "⭐ " + ngettext("{average} ({n} review)", "{average} ({n} reviews)", count).format(
        average=average, n=count
    )


def reviews_button(product_id: int, count: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=_("⭐ Reviews ({n})").format(n=count),
        callback_data=ReviewsCallback(product_id=product_id).pack(),
    )


def review_text(review: ReviewView, *, with_author: bool = True) -> str:
    """The stars, the product and the member's words (escaped), within a caption's length."""
    head = "⭐" * review.rating + f" <b>{esc_name(review.title)}</b>"
    if with_author:
        head += " · " + esc(review.member_name)
    if review.trial:  # every post of an ambassador's review says the product was free
        head += "\n" + _("🎁 Received free as a product trial")
    words = shorten(review.comment, CAPTION_LIMIT - 200) if review.comment else ""
    return f"{head}\n{esc(words)}" if words else head


def album(review: ReviewView, caption: str) -> list[InputMediaPhoto | InputMediaVideo]:
    """The review's photos (and video) as one media group, the caption on the first."""
    media: list[InputMediaPhoto | InputMediaVideo] = []
    for kind, file_id in review.media:
        first = not media
        item_caption = caption if first else None
        if kind == MEDIA_PHOTO:
            media.append(InputMediaPhoto(media=file_id, caption=item_caption))
        else:
            media.append(InputMediaVideo(media=file_id, caption=item_caption))
    return media


def stats_line(stats: ReviewStats, locale: str) -> str:
    """/stats: the review rate of orders picked up, and the approved reviews' rating."""
    rate = (
        format_percent(stats.reviewed / stats.picked_up, "#,##0.#%", locale=locale)
        if stats.picked_up
        else "—"
    )
    rating = rating_line(stats.approved, stats.stars, locale) or "—"
    return ngettext(
        "Reviews: {reviewed} of {n} order picked up ({rate}); approved: {rating}",
        "Reviews: {reviewed} of {n} orders picked up ({rate}); approved: {rating}",
        stats.picked_up,
    ).format(reviewed=stats.reviewed, n=stats.picked_up, rate=rate, rating=rating)
