"""The NPS question a member is asked in private (after a pickup, or when staff run a survey):
its text, its 0-10 buttons and the asking, shared by the order and nps routers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import (
    N_,
    CallbackId,
    CommitHook,
    HandlerSettings,
)
from services.broadcast import is_opted_in
from services.member import MemberView, get_member
from services.nps import (
    home_community,
    start_survey,
)

log = logging.getLogger(__name__)


QUESTION = N_(
    "How likely are you to recommend us to a friend? Tap 0 (not at all) to 10 (extremely)."
)


class NpsCallback(CallbackData, prefix="nps"):
    """A score button under the NPS question."""

    survey_id: CallbackId
    score: CallbackId


def _keyboard(survey_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for score in range(11):
        builder.button(text=str(score), callback_data=NpsCallback(survey_id=survey_id, score=score))
    builder.adjust(6, 5)
    return builder.as_markup()


async def ask(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    *,
    now: datetime,
    settings: HandlerSettings,
    after_commit: CommitHook,
    community_id: int | None = None,
) -> bool:
    """Claim the question for the member unless they were asked within the interval, and send it
    once the claim is committed (its buttons name the stored survey); True if claimed.

    The answer counts for `community_id` (the group of the order just picked up), or else for
    the member's home group."""
    if not member.started:
        return False
    if community_id is None:
        community_id = await home_community(session, member.id)
    survey_id = await start_survey(
        session,
        member_id=member.id,
        community_id=community_id,
        now=now,
        interval=timedelta(days=settings.nps_interval_days),
    )
    if survey_id is None:
        return False
    text = i18n.gettext(QUESTION, locale=member.locale)
    after_commit.add(partial(_send_question, bot, member.id, text, survey_id))
    return True


async def _send_question(bot: Bot, member_id: int, text: str, survey_id: int) -> None:
    try:
        await bot.send_message(member_id, text, reply_markup=_keyboard(survey_id))
    except TelegramAPIError as exc:
        log.info("could not ask member %s for NPS: %s", member_id, exc)


async def ask_after_pickup(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member_id: int,
    *,
    community_id: int,
    now: datetime,
    settings: HandlerSettings,
    after_commit: CommitHook,
) -> None:
    """After a pickup in a group: the question, if the member opted in and was not asked
    recently; the answer counts for that group."""
    if not await is_opted_in(session, member_id=member_id):
        return
    member = await get_member(session, member_id)
    if member is not None:
        await ask(
            bot,
            i18n,
            session,
            member,
            now=now,
            settings=settings,
            after_commit=after_commit,
            community_id=community_id,
        )
