"""Reviews and 晒单: photos and a short video sent in private after /review, the moderation
queue (/reviews, for staff and for leaders of their groups), the member's consent to share an
approved review to their group, a product's latest reviews (the Reviews button), and staff's
/points_grant for prizes and 晒单 campaigns."""

from __future__ import annotations

import logging
from functools import partial

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.transactions import UnitOfWork
from handlers.filters import PRIVATE, RoleFilter, current_role, refusal_text
from handlers.views.member import named_member
from handlers.views.perks import points_text
from handlers.views.review import (
    MODERATION_ERRORS,
    ReviewAction,
    ReviewCallback,
    ReviewsCallback,
    album,
    moderation_notice,
    review_text,
)
from handlers.views.staff_card import decision_keyboard
from handlers.views.text import N_, HandlerSettings, esc
from handlers.views.wizard import Draft, read_draft, save_draft
from models.base import Clock
from models.review import MEDIA_PHOTO, MEDIA_VIDEO, REVIEW_MAX_PHOTOS
from services.audit import record_action
from services.community import get_community
from services.member import MemberView
from services.points import MAX_POINTS, PointsError, grant_by_staff
from services.review import (
    NOTE_MAX,
    Moderation,
    ModerationError,
    ReviewMediaError,
    ReviewMediaRefusal,
    ReviewView,
    attach_media,
    has_pending_review,
    latest_reviews,
    moderate,
    pending_reviews,
    share_review,
)
from services.role import Role
from services.validation import number

log = logging.getLogger(__name__)
router = Router(name="review")
VIDEO_SECONDS = 60  # a review's video is short

MEDIA_ERRORS: dict[str, str] = {
    ReviewMediaRefusal.TOO_MANY_PHOTOS: N_(
        "Your review already has 5 photos, the most it can carry."
    ),
    ReviewMediaRefusal.TOO_MANY_VIDEOS: N_(
        "Your review already has a video; one is the most it can carry."
    ),
    "not_image": N_(
        "That file is not an image. A review takes photos (up to 5) and one short video."
    ),
    "as_file": N_("Send the picture as a photo, not as a file, and it goes with your review."),
    "too_long": N_("The video is too long: a review takes one video of at most 60 seconds."),
}


class RejectReview(StatesGroup):
    """A moderator tapped Reject: the next message is the reason the member reads."""

    reason = State()


class RejectReviewDraft(Draft):
    """The rejection's draft: the review (by its order) the reason is for."""

    reject_order: int = 0  # 0: none (Reject sets it before the reason is asked)


def _queue_keyboard(order_id: int) -> InlineKeyboardMarkup:
    return decision_keyboard(
        _("✅ Approve"),
        ReviewCallback(action=ReviewAction.APPROVE, order_id=order_id),
        _("✖️ Reject"),
        ReviewCallback(action=ReviewAction.REJECT, order_id=order_id),
    )


