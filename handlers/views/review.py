"""Reviews as people see them: a product's rating line, the Reviews button, a review's text
(in the queue, in the product's reviews and in the group post), its photos as an album."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal, format_percent

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.perks import points_text
from handlers.views.text import CAPTION_LIMIT, N_, CallbackId, esc, esc_name, sentences, shorten
from models.review import MEDIA_PHOTO
from services.review import Moderation, ModerationRefusal, ReviewStats, ReviewView


class ReviewsCallback(CallbackData, prefix="rv"):
    """The Reviews button under a product or a group-buy card: its latest approved reviews."""

    product_id: CallbackId


def stars_row(callback: Callable[[int], CallbackData]) -> InlineKeyboardMarkup:
    """Five buttons in one row, 1⭐ to 5⭐, each with `callback(stars)`: how a member rates an
    order or a trial."""
    builder = InlineKeyboardBuilder()
    for stars in range(1, 6):
        builder.button(text=f"{stars}⭐", callback_data=callback(stars))
    builder.adjust(5)
    return builder.as_markup()


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


MODERATION_ERRORS: dict[str, str] = {
    ModerationRefusal.NOT_FOUND: N_("There is no such review."),
    ModerationRefusal.NOT_ALLOWED: N_(
        "Sorry, only brand staff or the leader of that group can moderate it."
    ),
    ModerationRefusal.DECIDED: N_("That review was already approved or rejected."),
    ModerationRefusal.NOT_APPROVED: N_("Only an approved review can be shared."),
    ModerationRefusal.NO_GROUP: N_(
        "The group of that order is not open, so the review cannot be posted there."
    ),
    ModerationRefusal.SHARED: N_("That review is already in your group."),
}


def moderation_notice(
    i18n: I18n, done: Moderation, *, approve: bool, note: str = ""
) -> tuple[str, InlineKeyboardMarkup | None]:
    """What the author is told of the decision, in their language: approved (with the photo
    reward and the offer to share it), or not shown, with the moderator's reason if given."""
    review = done.review
    with i18n.use_locale(done.member_locale):
        if approve:
            text = _("Your review of {title} is approved and shows on the product.").format(
                title=esc(review.title)
            )
            if done.points:
                text = sentences(
                    text,
                    _("Your photos earned you {points}.").format(
                        points=points_text(done.points, done.member_locale)
                    ),
                )
            text = sentences(
                text, _("Would you like me to post it in your group? Only if you tap below.")
            )
            return text, _share_keyboard(review.order_id)
        text = _("Thank you for your review of {title}. This time it will not be shown.").format(
            title=esc(review.title)
        )
        if note:
            text = sentences(text, _("The reason: {reason}").format(reason=esc(note)))
        return text, None


class ReviewAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SHARE = "share"  # its author shares it


class ReviewCallback(CallbackData, prefix="rvw"):
    """A button under a review: approve, reject (moderators), share (its author)."""

    action: ReviewAction
    order_id: CallbackId


def _share_keyboard(order_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("📣 Share it in my group"),
        callback_data=ReviewCallback(action=ReviewAction.SHARE, order_id=order_id),
    )
    return builder.as_markup()
