"""Loyalty in chat: the daily check-in (in private, in a group and its button), the
member's birthday and the review of a picked-up order."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, AsOneself, OpenGroup
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.perks import (
    REVIEW_ERRORS,
    REVIEW_USAGE,
    check_in_text,
    checkin_screen,
    member_check_in,
    photos_hint,
    points_text,
)
from handlers.views.text import HandlerSettings, esc, sentences
from models.base import Clock
from services.community import CommunityView, get_community
from services.loyalty import BirthdayError, ReviewError, parse_birthday, review_order, set_birthday
from services.member import MemberView
from services.tiers import standing
from services.validation import number

router = Router(name="loyalty")


class CheckInAction(StrEnum):
    IN = "in"


class CheckInCallback(CallbackData, prefix="ck"):
    """The check-in button under a group's check-in message."""

    action: CheckInAction = CheckInAction.IN


def check_in_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✅ Check in"), callback_data=CheckInCallback())
    return builder.as_markup()


@router.message(Command("checkin"), PRIVATE)
async def checkin_private(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Daily check-in in private, on the member's own day."""
    text, markup = await checkin_screen(session, member, settings, message.chat.id, clock())
    await message.answer(text, reply_markup=markup)


@router.message(Command("checkin"), GROUP, AsOneself(), OpenGroup())
async def checkin_group(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
) -> None:
    """Daily check-in in a group, on the group's day; the reply carries a button for others."""
    result = await member_check_in(session, member, message.chat.id, community, settings, clock())
    await message.reply(
        check_in_text(result, esc(member.display_name), locale), reply_markup=check_in_keyboard()
    )


@router.callback_query(
    CheckInCallback.filter(), F.message.chat.type != ChatType.PRIVATE, OpenGroup()
)
async def checkin_button(
    query: CallbackQuery,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    locale: str,
) -> None:
    """A member taps the group's check-in button: the answer is a toast, the chat stays quiet."""
    assert query.message is not None
    community = await get_community(session, query.message.chat.id)
    result = await member_check_in(
        session, member, query.message.chat.id, community, settings, clock()
    )
    await query.answer(check_in_text(result, member.display_name, locale)[:200], show_alert=False)


@router.message(Command("birthday"), PRIVATE)
async def birthday_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """Sets the member's birthday (month and day only): /birthday 03-14, or /birthday off."""
    value = (command.args or "").strip()
    place = await standing(session, member.id)
    gift = place.tier.birthday_points
    if not value:
        await message.answer(
            _(
                "Tell me your birthday as month and day, like /birthday 03-14 (never the year). "
                "On the day you get your tier's birthday gift. /birthday off forgets it."
            )
        )
        return
    if value.lower() in ("off", "clear", "none", "-", "删除", "刪除"):
        await set_birthday(session, member_id=member.id, birthday=None)
        await message.answer(_("Your birthday is forgotten."))
        return
    try:
        month, day = parse_birthday(value)
    except BirthdayError:
        await message.answer(
            _("{value} is not a month and day I can read. Try /birthday 03-14.").format(
                value=f"<code>{esc(value[:40])}</code>"
            )
        )
        return
    await set_birthday(session, member_id=member.id, birthday=(month, day))
    text = _("Saved: your birthday is {birthday}.").format(birthday=f"{month:02d}-{day:02d}")
    if gift:
        gift_text = _("Your tier's birthday gift is {points}.").format(
            points=points_text(gift, member.locale)
        )
        text = sentences(text, gift_text)
    await message.answer(text)


@router.message(Command("review"), PRIVATE)
async def review_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Reviews an order after pickup: /review ORDER STARS [words]."""
    words = (command.args or "").split(maxsplit=2)
    order_id = number(words[0]) if words else None
    rating = number(words[1], prefix="") if len(words) >= 2 else None
    if order_id is None or rating is None:
        await message.answer(_(REVIEW_USAGE))
        return
    try:
        earned = await review_order(
            session,
            order_id=order_id,
            member_id=member.id,
            rating=rating,
            comment=words[2] if len(words) == 3 else "",
            points=settings.review_points,
            cap=settings.points_daily_caps.get("review"),
            now=clock(),
        )
    except ReviewError as exc:
        await message.answer(_(REVIEW_ERRORS.get(exc.reason, REVIEW_USAGE)))
        return
    text = _("Thank you for your review!")
    if earned:
        earned_text = _("It earned you {points}.").format(points=points_text(earned, member.locale))
        text = sentences(text, earned_text)
    await message.answer(sentences(text, photos_hint(settings, member.locale)))
