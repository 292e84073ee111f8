"""The suggestion box: /suggest anywhere; staff review with /suggestions, adopt or decline
with a short reply that reaches the author in their language; /suggestions stats."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, AsOneself, RoleFilter
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.paging import PAGE_SIZE, PageCallback, send_footer, turn_card_page
from handlers.views.perks import points_text
from handlers.views.text import N_, CallbackId, HandlerSettings, esc, esc_name
from handlers.views.wizard import Draft, Target, Wizard, read_draft, save_draft
from models.base import Clock
from services.community import CommunityView, get_community
from services.member import MemberView, get_member
from services.role import Role
from services.suggestion import (
    SuggestionError,
    SuggestionRefusal,
    decide,
    get_suggestion,
    new_suggestions,
    submit,
    suggestion_stats,
)

log = logging.getLogger(__name__)
router = Router(name="suggestion")

SUGGEST_ERRORS: dict[str, str] = {
    SuggestionRefusal.EMPTY: N_(
        "Write your idea after the command, for example: /suggest A jasmine oolong"
    ),
    SuggestionRefusal.TOO_LONG: N_("A suggestion can be at most 500 characters."),
    SuggestionRefusal.REPEATED: N_(
        "You already sent that suggestion. Thank you, it is with the team."
    ),
    SuggestionRefusal.TOO_MANY: N_(
        "You sent 5 suggestions in the last 24 hours. Please wait a little."
    ),
    SuggestionRefusal.REPLY_TOO_LONG: N_(
        "The reply can be at most 200 characters. Send a shorter one."
    ),
    SuggestionRefusal.DECIDED: N_("Another staff member already decided on that suggestion."),
    SuggestionRefusal.NOT_FOUND: N_("There is no such suggestion."),
}


class SuggestionAction(StrEnum):
    ADOPT = "adopt"
    DECLINE = "decline"


class SuggestionCallback(CallbackData, prefix="sg"):
    """A staff button under a suggestion."""

    action: SuggestionAction
    suggestion_id: CallbackId


class Deciding(StatesGroup):
    """Staff chose Adopt or Decline and now write the reply."""

    reply = State()


class DecidingDraft(Draft):
    """The decision's draft: which suggestion, and whether it is adopted (the reply is the step's
    answer)."""

    suggestion_id: int = 0  # 0: none (Adopt or Decline sets it before the reply is asked)
    adopt: bool = False  # False: declined


WIZARD = Wizard(Deciding, optional=("reply",))


async def _ask_reply(target: Target, step: str, data: dict[str, Any]) -> None:
    """The reply question, with Skip (no reply) and Cancel (nothing decided)."""
    state: FSMContext = data["state"]
    back = await WIZARD.enter(state, "reply")
    suggestion_id = (await read_draft(state, DecidingDraft)).suggestion_id
    await target.answer(
        _(
            "Write a short reply for the author of #{id} (up to 200 characters), or /skip "
            "to send none."
        ).format(id=suggestion_id),
        reply_markup=WIZARD.keyboard("reply", back=back),
    )


async def _no_reply(target: Target, step: str, data: dict[str, Any]) -> None:
    """Skip: decides the suggestion without a reply."""
    await _decide(target, "", **data)


WIZARD.register(router, ask=_ask_reply, skip=_no_reply)


def _keyboard(suggestion_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Adopt"),
        callback_data=SuggestionCallback(
            action=SuggestionAction.ADOPT, suggestion_id=suggestion_id
        ),
    )
    builder.button(
        text=_("✖️ Decline"),
        callback_data=SuggestionCallback(
            action=SuggestionAction.DECLINE, suggestion_id=suggestion_id
        ),
    )
    builder.adjust(2)
    return builder.as_markup()


@router.message(Command("suggest"), AsOneself())
async def suggest(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """A member drops an idea in the suggestion box, from a group or in private."""
    try:
        saved = await submit(
            session,
            member_id=member.id,
            community_id=community.id if community else None,
            text=command.args or "",
            now=clock(),
        )
    except SuggestionError as exc:
        await message.reply(_(SUGGEST_ERRORS[exc.reason]))
        return
    await message.reply(
        _("Thank you! Suggestion #{id} is with the brand team; you will hear back.").format(
            id=saved.id
        )
    )


@router.message(Command("suggestions"), PRIVATE, RoleFilter(Role.STAFF, "suggestion.list"))
async def list_suggestions(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
) -> None:
    """New suggestions, one message each with Adopt and Decline; or `stats` for the counts."""
    if (command.args or "").strip().lower() == "stats":
        await message.answer(await _stats_text(session, clock()))
        return
    await send_suggestion_cards(message, session, 0)


async def send_suggestion_cards(target: Message, session: AsyncSession, offset: int) -> None:
    """A page of the new suggestions, one message each with Adopt and Decline; when more wait,
    a line that counts them with More."""
    page = await new_suggestions(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        await target.answer(_("No new suggestions."))
        return
    for item in page.items:
        author = await get_member(session, item.member_id)
        where = await get_community(session, item.community_id) if item.community_id else None
        head = _("Suggestion #{id} from {name} ({where}):").format(
            id=item.id,
            name=esc(author.display_name if author else item.member_id),
            where=esc_name(where.title) if where else _("private chat"),
        )
        await target.answer(f"{head}\n{esc(item.text)}", reply_markup=_keyboard(item.id))
    await send_footer(target, _("New suggestions: {counter}"), "suggestions", page)


@router.callback_query(
    PageCallback.filter(F.name == "suggestions"), RoleFilter(Role.STAFF, "suggestion.list")
)
async def suggestions_more(
    query: CallbackQuery, callback_data: PageCallback, session: AsyncSession
) -> None:
    """More (or Back) under /suggestions: the next suggestions come as new messages."""
    await query.answer()
    if await turn_card_page(query.message):
        assert isinstance(query.message, Message)
        await send_suggestion_cards(query.message, session, callback_data.offset)


async def _stats_text(session: AsyncSession, now: datetime) -> str:
    rows = await suggestion_stats(session, since=now - timedelta(days=366))
    if not rows:
        return _("No suggestions in the last 12 months.")
    lines = [_("Suggestions made and adopted, per month and community:")]
    for row in rows:
        where = await get_community(session, row.community_id) if row.community_id else None
        lines.append(
            _("{month} · {where}: {made} made, {adopted} adopted").format(
                month=row.month,
                where=esc_name(where.title) if where else _("private chat"),
                made=row.made,
                adopted=row.adopted,
            )
        )
    return "\n".join(lines)


@router.callback_query(SuggestionCallback.filter(), RoleFilter(Role.STAFF, "suggestion.decide"))
async def choose(
    query: CallbackQuery,
    callback_data: SuggestionCallback,
    state: FSMContext,
    session: AsyncSession,
) -> None:
    """Staff tapped Adopt or Decline: ask for the short reply to the author."""
    found = await get_suggestion(session, callback_data.suggestion_id)
    if found is None or found.status != "new":
        refusal = (
            SUGGEST_ERRORS[SuggestionRefusal.DECIDED]
            if found
            else SUGGEST_ERRORS[SuggestionRefusal.NOT_FOUND]
        )
        await query.answer(_(refusal), show_alert=True)
        return
    await state.clear()
    await save_draft(
        state,
        DecidingDraft(suggestion_id=found.id, adopt=callback_data.action == SuggestionAction.ADOPT),
    )
    await query.answer()
    if query.message is not None:
        await _ask_reply(query.message, "reply", {"state": state})
    else:
        await WIZARD.enter(state, "reply")


@router.message(Deciding.reply, PRIVATE, F.text)
async def got_reply(
    message: Message,
    state: FSMContext,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Decides the suggestion with the reply, tells the author in their language, and
    confirms to staff."""
    reply = (message.text or "").strip()
    await _decide(
        message,
        reply,
        state=state,
        bot=bot,
        i18n=i18n,
        session=session,
        member=member,
        settings=settings,
        clock=clock,
    )


