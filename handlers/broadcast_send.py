"""The /broadcast wizard's second half: whom it goes to (with the community picker and tags),
when, and the last look's choices (the kind, an override with its reason, variant B and the
hold-out of an A/B test, Confirm). Its first half (the text, photo and button) and the wizard's
shared Back / Skip / Cancel are handlers/broadcast.py; the steps, questions and the last look
are handlers/views/broadcast_wizard.py."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import RoleFilter
from handlers.views.broadcast import BroadcastSettings
from handlers.views.broadcast_status import Waker, error_text, local_time, plan_waits, reader_zone
from handlers.views.broadcast_wizard import (
    BUTTON_TEXT_MAX,
    PICK_COMMUNITY,
    PICK_SEGMENT,
    PICK_TIER,
    BroadcastDraft,
    BroadcastWizardAction,
    BroadcastWizardCallback,
    Clock,
    NewBroadcast,
    ask_holdout_share,
    ask_override_reason,
    ask_schedule,
    ask_tag,
    ask_variant_b_text,
    checked_text,
    last_look,
    outbox_draft,
    step_keyboard,
    target_rows,
    wizard_button,
)
from handlers.views.care import segment_name
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, page_row
from handlers.views.perks import tier_name
from handlers.views.text import counted, esc, sentences, unreadable_text
from handlers.views.wizard import NOT_OPEN, Target, read_draft, save_draft
from models.broadcast import (
    HOLDOUT_MAX,
    POST_CONTENT,
    POST_PROMOTION,
    TARGET_COMMUNITY,
    TARGET_SEGMENT,
    TARGET_TAG,
    TARGET_TIER,
)
from models.segments import SEGMENTS
from services import broadcast as outbox
from services.abtest import AbTestError, parse_holdout
from services.audit import record_action
from services.community import open_communities
from services.member import MemberView
from services.parsing import Unreadable, parse_moment, zone_label
from services.role import Role
from services.tiers import list_tiers

router = Router(name="broadcast_send")


@router.callback_query(
    NewBroadcast.targets, BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.TARGET)
)
async def got_targets(
    query: CallbackQuery,
    callback_data: BroadcastWizardCallback,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
) -> None:
    """Step 5: the schedule (or the tag first)."""
    await query.answer()
    if query.message is None or not isinstance(query.message, Message):
        return
    if callback_data.value == TARGET_TAG:
        await ask_tag(query.message, state)
        return
    if callback_data.value == PICK_TIER:
        await _pick_target(
            query.message,
            state,
            _("Members of which tier (and above)? Only those who opted in get it."),
            [(tier_name(tier), f"{TARGET_TIER}.{tier.rank}") for tier in await list_tiers(session)],
        )
        return
    if callback_data.value == PICK_SEGMENT:
        await _pick_target(
            query.message,
            state,
            _("Members in which segment? Only those who opted in get it."),
            [(segment_name(segment), f"{TARGET_SEGMENT}.{segment}") for segment in SEGMENTS],
        )
        return
    if callback_data.value == PICK_COMMUNITY:
        text, markup = await _community_picker(session, state, 0)
        await query.message.answer(text, reply_markup=markup)
        return
    try:
        # a button's value cannot hold ":", so "tier.2" stands for "tier:2"
        targets = outbox.parse_targets(callback_data.value.replace(".", ":", 1))
    except outbox.BroadcastError:
        await query.message.answer(
            error_text("targets"), reply_markup=await step_keyboard(state, "targets", target_rows())
        )
        return
    await _keep_targets(query.message, state, targets, zone=reader_zone(member, settings))


async def _pick_target(
    message: Message, state: FSMContext, question: str, choices: list[tuple[str, str]]
) -> None:
    """Asks `question` with one target button a row: (its label, the target it stands for)."""
    rows = [[wizard_button(label, BroadcastWizardAction.TARGET, value)] for label, value in choices]
    await message.answer(question, reply_markup=await step_keyboard(state, "targets", rows))


async def _keep_targets(message: Message, state: FSMContext, targets: str, *, zone: str) -> None:
    """Keeps the targets (by button or by tag), then asks when."""
    draft = await read_draft(state, BroadcastDraft)
    draft.targets = targets
    await save_draft(state, draft)
    await ask_schedule(message, state, zone=zone)


COMMUNITY_PICKER = "bw_community"  # the pages of the wizard's community picker


async def _community_picker(
    session: AsyncSession, state: FSMContext, offset: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The question "which community?" with a page of the open groups, their count, Back /
    More and the wizard's buttons; the choice of targets again when the bot is in no open
    group."""
    page = await open_communities(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        return _("The bot is in no group yet."), await step_keyboard(
            state, "targets", target_rows()
        )
    rows = [
        [
            wizard_button(
                community.title[:BUTTON_TEXT_MAX] or str(community.id),
                BroadcastWizardAction.TARGET,
                f"{TARGET_COMMUNITY}.{community.id}",
            )
        ]
        for community in page.items
    ]
    paging = page_row(COMMUNITY_PICKER, page)
    if paging:
        rows.append(paging)
    text = _(
        "Members of which community? It goes in private to those the bot has seen "
        "there who opted in."
    )
    counter = _("Groups: {counter}").format(counter=page_counter(page))
    return text + "\n" + counter, await step_keyboard(state, "targets", rows)


@router.callback_query(PageCallback.filter(F.name == COMMUNITY_PICKER), NewBroadcast.targets)
async def community_picker_page(
    query: CallbackQuery, callback_data: PageCallback, session: AsyncSession, state: FSMContext
) -> None:
    """Back or More under the community picker: the same question shows the other groups."""
    await query.answer()
    if not isinstance(query.message, Message):
        return
    text, markup = await _community_picker(session, state, callback_data.offset)
    with contextlib.suppress(TelegramBadRequest):  # the same page again
        await query.message.edit_text(text, reply_markup=markup)


@router.callback_query(PageCallback.filter(F.name == COMMUNITY_PICKER))
async def stale_community_page(query: CallbackQuery) -> None:
    """Back or More under a picker that is not this user's open question."""
    await query.answer(_("That question is not open any more."), show_alert=True)


@router.message(NewBroadcast.tag, F.text)
async def got_tag(
    message: Message, state: FSMContext, member: MemberView, settings: BroadcastSettings
) -> None:
    """Step 5 (by tag): the schedule."""
    try:
        targets = outbox.parse_targets(f"{TARGET_TAG}:{(message.text or '').strip().lstrip('#')}")
    except outbox.BroadcastError:
        await message.answer(error_text("tag"))
        return
    await _keep_targets(message, state, targets, zone=reader_zone(member, settings))


@router.callback_query(
    NewBroadcast.schedule, BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.NOW)
)
async def schedule_now(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Step 6 (now): the summary."""
    await query.answer()
    draft = await read_draft(state, BroadcastDraft)
    draft.scheduled_at = clock()
    await save_draft(state, draft)
    if query.message is not None:
        await last_look(query.message.chat.id, bot, state, session, member, settings, clock)


@router.message(NewBroadcast.schedule, F.text)
async def schedule_at(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Step 6 (a time): the summary."""
    zone = reader_zone(member, settings)
    try:
        when = parse_moment(message.text or "", now=clock(), timezone=zone)
    except Unreadable as exc:
        await message.answer(
            unreadable_text("when", exc.part)
            + "\n"
            + _("Send a time like 2026-12-01 10:00 (your time zone, {zone}), or tap Now.").format(
                zone=esc(zone_label(zone))
            )
        )
        return
    if when < clock():
        await message.answer(_("That time has passed. Send a later one, or tap Now."))
        return
    draft = await read_draft(state, BroadcastDraft)
    draft.scheduled_at = when
    await save_draft(state, draft)
    await last_look(message.chat.id, bot, state, session, member, settings, clock)


@router.callback_query(
    NewBroadcast.confirm, BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.KIND)
)
async def choose_kind(
    query: CallbackQuery,
    callback_data: BroadcastWizardCallback,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Switches between a promotion (counted) and content (not counted), then shows the
    summary again."""
    await query.answer()
    if callback_data.value not in (POST_PROMOTION, POST_CONTENT) or query.message is None:
        return
    draft = await read_draft(state, BroadcastDraft)
    draft.post_kind = callback_data.value
    await save_draft(state, draft)
    await last_look(query.message.chat.id, bot, state, session, member, settings, clock)


async def _ask_from_last_look(
    query: CallbackQuery, state: FSMContext, ask: Callable[[Target, FSMContext], Awaitable[None]]
) -> None:
    """A button on the last look that asks one more question (`ask`)."""
    await query.answer()
    if query.message is not None:
        await ask(query.message, state)


@router.callback_query(
    NewBroadcast.confirm,
    BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.OVERRIDE),
)
async def ask_override(query: CallbackQuery, state: FSMContext) -> None:
    """Asks why the findings may be ignored."""
    await _ask_from_last_look(query, state, ask_override_reason)


@router.message(NewBroadcast.override, F.text)
async def got_override(message: Message, state: FSMContext) -> None:
    """Notes the reason and asks for the final Confirm: nothing is sent before it."""
    reason = (message.text or "").strip()
    if len(reason) < 5 or reason.startswith("/"):
        await message.answer(_("Give a reason of at least 5 characters, or /cancel."))
        return
    draft = await read_draft(state, BroadcastDraft)
    draft.override = reason[:512]
    await save_draft(state, draft)
    await state.set_state(NewBroadcast.confirm)
    await message.answer(
        _(
            "Reason noted: {reason}\n"
            "It goes out with the findings above, and the reason is logged. Send it?"
        ).format(reason=esc(reason[:512])),
        reply_markup=await step_keyboard(
            state, "confirm", [[wizard_button(_("✅ Confirm"), BroadcastWizardAction.CONFIRM)]]
        ),
    )


@router.callback_query(
    NewBroadcast.confirm,
    BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.CONFIRM),
    RoleFilter(Role.STAFF, "broadcast.confirm"),
)
async def confirm(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    clock: Clock,
    member: MemberView,
    settings: BroadcastSettings,
    broadcaster: Waker,
) -> None:
    """Creates the broadcast."""
    await query.answer()
    if query.message is not None and isinstance(query.message, Message):
        await _create(query.message, state, session, member, settings, broadcaster, now=clock())


async def _create(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    broadcaster: Waker,
    *,
    now: datetime,
) -> None:
    saved = await read_draft(state, BroadcastDraft)
    draft = outbox_draft(saved, member, settings)
    override = saved.override
    findings = saved.findings
    if findings and not override:
        return  # a stale Confirm: findings need the reason step
    draft = replace(draft, findings=findings, override_reason=override)
    try:
        broadcast_id, plan = await outbox.create_broadcast(
            session,
            draft=draft,
            rules=settings.pacing_rules(),
            default_timezone=settings.default_timezone,
        )
    except outbox.BroadcastError as exc:
        await message.answer(error_text(exc.code).format(id="", status=""))
        await state.clear()
        return
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action="broadcast.override" if override else "broadcast.schedule",
        allowed=True,
        now=now,
        required_role="staff",
        detail=f"#{broadcast_id} {draft.targets}"
        + (f" findings={findings} reason={override}" if override else ""),
    )
    await state.clear()
    zone = reader_zone(member, settings)
    text = _("Broadcast #{id} is scheduled for {chats}.").format(
        id=broadcast_id, chats=counted("chat", plan.recipients)
    )
    if plan.earliest is not None and plan.latest is not None:
        first_last = _("First delivery {earliest}, last {latest} ({zone}).").format(
            earliest=local_time(plan.earliest, zone),
            latest=local_time(plan.latest, zone),
            zone=esc(zone),
        )
        text = "\n".join([sentences(text, first_last), *plan_waits(plan, zone)])
    if draft.is_test:
        text += "\n" + _(
            "The A/B test's result comes to you 48 hours after the last delivery; "
            "/broadcast_result {id} shows it at any time."
        ).format(id=broadcast_id)
    await message.answer(text + "\n" + _("/broadcasts shows its progress."))
    broadcaster.wake()


@router.callback_query(
    NewBroadcast.confirm,
    BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.VARIANT_B),
)
async def ask_variant_b(query: CallbackQuery, state: FSMContext) -> None:
    """🅱️ Variant B on the last look: asks for the second text."""
    await _ask_from_last_look(query, state, ask_variant_b_text)


@router.message(NewBroadcast.variant_b, F.text)
async def got_variant_b(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Keeps variant B (checked like the first text), then the last look again."""
    draft = await read_draft(state, BroadcastDraft)
    body = await checked_text(message, bot, draft.text_limit())
    if body is None:
        return
    draft.text_b = body
    await save_draft(state, draft)
    await last_look(message.chat.id, bot, state, session, member, settings, clock)


@router.callback_query(
    NewBroadcast.confirm, BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.HOLDOUT)
)
async def ask_holdout(query: CallbackQuery, state: FSMContext) -> None:
    """🎯 Hold-out on the last look: asks for the share held out."""
    await _ask_from_last_look(query, state, ask_holdout_share)


