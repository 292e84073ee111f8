"""/poll_new: staff ask their communities a question step by step, with Back, Skip (the points)
and Cancel as in every wizard (handlers/views/wizard.py); nothing is posted until Post.

`/poll_new first=ambassadors:2h` lets the tagged trial ambassadors vote first: they get the
poll in private at once, and the groups get it when the head start is over (bot.scheduler
PollCloser, from the poll's row, so a restart loses nothing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.lint import (
    MAX_REASON,
    audit_override,
    claims,
    reason_error,
    wizard_findings,
    words_of,
)
from handlers.views.poll import (
    FIRST_USAGE,
    PollDraft,
    ambassadors_first,
    closing_prompt,
    draft_summary,
    poll_error,
    post_poll,
    staff_time,
)
from handlers.views.text import (
    CallbackId,
    HandlerSettings,
    PollScheduler,
    counted,
    esc,
    shorten,
)
from handlers.views.wizard import (
    NOT_OPEN,
    Target,
    Wizard,
    drop_buttons,
    read_draft,
    save_draft,
)
from models.base import Clock
from models.community import LEVEL_CORE, LEVEL_VIP
from services.community import get_community, open_community_ids
from services.member import MemberView
from services.parsing import split_option
from services.poll import (
    PollError,
    PollRefusal,
    PollView,
    check_question,
    close_poll,
    create_poll,
    parse_closing,
    parse_first,
    parse_options,
    parse_points,
)
from services.role import Role
from services.trial import Invitee, reachable_ambassadors

router = Router(name="poll_wizard")
router.message.filter(PRIVATE)


class NewPoll(StatesGroup):
    """The steps of /poll_new."""

    question = State()
    options = State()
    multiple = State()
    anonymous = State()
    closing = State()
    points = State()
    weighting = State()
    targets = State()
    confirm = State()
    override = State()  # why the texts may go out despite the lint's findings (logged)


class PollChoice(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    PUBLIC = "public"
    ANONYMOUS = "anonymous"
    WEIGH = "weigh"
    FLAT = "flat"
    ALL = "all"
    PICK = "pick"
    VIP = LEVEL_VIP  # the groups of that level
    CORE = LEVEL_CORE
    TOGGLE = "toggle"  # with `chat_id`
    DONE = "done"
    OVERRIDE = "override"
    CREATE = "create"


class PollWizardCallback(CallbackData, prefix="pl"):
    """A button of the poll wizard's own (Back, Skip and Cancel are the wizards' shared)."""

    choice: PollChoice
    chat_id: CallbackId = 0  # the group a toggle button adds or removes


WIZARD = Wizard(NewPoll, optional=("points",))

AnswerT = TypeVar("AnswerT")  # what a typed answer reads as


def _buttons(*pairs: tuple[str, PollChoice], width: int = 2) -> InlineKeyboardBuilder:
    builder = InlineKeyboardBuilder()
    for text, choice in pairs:
        builder.button(text=text, callback_data=PollWizardCallback(choice=choice))
    builder.adjust(width)
    return builder


async def _ask(target: Target, step: str, data: dict[str, Any], *, error: str = "") -> None:
    """Moves the wizard to `step` and asks its question (the error, when there is one, in place
    of it: each error says what to send)."""
    state: FSMContext = data["state"]
    back = await WIZARD.enter(state, step)
    above: InlineKeyboardBuilder | None = None
    if step == "question":
        text = _(
            "New co-creation poll. What do you want to ask? (1-300 characters, /cancel to stop)"
        )
    elif step == "options":
        text = _("The options: 2-12, one per line or separated by |, each up to 100 characters.")
    elif step == "multiple":
        text = _("May members pick one option or several?")
        above = _buttons(
            (_("One option"), PollChoice.SINGLE), (_("Several options"), PollChoice.MULTIPLE)
        )
    elif step == "anonymous":
        text = _(
            "Should the votes be anonymous? Anonymous polls cannot reward voters or weigh "
            "them by tier."
        )
        above = _buttons(
            (_("Not anonymous"), PollChoice.PUBLIC), (_("Anonymous"), PollChoice.ANONYMOUS)
        )
    elif step == "closing":
        text = closing_prompt(data["member"], data["settings"])
    elif step == "points":
        text = _("How many points does each voter get, once per poll? (0 for none)")
    elif step == "weighting":
        text = _(
            "Also count a result weighted by membership tier? Each vote then counts 1 + the "
            "voter's tier rank."
        )
        above = _buttons(
            (_("Weigh by tier"), PollChoice.WEIGH), (_("One member, one vote"), PollChoice.FLAT)
        )
    elif step == "targets":
        text = _("Which groups get the poll?")
        above = _buttons(
            (_("All groups"), PollChoice.ALL),
            (_("Choose groups"), PollChoice.PICK),
            (_("VIP groups"), PollChoice.VIP),
            (_("Core groups"), PollChoice.CORE),
        )
    elif step == "override":
        text = _("Why may it go out as it is? The reason is logged.")
    else:
        member: MemberView = data["member"]
        zone = member.timezone or data["settings"].default_timezone
        draft = await read_draft(state, PollDraft)
        extra = data["settings"].compliance_extra_words
        findings = wizard_findings(draft.texts(), extra)
        text = "\n".join([await draft_summary(data["session"], draft, zone), *findings])
        if findings and not draft.covers(claims(draft.texts(), extra)):
            above = _buttons((_("⚠️ Send anyway"), PollChoice.OVERRIDE))
        else:
            above = _buttons((_("✅ Post the poll"), PollChoice.CREATE))
    await target.answer(error or text, reply_markup=WIZARD.keyboard(step, back=back, above=above))


async def _skip(target: Target, step: str, data: dict[str, Any]) -> None:
    """Skip (the points): no points for voting; then the weighting."""
    draft = await read_draft(data["state"], PollDraft)
    draft.points = 0
    await save_draft(data["state"], draft)
    await _ask(target, "weighting", data)


WIZARD.register(router, ask=_ask, skip=_skip)


@router.message(Command("poll_new"), RoleFilter(Role.STAFF, "poll.create"))
async def start(message: Message, command: CommandObject, state: FSMContext) -> None:
    """Step 1: the question (`first=ambassadors:2h` first sets the ambassadors' head start)."""
    await state.clear()
    first = 0
    args = (command.args or "").strip()
    if args:
        option = split_option(args)
        try:
            if option is None or option[0] != "first" or " " in option[1].strip():
                raise PollError(PollRefusal.BAD_FIRST, args)
            first = int(parse_first(option[1]).total_seconds()) // 60
        except PollError:
            # what they wrote, cut short: a long paste must not make the answer too long to send
            part = f"<code>{esc(shorten(args, 60))}</code>"
            await message.answer(_(FIRST_USAGE).format(part=part))
            return
    await save_draft(state, PollDraft(first=first))
    await _ask(message, "question", {"state": state})


async def _read_answer(
    message: Message, state: FSMContext, step: str, read: Callable[[str], AnswerT]
) -> AnswerT | None:
    """The typed answer to `step` as `read` takes it; None (and the question again with the
    refusal) when it cannot."""
    try:
        return read(message.text or "")
    except PollError as exc:
        await _ask(message, step, {"state": state}, error=poll_error(exc.reason))
        return None


async def _button_then_ask(query: CallbackQuery, bot: Bot, step: str, data: dict[str, Any]) -> None:
    """A choice tapped: its buttons go, and `step` is asked."""
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        await _ask(query.message, step, data)


@router.message(NewPoll.question, F.text)
async def got_question(message: Message, state: FSMContext) -> None:
    """Step 2: the options."""
    question = await _read_answer(message, state, "question", check_question)
    if question is None:
        return
    draft = await read_draft(state, PollDraft)
    draft.question = question
    await save_draft(state, draft)
    await _ask(message, "options", {"state": state})


@router.message(NewPoll.options, F.text)
async def got_options(message: Message, state: FSMContext) -> None:
    """Step 3: one answer or several."""
    options = await _read_answer(message, state, "options", parse_options)
    if options is None:
        return
    draft = await read_draft(state, PollDraft)
    draft.options = list(options)
    await save_draft(state, draft)
    await _ask(message, "multiple", {"state": state})


@router.callback_query(
    NewPoll.multiple,
    PollWizardCallback.filter(F.choice.in_({PollChoice.SINGLE, PollChoice.MULTIPLE})),
)
async def got_multiple(
    query: CallbackQuery, callback_data: PollWizardCallback, state: FSMContext, bot: Bot
) -> None:
    """Step 4: anonymous or not."""
    draft = await read_draft(state, PollDraft)
    draft.multiple = callback_data.choice == PollChoice.MULTIPLE
    await save_draft(state, draft)
    await _button_then_ask(query, bot, "anonymous", {"state": state})


@router.callback_query(
    NewPoll.anonymous,
    PollWizardCallback.filter(F.choice.in_({PollChoice.PUBLIC, PollChoice.ANONYMOUS})),
)
async def got_anonymous(
    query: CallbackQuery,
    callback_data: PollWizardCallback,
    state: FSMContext,
    bot: Bot,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Step 5: the closing time."""
    draft = await read_draft(state, PollDraft)
    draft.anonymous = callback_data.choice == PollChoice.ANONYMOUS
    await save_draft(state, draft)
    data = {"state": state, "member": member, "settings": settings}
    await _button_then_ask(query, bot, "closing", data)


@router.message(NewPoll.closing, F.text)
async def got_closing(
    message: Message,
    state: FSMContext,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    session: AsyncSession,
) -> None:
    """Step 6: points per vote (or, for an anonymous poll, the groups)."""
    zone = member.timezone or settings.default_timezone
    ask = {"state": state, "member": member, "settings": settings}
    try:
        closes_at = parse_closing(message.text or "", now=clock(), timezone=zone)
    except PollError as exc:
        error = poll_error(exc.reason, exc.detail) + "\n" + closing_prompt(member, settings)
        await _ask(message, "closing", ask, error=error)
        return
    draft = await read_draft(state, PollDraft)
    draft.closes_at = closes_at
    if draft.anonymous:  # no points and no weighting: straight to the groups
        draft.points, draft.weighted = 0, False
    await save_draft(state, draft)
    await _ask(message, "targets" if draft.anonymous else "points", ask)


@router.message(NewPoll.points, F.text)
async def got_points(message: Message, state: FSMContext) -> None:
    """Step 7: tier weighting."""
    points = await _read_answer(message, state, "points", parse_points)
    if points is None:
        return
    draft = await read_draft(state, PollDraft)
    draft.points = points
    await save_draft(state, draft)
    await _ask(message, "weighting", {"state": state})


@router.callback_query(
    NewPoll.weighting, PollWizardCallback.filter(F.choice.in_({PollChoice.WEIGH, PollChoice.FLAT}))
)
async def got_weighting(
    query: CallbackQuery, callback_data: PollWizardCallback, state: FSMContext, bot: Bot
) -> None:
    """Step 8: the groups."""
    draft = await read_draft(state, PollDraft)
    draft.weighted = callback_data.choice == PollChoice.WEIGH
    await save_draft(state, draft)
    await _button_then_ask(query, bot, "targets", {"state": state})


async def _group_picker(session: AsyncSession, chosen: list[int]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for chat_id in await open_community_ids(session):
        community = await get_community(session, chat_id)
        title = community.title if community and community.title else str(chat_id)
        mark = "✅" if chat_id in chosen else "▫️"
        builder.button(
            text=f"{mark} {title}"[:64],
            callback_data=PollWizardCallback(choice=PollChoice.TOGGLE, chat_id=chat_id),
        )
    builder.button(text=_("Done"), callback_data=PollWizardCallback(choice=PollChoice.DONE))
    builder.adjust(1)
    # still the targets step: Back leads to the question before it
    return WIZARD.keyboard("targets", back=True, above=builder)


@router.callback_query(NewPoll.targets, PollWizardCallback.filter(F.choice == PollChoice.PICK))
async def pick_groups(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, bot: Bot
) -> None:
    """Shows the groups to tick."""
    draft = await read_draft(state, PollDraft)
    draft.chats = []
    await save_draft(state, draft)
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        await query.message.answer(
            _("Tick the groups, then press Done."), reply_markup=await _group_picker(session, [])
        )


@router.callback_query(NewPoll.targets, PollWizardCallback.filter(F.choice == PollChoice.TOGGLE))
async def toggle_group(
    query: CallbackQuery,
    callback_data: PollWizardCallback,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
) -> None:
    """Adds or removes one group."""
    draft = await read_draft(state, PollDraft)
    chosen = list(draft.chats)
    if callback_data.chat_id in chosen:
        chosen.remove(callback_data.chat_id)
    elif callback_data.chat_id in await open_community_ids(session):
        chosen.append(callback_data.chat_id)
    draft.chats = chosen
    await save_draft(state, draft)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=await _group_picker(session, chosen))


@router.callback_query(
    NewPoll.targets,
    PollWizardCallback.filter(
        F.choice.in_({PollChoice.ALL, PollChoice.DONE, PollChoice.VIP, PollChoice.CORE})
    ),
)
async def got_targets(
    query: CallbackQuery,
    callback_data: PollWizardCallback,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Step 9: the summary to confirm."""
    active = await open_community_ids(session)
    draft = await read_draft(state, PollDraft)
    if callback_data.choice == PollChoice.ALL:
        chats = active
    elif callback_data.choice in (PollChoice.VIP, PollChoice.CORE):  # only the groups of that level
        chats = await open_community_ids(session, level=callback_data.choice)
    else:
        chats = [c for c in draft.chats if c in active]
    if not chats:
        await query.answer(poll_error("no_chats"), show_alert=True)
        return
    draft.chats = chats
    await save_draft(state, draft)
    data = {"state": state, "session": session, "member": member, "settings": settings}
    await _button_then_ask(query, bot, "confirm", data)


@router.callback_query(NewPoll.confirm, PollWizardCallback.filter(F.choice == PollChoice.OVERRIDE))
async def ask_override(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
    """⚠️ Send anyway: asks why the findings may be ignored."""
    await _button_then_ask(query, bot, "override", {"state": state})


@router.message(NewPoll.override, F.text)
async def got_override(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Notes the reason, then the last look again with ✅ Post the poll."""
    reason = (message.text or "").strip()
    data = {"state": state, "session": session, "member": member, "settings": settings}
    error = reason_error(reason)
    if error is not None:
        await _ask(message, "override", data, error=error)
        return
    draft = await read_draft(state, PollDraft)
    found = claims(draft.texts(), settings.compliance_extra_words)
    draft.override, draft.override_words = reason[:MAX_REASON], words_of(found)
    await save_draft(state, draft)
    await _ask(message, "confirm", data)


@router.callback_query(NewPoll.confirm, PollWizardCallback.filter(F.choice == PollChoice.CREATE))
async def create(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    poll_closer: PollScheduler,
    i18n: I18n,
) -> None:
    """Stores the poll, posts it in every chosen group and schedules its closing (texts with
    findings only with a reason)."""
    draft = await read_draft(state, PollDraft)
    found = claims(draft.texts(), settings.compliance_extra_words)
    if found and not draft.covers(found):
        await query.answer(_(NOT_OPEN), show_alert=True)  # a stale Post: findings need a reason
        return
    now = clock()
    assert draft.question is not None and draft.closes_at is not None  # asked before
    head_start = timedelta(minutes=draft.first)
    ambassadors = await reachable_ambassadors(session) if head_start else []
    first_until = now + head_start if ambassadors else None
    try:
        poll = await create_poll(
            session,
            question=draft.question,
            options=tuple(draft.options),
            allows_multiple=draft.multiple,
            anonymous=draft.anonymous,
            closes_at=draft.closes_at,
            points_per_vote=draft.points,
            tier_weighted=draft.weighted,
            created_by=member.id,
            now=now,
            first_until=first_until,
            held_chats=list(draft.chats),
        )
    except PollError as exc:
        await query.answer(poll_error(exc.reason), show_alert=True)
        return
    if found:
        await audit_override(
            session,
            actor_id=member.id,
            action="poll.create",
            found=found,
            reason=draft.override or "",
            what=f"#{poll.id}",
            now=clock(),
        )
    await state.clear()
    await query.answer()
    await drop_buttons(bot, query)
    if first_until is not None:
        await _hold_for_ambassadors(
            query, bot, session, member, settings, poll_closer, i18n, poll, ambassadors, first_until
        )
        return
    await _post_now(query, bot, session, member, settings, clock, poll_closer, poll, draft)


async def _hold_for_ambassadors(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    poll_closer: PollScheduler,
    i18n: I18n,
    poll: PollView,
    ambassadors: list[Invitee],
    first_until: datetime,
) -> None:
    """The ambassadors get the poll first; the groups when their head start is over."""
    await ambassadors_first(bot, i18n, session, poll, ambassadors, settings.default_timezone)
    poll_closer.schedule(poll.id, poll.closes_at)
    poll_closer.schedule_release(poll.id, first_until)
    if query.message is not None:
        await query.message.answer(
            ngettext(
                "Poll #{id}: {n} trial ambassador votes first in private. The groups get it "
                "{when}; it closes {closes}.",
                "Poll #{id}: {n} trial ambassadors vote first in private. The groups get it "
                "{when}; it closes {closes}.",
                len(ambassadors),
            ).format(
                id=poll.id,
                n=len(ambassadors),
                when=staff_time(first_until, member, settings),
                closes=staff_time(poll.closes_at, member, settings),
            )
        )


async def _post_now(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    poll_closer: PollScheduler,
    poll: PollView,
    draft: PollDraft,
) -> None:
    """Posts the poll in the chosen groups at once (closed again when no group took it)."""
    head_start = timedelta(minutes=draft.first)
    if head_start and query.message is not None:
        await query.message.answer(
            _("No trial ambassador is tagged yet (a good report makes one): posted at once.")
        )
    posted = await post_poll(bot, session, poll, list(draft.chats))
    if posted == 0:  # no group took it: close it at once, so nothing waits for votes
        await close_poll(session, poll_id=poll.id, now=clock())
        if query.message is not None:
            await query.message.answer(_("I could not post the poll in any group."))
        return
    poll_closer.schedule(poll.id, poll.closes_at)
    if query.message is not None:
        await query.message.answer(
            _("Poll #{id} posted in {groups}; it closes {when}.").format(
                id=poll.id,
                groups=counted("group", posted),
                when=staff_time(poll.closes_at, member, settings),
            )
        )


@router.callback_query(PollWizardCallback.filter())
async def stale_button(query: CallbackQuery) -> None:
    """A choice, a group or Post under a question that is not open any more."""
    await query.answer(_(NOT_OPEN), show_alert=True)