async def _send_review(
    bot: Bot,
    chat_id: int,
    review: ReviewView,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """The review as an album with the text as its caption (then the buttons, which an album
    cannot carry), or as one message when it has no photos."""
    if len(review.media) == 1:  # an album takes 2 to 10 items: one goes on its own
        kind, file_id = review.media[0]
        if kind == MEDIA_PHOTO:
            await bot.send_photo(chat_id, file_id, caption=text, reply_markup=markup)
        else:
            await bot.send_video(chat_id, file_id, caption=text, reply_markup=markup)
        return
    if review.media:
        await bot.send_media_group(chat_id, list(album(review, text)))
        if markup is not None:
            label = _("Review of order #{id}").format(id=review.order_id)
            await bot.send_message(chat_id, label, reply_markup=markup)
        return
    await bot.send_message(chat_id, text, reply_markup=markup)


@router.message(PRIVATE, StateFilter(None), F.photo | F.video)
async def review_media(
    message: Message, session: AsyncSession, member: MemberView, clock: Clock
) -> None:
    """A photo or a video in private goes with the member's review waiting for moderation."""
    kind = MEDIA_PHOTO if message.photo else MEDIA_VIDEO
    if message.video is not None and message.video.duration > VIDEO_SECONDS:
        if not await has_pending_review(session, member.id):
            raise SkipHandler
        await message.answer(_(MEDIA_ERRORS["too_long"]))
        return
    file_id = message.photo[-1].file_id if message.photo else message.video.file_id  # type: ignore[union-attr]
    try:
        added = await attach_media(
            session, member_id=member.id, kind=kind, file_id=file_id, now=clock()
        )
    except ReviewMediaError as exc:
        if exc.reason == ReviewMediaRefusal.NO_REVIEW:
            raise SkipHandler from None
        await message.answer(_(MEDIA_ERRORS[exc.reason]))
        return
    if kind == MEDIA_VIDEO:
        text = _(
            "Video added to your review of order #{id}. It shows once the brand approves it."
        ).format(id=added.order_id)
    else:
        text = _(
            "Added to your review of order #{id} (photos: {photos}/{most}). It shows once "
            "the brand approves it."
        ).format(id=added.order_id, photos=added.photos, most=REVIEW_MAX_PHOTOS)
    await message.answer(text)


@router.message(PRIVATE, StateFilter(None), F.document)
async def review_document(message: Message, session: AsyncSession, member: MemberView) -> None:
    """A file sent while a review waits: refused clearly (a non-image, or an image as a file)."""
    if not await has_pending_review(session, member.id):
        raise SkipHandler
    mime = (message.document.mime_type or "") if message.document else ""
    await message.answer(_(MEDIA_ERRORS["as_file" if mime.startswith("image/") else "not_image"]))


@router.message(Command("reviews"), PRIVATE)
async def reviews_queue(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Reviews waiting for moderation, oldest first, each with Approve and Reject."""
    try:
        staff = await current_role(bot, session, settings, member, None) >= Role.STAFF
        waiting, total = await pending_reviews(session, moderator_id=member.id, staff=staff)
        allowed = True
    except ModerationError:
        waiting, total, allowed = [], 0, False
    await record_action(
        session,
        actor_id=member.id,
        chat_id=None,
        action="review.list",
        allowed=allowed,
        now=clock(),
    )
    if not allowed:
        # neither staff nor a leader: the polite refusal every leader command gives, audited
        await message.answer(
            refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
        return
    if not waiting:
        await message.answer(_("No reviews are waiting for moderation."))
        return
    await message.answer(_("Reviews waiting: {total}. The oldest come first.").format(total=total))
    for review in waiting:
        text = _("Order #{id}").format(id=review.order_id) + "\n" + review_text(review)
        keyboard = _queue_keyboard(review.order_id)
        try:
            await _send_review(bot, message.chat.id, review, text, keyboard)
        except TelegramBadRequest as exc:  # a file Telegram no longer serves: words only
            log.warning("review %s: media refused (%s), shown as text", review.order_id, exc)
            await message.answer(text, reply_markup=keyboard)


@router.callback_query(ReviewCallback.filter(F.action == ReviewAction.APPROVE))
async def approve_button(
    query: CallbackQuery,
    callback_data: ReviewCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    after_commit: UnitOfWork,
) -> None:
    """Approve under a review: decided once; the author hears, and may share it."""
    done = await _decide(
        bot, session, member, settings, clock, callback_data.order_id, approve=True, note=""
    )
    if isinstance(done, str):
        await query.answer(done, show_alert=True)
        return
    after_commit.add(
        partial(query.answer, _("Review #{id} approved.").format(id=done.review.order_id))
    )
    _tell_after_commit(after_commit, bot, i18n, done, approve=True, note="")


@router.callback_query(ReviewCallback.filter(F.action == ReviewAction.REJECT))
async def reject_button(
    query: CallbackQuery, callback_data: ReviewCallback, state: FSMContext
) -> None:
    """Reject under a review: asks the reason first (the member reads it, as on the
    dashboard); nothing is decided until it comes."""
    await state.set_state(RejectReview.reason)
    await save_draft(state, RejectReviewDraft(reject_order=callback_data.order_id))
    await query.answer()
    if query.message is not None:
        await query.message.answer(
            _(
                "Why is review #{id} rejected? Write the reason in one message: the member "
                "reads it. /cancel keeps the review waiting."
            ).format(id=callback_data.order_id)
        )


@router.message(RejectReview.reason, PRIVATE, F.text, ~F.text.startswith("/"))
async def reject_reason(
    message: Message,
    state: FSMContext,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    after_commit: UnitOfWork,
) -> None:
    """The reason of a rejection: the review is rejected with it, and the author told why."""
    note = " ".join((message.text or "").split())[:NOTE_MAX]
    order_id = (await read_draft(state, RejectReviewDraft)).reject_order
    await state.clear()
    done = await _decide(bot, session, member, settings, clock, order_id, approve=False, note=note)
    if isinstance(done, str):
        await message.answer(done)
        return
    await message.answer(
        _("Review #{id} rejected. The member was told why.").format(id=done.review.order_id)
    )
    _tell_after_commit(after_commit, bot, i18n, done, approve=False, note=note)


async def _decide(
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    order_id: int,
    *,
    approve: bool,
    note: str,
) -> Moderation | str:
    """Approves or rejects a review, decided once; the refusal's words when it cannot be."""
    try:
        return await moderate(
            session,
            order_id=order_id,
            moderator_id=member.id,
            staff=await current_role(bot, session, settings, member, None) >= Role.STAFF,
            approve=approve,
            photo_points=settings.review_photo_points,
            now=clock(),
            note=note,
        )
    except ModerationError as exc:
        return _(MODERATION_ERRORS[exc.reason])


def _tell_after_commit(
    after_commit: UnitOfWork, bot: Bot, i18n: I18n, done: Moderation, *, approve: bool, note: str
) -> None:
    """The author hears of the decision once it committed (if they ever started the bot)."""
    if not done.member_started:
        return
    text, markup = moderation_notice(i18n, done, approve=approve, note=note)
    after_commit.add(partial(_tell, bot, done.review.member_id, text, markup))


async def _tell(bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await bot.send_message(chat_id, text, reply_markup=markup)
    except TelegramAPIError as exc:
        log.info("could not tell member %s about their review: %s", chat_id, exc)


@router.callback_query(ReviewCallback.filter(F.action == ReviewAction.SHARE))
async def share_button(
    query: CallbackQuery,
    callback_data: ReviewCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    after_commit: UnitOfWork,
) -> None:
    """The author consents: the bot posts their approved review in their group, as content."""
    try:
        review = await share_review(
            session, order_id=callback_data.order_id, member_id=member.id, now=clock()
        )
    except ModerationError as exc:
        await query.answer(_(MODERATION_ERRORS[exc.reason]), show_alert=True)
        return
    after_commit.add(partial(query.answer, _("Posted in your group. Thank you for sharing!")))
    # content, not a promotion: no price, no buy link, never counted against the weekly cap
    # (the text is made here, in the group's language: the post is sent after the update)
    group = await get_community(session, review.chat_id)
    with i18n.use_locale(group.locale if group is not None else member.locale):
        head = _("📸 A member's review")
        text = f"{head}\n{review_text(review)}"
    after_commit.add(partial(_post_to_group, bot, review, text))


async def _post_to_group(bot: Bot, review: ReviewView, text: str) -> None:
    try:
        await _send_review(bot, review.chat_id, review, text)
    except TelegramAPIError as exc:
        log.warning("review %s not posted to %s: %s", review.order_id, review.chat_id, exc)


@router.callback_query(ReviewsCallback.filter())
async def reviews_of_product(
    query: CallbackQuery,
    callback_data: ReviewsCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """The Reviews button: the product's latest approved reviews, sent in private (a group is
    not flooded with them)."""
    found = await latest_reviews(session, product_id=callback_data.product_id)
    if not found:
        await query.answer(_("No reviews yet."), show_alert=True)
        return
    if not member.started:
        await query.answer(
            _("Start a private chat with me first, and I will send you the reviews there."),
            show_alert=True,
        )
        return
    await query.answer(_("I sent you the latest reviews in private."))
    for review in found:
        try:
            await _send_review(bot, member.id, review, review_text(review))
        except TelegramAPIError as exc:
            log.info("reviews not sent to %s: %s", member.id, exc)
            return


POINTS_GRANT_USAGE = N_(
    "Send /points_grant @member N reason, for example /points_grant @mia 200 晒单 prize; a "
    "negative N takes points back."
)


@router.message(Command("points_grant"), PRIVATE, RoleFilter(Role.STAFF, "points.grant"))
async def points_grant(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    locale: str,
) -> None:
    """Staff give (or, with a negative number, take) a member's points with a reason; audited
    and booked in the ledger, never below zero."""
    words = (command.args or "").split(maxsplit=2)
    if len(words) < 3 or not words[2].strip():
        await message.answer(_(POINTS_GRANT_USAGE))
        return
    negative = words[1].startswith(("-", "−"))
    amount = number(words[1].lstrip("-−+").replace(",", ""), prefix="")
    if amount is None or amount == 0 or amount > MAX_POINTS:
        await message.answer(_(POINTS_GRANT_USAGE))
        return
    points = -amount if negative else amount
    target = await named_member(session, words[0], message.answer)
    if target is None:
        return
    reason = " ".join(words[2].split())
    now = clock()
    try:
        await grant_by_staff(
            session,
            member_id=target.id,
            points=points,
            reason=reason,
            staff_id=member.id,
            key=f"grant:{message.chat.id}:{message.message_id}",
            now=now,
        )
    except PointsError:
        await message.answer(
            _("{name} does not have {points} to take back.").format(
                name=esc(target.display_name), points=points_text(amount, locale)
            )
        )
        return
    await record_action(
        session,
        actor_id=member.id,
        chat_id=None,
        action="points.grant",
        allowed=True,
        now=now,
        detail=f"{points:+d} to {target.id}: {reason}",
    )
    text = (
        _("Granted {points} to {name}: {reason}")
        if points > 0
        else _("Took {points} from {name}: {reason}")
    )
    await message.answer(
        text.format(
            points=points_text(amount, locale), name=esc(target.display_name), reason=esc(reason)
        )
    )