async def _decide(
    target: Target,
    reply: str,
    *,
    state: FSMContext,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    **_other: Any,
) -> None:
    """Adopts or declines the suggestion (with `reply`, maybe empty), tells the author in their
    language, and confirms to staff."""
    draft = await read_draft(state, DecidingDraft)
    try:
        decision = await decide(
            session,
            suggestion_id=draft.suggestion_id,
            adopt=draft.adopt,
            reply=reply,
            staff_id=member.id,
            now=clock(),
            points=settings.suggestion_points,
            points_cap=settings.points_daily_caps.get("suggestion"),
        )
    except SuggestionError as exc:
        await target.answer(_(SUGGEST_ERRORS[exc.reason]))
        if exc.reason != SuggestionRefusal.REPLY_TOO_LONG:
            await state.clear()
        return
    await state.clear()
    item = decision.suggestion
    author = await get_member(session, item.member_id)
    told = False
    if author is not None and author.started:
        with i18n.use_locale(author.locale):
            if draft.adopt:
                lines = [
                    _("Good news: the brand adopted your suggestion #{id}!").format(id=item.id)
                ]
                if decision.points:
                    lines.append(
                        _("You earned {points}.").format(
                            points=points_text(decision.points, author.locale)
                        )
                    )
            else:
                lines = [
                    _(
                        "Thank you for suggestion #{id}. This time the brand will not take it up."
                    ).format(id=item.id)
                ]
            if reply:
                lines.append(_("Reply from the team: {reply}").format(reply=esc(reply)))
            lines.append(f"<i>{esc(item.text)}</i>")
            try:
                await bot.send_message(author.id, "\n".join(lines))
                told = True
            except TelegramAPIError as exc:
                log.info(
                    "could not tell member %s about suggestion %s: %s", author.id, item.id, exc
                )
    done = (
        _("Suggestion #{id} adopted.") if draft.adopt else _("Suggestion #{id} declined.")
    ).format(id=item.id)
    done += " " + (
        _("The author was told.") if told else _("The author has no private chat with me.")
    )
    await target.answer(done)
