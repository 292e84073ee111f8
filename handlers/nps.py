"""NPS: staff send the 0-10 question to members who opted in (/nps), a member can ask for it
(/nps_me); answers come back by buttons with an optional comment; /nps_report for staff."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.nps import NpsCallback, ask
from handlers.views.text import (
    N_,
    CommitHook,
    HandlerSettings,
    counted,
    esc,
    esc_name,
    pack_blocks,
)
from handlers.views.wizard import Draft, Target, Wizard, read_draft, save_draft
from models.base import Clock
from services.community import get_community
from services.member import MemberView, get_member
from services.nps import (
    NpsError,
    NpsRefusal,
    NpsScore,
    nps_report,
    opted_in_members,
    record_comment,
    record_score,
)
from services.role import Role

log = logging.getLogger(__name__)
router = Router(name="nps")
REPORT_DAYS = 90

NPS_ERRORS: dict[str, str] = {
    NpsRefusal.ANSWERED: N_("You already answered this question. Thank you!"),
    NpsRefusal.TOO_LONG: N_(
        "A comment can be at most 500 characters. Send a shorter one, or /skip."
    ),
    NpsRefusal.EMPTY: N_("Send a comment, or /skip."),
    NpsRefusal.BAD_SCORE: N_("Tap a number from 0 to 10."),
}


class NpsComment(StatesGroup):
    """The member scored and may now add a comment."""

    comment = State()


class NpsDraft(Draft):
    """The comment step's draft: the survey the member scored (the comment goes with it)."""

    survey_id: int = 0  # 0: none (the score sets it before the comment is asked)


WIZARD = Wizard(NpsComment, optional=("comment",))


async def _ask_comment(target: Target, step: str, data: dict[str, Any]) -> None:
    """The comment question, with Skip and Cancel."""
    back = await WIZARD.enter(data["state"], "comment")
    await target.answer(
        _("Anything you would like to tell us? Send a comment, or /skip."),
        reply_markup=WIZARD.keyboard("comment", back=back),
    )


async def _no_comment(target: Target, step: str, data: dict[str, Any]) -> None:
    """Skip: no comment; the score stands."""
    await data["state"].clear()
    await target.answer(_("Thank you!"))


WIZARD.register(router, ask=_ask_comment, skip=_no_comment)


@router.message(Command("nps"), PRIVATE, RoleFilter(Role.STAFF, "nps.send"))
async def nps_send(
    message: Message,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """Asks every opted-in member who was not asked recently."""
    now = clock()
    sent = 0
    for member_id in await opted_in_members(session):
        member = await get_member(session, member_id)
        if member is not None and await ask(
            bot, i18n, session, member, now=now, settings=settings, after_commit=after_commit
        ):
            sent += 1
    await message.answer(
        _("The NPS question went to {members} (opted in, not asked in the last {days}).").format(
            members=counted("member", sent), days=counted("day", settings.nps_interval_days)
        )
    )


@router.message(Command("nps_me"), PRIVATE)
async def nps_me(
    message: Message,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """A member asks to rate us."""
    if not await ask(
        bot, i18n, session, member, now=clock(), settings=settings, after_commit=after_commit
    ):
        await message.answer(
            _("You rated us recently. Thank you! You can rate again after {days}.").format(
                days=counted("day", settings.nps_interval_days)
            )
        )


@router.callback_query(NpsCallback.filter())
async def scored(
    query: CallbackQuery,
    callback_data: NpsCallback,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """The member tapped a score: record it once, then offer the comment."""
    try:
        await record_score(
            session,
            survey_id=callback_data.survey_id,
            member_id=member.id,
            score=callback_data.score,
            now=clock(),
        )
    except NpsError as exc:
        await query.answer(_(NPS_ERRORS[exc.reason]), show_alert=True)
        return
    await state.clear()
    await save_draft(state, NpsDraft(survey_id=callback_data.survey_id))
    await query.answer(_("Thank you!"))
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _("You answered {score}. Thank you!").format(score=callback_data.score),
            reply_markup=None,
        )
        await _ask_comment(query.message, "comment", {"state": state})
    else:
        await WIZARD.enter(state, "comment")


@router.message(NpsComment.comment, PRIVATE, F.text)
async def comment(
    message: Message, state: FSMContext, session: AsyncSession, member: MemberView
) -> None:
    """The optional comment after the score."""
    text = (message.text or "").strip()
    draft = await read_draft(state, NpsDraft)
    try:
        await record_comment(session, survey_id=draft.survey_id, member_id=member.id, comment=text)
    except NpsError as exc:
        await message.answer(_(NPS_ERRORS[exc.reason]))
        if exc.reason == NpsRefusal.ANSWERED:
            await state.clear()
        return
    await state.clear()
    await message.answer(_("Thank you! The team will read it."))


def _score_line(title: str, score: NpsScore) -> str:
    return _(
        "{title}: NPS {score} ({answers}; promoters {promoters}, passives {passives}, "
        "detractors {detractors})"
    ).format(
        title=title,
        score=f"{score.score:+d}",
        answers=counted("answer", score.total),
        promoters=score.promoters,
        passives=score.passives,
        detractors=score.detractors,
    )


@router.message(Command("nps_report"), PRIVATE, RoleFilter(Role.STAFF, "nps.report"))
async def report(message: Message, session: AsyncSession, clock: Clock) -> None:
    """NPS overall and per community over the last 90 days, with the latest comments."""
    found = await nps_report(session, since=clock() - timedelta(days=REPORT_DAYS))
    if not found.overall.total:
        await message.answer(_("No NPS answers in the last 90 days."))
        return
    blocks = [_("NPS over the last 90 days") + "\n" + _score_line(_("Overall"), found.overall)]
    for score in found.communities:
        community = await get_community(session, score.community_id) if score.community_id else None
        title = esc_name(community.title) if community else _("No group")
        lines = [_score_line(title, score)]
        said = found.comments.get(score.community_id, [])
        if said:
            lines.append(_("Latest comments:"))
            lines += [
                _("• {score}: {comment}").format(score=value, comment=esc(text))
                for value, text in said
            ]
        blocks.append("\n".join(lines))
    for text in pack_blocks(blocks):  # many groups with long comments take several messages
        await message.answer(text)