async def _set_holdout(
    pct: int,
    chat_id: int,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    draft = await read_draft(state, BroadcastDraft)
    draft.holdout = pct
    await save_draft(state, draft)
    await last_look(chat_id, bot, state, session, member, settings, clock)


@router.callback_query(
    NewBroadcast.holdout,
    BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.HOLDOUT_PCT),
)
async def holdout_button(
    query: CallbackQuery,
    callback_data: BroadcastWizardCallback,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """A share tapped: kept, then the last look again."""
    await query.answer()
    try:
        pct = parse_holdout(callback_data.value)
    except AbTestError:
        return
    if query.message is not None:
        await _set_holdout(pct, query.message.chat.id, bot, state, session, member, settings, clock)


@router.message(NewBroadcast.holdout, F.text)
async def holdout_typed(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """A share typed: kept, then the last look again (a clear refusal otherwise)."""
    try:
        pct = parse_holdout(message.text or "")
    except AbTestError:
        await message.answer(
            _("Send a whole number from 0 to {max}, like 10.").format(max=HOLDOUT_MAX)
        )
        return
    await _set_holdout(pct, message.chat.id, bot, state, session, member, settings, clock)


@router.callback_query(BroadcastWizardCallback.filter())
async def stale_button(query: CallbackQuery) -> None:
    """A target, Now, Confirm or Send anyway under a question that is not open any more."""
    await query.answer(_(NOT_OPEN), show_alert=True)
