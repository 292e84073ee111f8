"""Promotional broadcasts: the staff wizard (/broadcast), community tags (/tag), and members'
consent (/stop, the 🔔 Offers button). Watching and steering them (/broadcasts,
/broadcast_status) is handlers/broadcast_control.py; how staff read them (the last look's
lines, the status card) is handlers/views/broadcast_status.py.

The wizard collects text, photo, button, targets and schedule; the summary shows the message
exactly as members will get it (sent through the same function as the outbox), how many
chats it reaches, the earliest and latest delivery the pacing rules allow, and the compliance
findings. Nothing is stored until Confirm; an override of findings needs a reason (audited),
and is then confirmed like any other broadcast.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.broadcast import (
    LABEL_ROOM,
    BroadcastSettings,
    PromoAction,
    PromoCallback,
    StopPromotionsCallback,
    consent_wording,
    delivery_message,
    offers_screen,
)
from handlers.views.broadcast_status import (
    PROMOTION_SIGNS,
    VARIANT_B_KEY,
    Waker,
    error_text,
    finding_lines,
    local_time,
    plan_lines,
    plan_waits,
    reader_zone,
    send_status,
)
from handlers.views.care import segment_name
from handlers.views.content import (
    OFFER,
    TYPING,
    ContentSteps,
)
from handlers.views.paging import (
    PAGE_SIZE,
    PageCallback,
    page_counter,
    page_row,
)
from handlers.views.perks import tier_name
from handlers.views.text import N_, counted, esc, sentences, unreadable_text
from handlers.views.wizard import NOT_OPEN, Draft, Target, Wizard, read_draft, save_draft
from models.broadcast import (
    HOLDOUT_MAX,
    POST_CONTENT,
    POST_PROMOTION,
    TARGET_COMMUNITY,
    TARGET_EVERYONE,
    TARGET_GROUPS,
    TARGET_MEMBERS,
    TARGET_SEGMENT,
    TARGET_TAG,
    TARGET_TIER,
)
from models.segments import SEGMENTS
from services import broadcast as outbox
from services.abtest import AbTestError, parse_holdout
from services.audit import record_action
from services.community import CommunityView, open_communities
from services.compliance import (
    lint,
)
from services.content import TEXT
from services.groupbuy import get_groupbuy
from services.member import MemberView
from services.parsing import Unreadable, parse_moment, zone_label
from services.role import Role
from services.tiers import list_tiers
from services.validation import number

log = logging.getLogger(__name__)
router = Router(name="broadcast")
# Telegram's limits, less the room the ad label takes in private (views/broadcast.py)
TEXT_MAX = 4096 - LABEL_ROOM
CAPTION_MAX = 1024 - LABEL_ROOM
BUTTON_TEXT_MAX = 64


class Clock(Protocol):
    def __call__(self) -> datetime: ...


# ---------------------------------------------------------------- consent -------------------


def consent_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Yes, send me offers"), callback_data=PromoCallback(action=PromoAction.IN)
    )
    return builder.as_markup()


@router.callback_query(PromoCallback.filter(F.action == PromoAction.ASK))
async def offers_button(query: CallbackQuery, settings: BroadcastSettings) -> None:
    """Shows what opting in means, with the explicit Yes button (under menus sent before the
    menu opened its screens in place)."""
    await query.answer()
    if query.message is not None:
        text = consent_wording().format(count=settings.pacing_rules().member_week_cap)
        await query.message.answer(text, reply_markup=consent_keyboard())


@router.callback_query(PromoCallback.filter(F.action.in_({PromoAction.IN, PromoAction.OUT})))
async def opt_in(
    query: CallbackQuery,
    callback_data: PromoCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Records the member's yes (or, from the offers screen, their stop); the toast says so and
    the message turns into the offers screen as it now stands."""
    opted_in = callback_data.action == PromoAction.IN
    await outbox.set_consent(
        session,
        member_id=member.id,
        opted_in=opted_in,
        wording_version=settings.consent_wording_version,
        now=clock(),
    )
    text, markup = await offers_screen(session, member, settings)
    if opted_in:
        await query.answer(_("Done: you will get our offers. Send /stop to end them."))
    else:
        await query.answer(_("Done: no more offers from us in this chat."))
    if query.message is not None:
        with contextlib.suppress(TelegramBadRequest):  # the same screen tapped twice
            await bot.edit_message_text(
                text=text,
                chat_id=query.message.chat.id,
                message_id=query.message.message_id,
                reply_markup=markup,
            )


STOPPED = N_(
    "Done: no more offers from us in this chat. Group-buys you join still send you "
    "their confirmations. To get offers again, send /start and tap 🔔 Offers."
)


async def _stop(
    session: AsyncSession, member: MemberView, settings: BroadcastSettings, now: datetime
) -> None:
    await outbox.set_consent(
        session,
        member_id=member.id,
        opted_in=False,
        wording_version=settings.consent_wording_version,
        now=now,
    )


@router.message(Command("stop"), PRIVATE)
async def stop(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Opts the member out of private promotions at once."""
    await _stop(session, member, settings, clock())
    await message.answer(_(STOPPED))


@router.callback_query(StopPromotionsCallback.filter())
async def stop_button(
    query: CallbackQuery,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """🔕 Stop promotions under a promotion: the same as /stop, in one tap."""
    await _stop(session, member, settings, clock())
    await query.answer(_("Done: no more offers from us in this chat."))
    if query.message is not None:
        await query.message.answer(_(STOPPED))


# ---------------------------------------------------------------- community tags ------------


@router.message(Command("tag"), ~PRIVATE, RoleFilter(Role.STAFF, "broadcast.tag"))
async def tag_community(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView | None,
) -> None:
    """/tag tea shanghai: labels this group for targeted broadcasts (/tag - clears)."""
    if community is None:
        return
    words = (command.args or "").split()
    if not words:
        tags = await outbox.community_tags(session, community_id=community.id)
        await message.answer(
            _("Tags of this group: {tags}").format(tags=esc(", ".join(tags) or "—"))
            + "\n"
            + _("Send /tag tea shanghai to set them, /tag - to clear them.")
        )
        return
    try:
        tags = await outbox.set_community_tags(
            session, community_id=community.id, tags=[] if words == ["-"] else words
        )
    except outbox.BroadcastError:
        await message.answer(error_text("tag"))
        return
    await message.answer(_("Tags of this group: {tags}").format(tags=esc(", ".join(tags) or "—")))


# ---------------------------------------------------------------- the wizard ----------------


PICK_TIER = "pick_tier"  # a button that opens the list of tiers
PICK_SEGMENT = "pick_segment"  # a button that opens the list of segments
PICK_COMMUNITY = "pick_community"  # a button that opens the list of communities


class NewBroadcast(StatesGroup):
    """The steps of /broadcast, in order."""

    text = State()
    photo = State()
    button = State()
    targets = State()
    tag = State()
    schedule = State()
    confirm = State()
    override = State()
    translate = State()  # "Add a translation?", from the last look (handlers/views/content.py)
    translation = State()  # the text in the chosen language
    variant_b = State()  # an A/B test's second text, from the last look
    holdout = State()  # the share of eligible members held out, from the last look


class BroadcastWizardAction(StrEnum):
    TARGET = "target"  # with `value`
    NOW = "now"
    KIND = "kind"  # with `value`: promotion or content
    OVERRIDE = "override"
    CONFIRM = "confirm"
    VARIANT_B = "variant_b"  # an A/B test's second text
    HOLDOUT = "holdout"  # the share held out, asked
    HOLDOUT_PCT = "holdout_pct"  # with `value`: the share held out


class BroadcastWizardCallback(CallbackData, prefix="bw"):
    """A button of the broadcast wizard's own (Back, Skip and Cancel are the wizards' shared)."""

    action: BroadcastWizardAction
    value: str = ""


WIZARD = Wizard(NewBroadcast, optional=("photo", "button", OFFER, TYPING, "variant_b", "holdout"))


class BroadcastDraft(Draft):
    """What /broadcast has collected so far."""

    text: str | None = None  # Telegram HTML, as members read it
    photo: str | None = None  # its file id
    button_text: str | None = None
    button_url: str | None = None
    button_groupbuy_id: int | None = None  # the button opens this group-buy
    targets: str | None = None  # as outbox.parse_targets reads them
    scheduled_at: datetime | None = None
    post_kind: str = POST_PROMOTION  # or POST_CONTENT: not counted against the caps
    text_b: str | None = None  # an A/B test's variant B
    holdout: int = 0  # the share of members held out, in percent
    findings: int = 0  # how many the lint found on the last look
    override: str | None = None  # why the findings may be ignored (logged)
    # {locale: {field: text}}, kept by the translation steps (handlers/views/content.py)
    translations: dict[str, dict[str, str]] = Field(default_factory=dict)

    def text_limit(self) -> int:
        """How long a text may be: a photo's caption, or a message."""
        return CAPTION_MAX if self.photo else TEXT_MAX


def _wizard_button(
    text: str, action: BroadcastWizardAction, value: str = ""
) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=BroadcastWizardCallback(action=action, value=value).pack()
    )


async def _keyboard(
    state: FSMContext, step: str, rows: list[list[InlineKeyboardButton]] | None = None
) -> InlineKeyboardMarkup:
    """Moves the wizard to `step`: its own buttons with Back / Skip / Cancel under them."""
    back = await WIZARD.enter(state, step)
    above = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    return WIZARD.keyboard(step, back=back, above=above)


def _target_rows() -> list[list[InlineKeyboardButton]]:
    return [
        [_wizard_button(_("All groups"), BroadcastWizardAction.TARGET, TARGET_GROUPS)],
        [_wizard_button(_("Groups with a tag"), BroadcastWizardAction.TARGET, TARGET_TAG)],
        [_wizard_button(_("Members who opted in"), BroadcastWizardAction.TARGET, TARGET_MEMBERS)],
        [
            _wizard_button(
                _("Members of a tier and above…"), BroadcastWizardAction.TARGET, PICK_TIER
            )
        ],
        [_wizard_button(_("Members in a segment…"), BroadcastWizardAction.TARGET, PICK_SEGMENT)],
        [
            _wizard_button(
                _("Members of a community…"), BroadcastWizardAction.TARGET, PICK_COMMUNITY
            )
        ],
        [
            _wizard_button(
                _("Everyone: groups and members"), BroadcastWizardAction.TARGET, TARGET_EVERYONE
            )
        ],
    ]


async def _ask_step(target: Target, step: str, data: dict[str, Any]) -> None:
    """Back: the step's question again (the summary with a fresh preview)."""
    state: FSMContext = data["state"]
    if step in CONTENT.steps:
        await CONTENT.ask(target, step, data)
        return
    if step == "confirm":
        chat_id = target.chat.id
        args = (data["session"], data["member"], data["settings"], data["clock"])
        await _summary(chat_id, data["bot"], state, *args)
        return
    if step == "schedule":
        await _ask_schedule(target, state, zone=reader_zone(data["member"], data["settings"]))
        return
    ask = {
        "text": _ask_text,
        "photo": _ask_photo,
        "button": _ask_button,
        "targets": _ask_targets,
        "tag": _ask_tag,
        "override": _ask_override,
        "variant_b": _ask_variant_b,
        "holdout": _ask_holdout,
    }[step]
    await ask(target, state)


async def _skip_step(target: Target, step: str, data: dict[str, Any]) -> None:
    """Skip: no photo, no button, or no (more) translation; then the next question."""
    state: FSMContext = data["state"]
    if step in CONTENT.steps:
        await CONTENT.skip(target, step, data)
        return
    draft = await read_draft(state, BroadcastDraft)
    if step in ("variant_b", "holdout"):
        # no variant B, or no hold-out; then the last look again
        if step == "variant_b":
            draft.text_b = None
        else:
            draft.holdout = 0
        await save_draft(state, draft)
        await _ask_step(target, "confirm", data)
    elif step == "photo":
        draft.photo = None
        await save_draft(state, draft)
        await _ask_button(target, state)
    else:
        draft.button_text = draft.button_url = draft.button_groupbuy_id = None
        await save_draft(state, draft)
        await _ask_targets(target, state)


def _text_limit(data: dict[str, Any], field: str) -> int:
    """A translation fits where the original goes: a photo's caption, or a message (`data`: the
    wizard's FSM data, as the translation steps give it)."""
    return BroadcastDraft.model_validate(data).text_limit()


async def _after_translations(target: Target, data: dict[str, Any]) -> None:
    """Done with the translations: the last look again, a preview and the findings for each
    language."""
    await _ask_step(target, "confirm", data)


CONTENT = ContentSteps(
    WIZARD, (TEXT,), confirm="confirm", after=_after_translations, limit=_text_limit
)
WIZARD.register(router, ask=_ask_step, skip=_skip_step)
CONTENT.register(router)


@router.message(Command("broadcast"), PRIVATE, RoleFilter(Role.STAFF, "broadcast.create"))
async def start_wizard(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Step 1: the text (or `/broadcast status ID`)."""
    words = (command.args or "").split()
    if words[:1] == ["status"]:
        await send_status(message, session, member, settings, clock, words[1:])
        return
    await state.clear()
    await _ask_text(message, state)


async def _ask_text(target: Target, state: FSMContext) -> None:
    await target.answer(
        _(
            "New broadcast. Send the message as members should see it: bold, italic and links "
            "are kept, and so is Telegram HTML typed as text. (/cancel to stop)"
        ),
        reply_markup=await _keyboard(state, "text"),
    )


@router.message(NewBroadcast.text, F.text)
async def got_text(message: Message, state: FSMContext, bot: Bot) -> None:
    """Step 2: the photo. The text is checked by sending it back exactly as it will go out."""
    body = await _checked_text(message, bot, TEXT_MAX)
    if body is None:
        return
    draft = await read_draft(state, BroadcastDraft)
    draft.text = body
    await save_draft(state, draft)
    await _ask_photo(message, state)


async def _checked_text(message: Message, bot: Bot, limit: int) -> str | None:
    """The message as Telegram HTML, once it fits `limit` and Telegram read it back (sent to
    the author as it will go out); None, with the reason said, otherwise."""
    text = message.text or ""
    if text.startswith("/"):
        return None
    body = message.html_text if message.entities else text
    if len(body) > limit:
        await message.answer(
            _("That is {length}, but at most {limit} fit. Send a shorter one.").format(
                length=counted("character", len(body)), limit=limit
            )
        )
        return None
    try:
        await bot.send_message(message.chat.id, body)
    except TelegramBadRequest as exc:
        await message.answer(
            _("Telegram cannot read that formatting: {error}. Send the message again.").format(
                error=esc(exc.message)
            )
        )
        return None
    return body


async def _ask_photo(target: Target, state: FSMContext) -> None:
    await target.answer(
        _("Above is how it will look. Add a photo? Send one, or skip."),
        reply_markup=await _keyboard(state, "photo"),
    )


@router.message(NewBroadcast.photo, F.photo)
async def got_photo(message: Message, state: FSMContext) -> None:
    """Step 3 (with a photo): the button."""
    assert message.photo
    draft = await read_draft(state, BroadcastDraft)
    text = draft.text or ""  # asked first
    if len(text) > CAPTION_MAX:
        await message.answer(
            _(
                "With a photo the text can be at most {limit}; yours has {length}. "
                "Skip the photo, or /cancel and start with a shorter text."
            ).format(limit=counted("character", CAPTION_MAX), length=len(text)),
            reply_markup=await _keyboard(state, "photo"),
        )
        return
    draft.photo = message.photo[-1].file_id
    await save_draft(state, draft)
    await _ask_button(message, state)


async def _ask_button(target: Target, state: FSMContext) -> None:
    await target.answer(
        _(
            "A button under it? Send Label | https://link, or Label | groupbuy 12 to open a "
            "group-buy, or skip."
        ),
        reply_markup=await _keyboard(state, "button"),
    )


@router.message(NewBroadcast.button, F.text)
async def got_button(message: Message, state: FSMContext, session: AsyncSession) -> None:
    """Step 4: whom it goes to."""
    label, sep, target = (message.text or "").partition("|")
    label, target = label.strip(), target.strip()
    usage = _("Send Label | https://link, or Label | groupbuy 12 to open a group-buy, or skip.")
    if not sep or not label or len(label) > BUTTON_TEXT_MAX:
        await message.answer(usage, reply_markup=await _keyboard(state, "button"))
        return
    words = target.split()
    groupbuy_id = number(words[1]) if len(words) == 2 else None
    if groupbuy_id is not None and words[0].lower() == "groupbuy":
        groupbuy = await get_groupbuy(session, groupbuy_id)
        if groupbuy is None:
            await message.answer(
                _("There is no group-buy #{id}.").format(id=esc(words[1])),
                reply_markup=await _keyboard(state, "button"),
            )
            return
        draft = await read_draft(state, BroadcastDraft)
        draft.button_text, draft.button_groupbuy_id = label, groupbuy.id
    elif target.startswith(("https://", "http://", "tg://")) and len(target) <= 512:
        draft = await read_draft(state, BroadcastDraft)
        draft.button_text, draft.button_url = label, target
    else:
        await message.answer(usage, reply_markup=await _keyboard(state, "button"))
        return
    await save_draft(state, draft)
    await _ask_targets(message, state)


async def _ask_targets(target: Target, state: FSMContext) -> None:
    await target.answer(
        _("Who gets it?"), reply_markup=await _keyboard(state, "targets", _target_rows())
    )


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
        await _ask_tag(query.message, state)
        return
    if callback_data.value == PICK_TIER:
        rows = [
            [
                _wizard_button(
                    tier_name(tier), BroadcastWizardAction.TARGET, f"{TARGET_TIER}.{tier.rank}"
                )
            ]
            for tier in await list_tiers(session)
        ]
        await query.message.answer(
            _("Members of which tier (and above)? Only those who opted in get it."),
            reply_markup=await _keyboard(state, "targets", rows),
        )
        return
    if callback_data.value == PICK_SEGMENT:
        rows = [
            [
                _wizard_button(
                    segment_name(segment),
                    BroadcastWizardAction.TARGET,
                    f"{TARGET_SEGMENT}.{segment}",
                )
            ]
            for segment in SEGMENTS
        ]
        await query.message.answer(
            _("Members in which segment? Only those who opted in get it."),
            reply_markup=await _keyboard(state, "targets", rows),
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
            error_text("targets"), reply_markup=await _keyboard(state, "targets", _target_rows())
        )
        return
    draft = await read_draft(state, BroadcastDraft)
    draft.targets = targets
    await save_draft(state, draft)
    await _ask_schedule(query.message, state, zone=reader_zone(member, settings))


COMMUNITY_PICKER = "bw_community"  # the pages of the wizard's community picker


async def _community_picker(
    session: AsyncSession, state: FSMContext, offset: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The question "which community?" with a page of the open groups, their count, Back /
    More and the wizard's buttons; the choice of targets again when the bot is in no open
    group."""
    page = await open_communities(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        return _("The bot is in no group yet."), await _keyboard(state, "targets", _target_rows())
    rows = [
        [
            _wizard_button(
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
    return text + "\n" + counter, await _keyboard(state, "targets", rows)


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
    draft = await read_draft(state, BroadcastDraft)
    draft.targets = targets
    await save_draft(state, draft)
    await _ask_schedule(message, state, zone=reader_zone(member, settings))


async def _ask_tag(target: Target, state: FSMContext) -> None:
    await target.answer(
        _("Which tag? For example: tea"), reply_markup=await _keyboard(state, "tag")
    )


async def _ask_schedule(target: Target, state: FSMContext, *, zone: str) -> None:
    """The schedule question, naming the zone a typed time is read in (the staff member's
    pick, else the brand's)."""
    await target.answer(
        _("When? Tap Now, or send a time like 2026-12-01 10:00 (your time zone, {zone}).").format(
            zone=esc(zone_label(zone))
        ),
        reply_markup=await _keyboard(
            state, "schedule", [[_wizard_button(_("Now"), BroadcastWizardAction.NOW)]]
        ),
    )


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
        await _summary(query.message.chat.id, bot, state, session, member, settings, clock)


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
    await _summary(message.chat.id, bot, state, session, member, settings, clock)


def _draft(saved: BroadcastDraft, member: MemberView, settings: BroadcastSettings) -> outbox.Draft:
    """The broadcast as the outbox takes it, from what the wizard collected."""
    kind = saved.post_kind
    # the text, the targets and the time are asked before the last look
    assert saved.text is not None and saved.targets is not None
    assert saved.scheduled_at is not None
    return outbox.Draft(
        text=saved.text,
        targets=saved.targets,
        scheduled_at=saved.scheduled_at,
        created_by=member.id,
        photo_file_id=saved.photo,
        button_text=saved.button_text,
        button_url=saved.button_url,
        button_groupbuy_id=saved.button_groupbuy_id,
        paid=settings.broadcast_paid,
        translations=saved.translations,
        post_kind=kind,
        # an A/B test is of a promotion (content is not measured by orders)
        text_b=(saved.text_b or None) if kind == POST_PROMOTION else None,
        holdout_pct=saved.holdout if kind == POST_PROMOTION else 0,
    )


async def _summary(
    chat_id: int,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """The preview exactly as members get it, then counts, delivery window and findings."""
    saved = await read_draft(state, BroadcastDraft)
    draft = _draft(saved, member, settings)
    plan = await _plan(session, draft, settings, start=max(draft.scheduled_at, clock()))
    # every language's text (and variant B) is linted the same way, and previewed as it goes
    texts = draft.texts() | ({VARIANT_B_KEY: draft.text_b} if draft.text_b else {})
    linted = {
        locale: lint(
            text,
            extra_words=settings.compliance_extra_words,
            drop=draft.button_groupbuy_id is not None,
        )
        for locale, text in texts.items()
    }
    findings = [finding for found in linted.values() for finding in found]
    saved.findings = len(findings)
    await save_draft(state, saved)
    await _previews(chat_id, bot, draft, texts, settings)
    lines = plan_lines(plan, draft, member, settings)
    content = draft.post_kind == POST_CONTENT
    signs = outbox.content_findings(draft) if content else []
    lines.append(
        _("Kind: content, not counted against the weekly caps.")
        if content
        else _("Kind: promotion, counted against each chat's weekly cap and labelled.")
    )
    buttons: list[list[InlineKeyboardButton]]
    if signs:
        # refused as content, with the reasons; offered as a promotion
        lines.append("")
        lines.append(_("⛔ It reads as a promotion, so it cannot go as content:"))
        for sign in signs:
            lines.append("• " + _(PROMOTION_SIGNS[sign.kind]).format(word=esc(sign.word)))
        buttons = [
            [
                _wizard_button(
                    _("📣 Send as a promotion"), BroadcastWizardAction.KIND, POST_PROMOTION
                )
            ]
        ]
        if plan.recipients == 0:
            buttons = []
        await bot.send_message(
            chat_id, "\n".join(lines), reply_markup=await _keyboard(state, "confirm", buttons)
        )
        return
    if findings:
        lines += finding_lines(findings, linted, texts)
        buttons = [[_wizard_button(_("⚠️ Send anyway"), BroadcastWizardAction.OVERRIDE)]]
    else:
        buttons = [[_wizard_button(_("✅ Confirm"), BroadcastWizardAction.CONFIRM)]]
    buttons += _other_choices(content, plan.members)
    if plan.recipients == 0:
        buttons = []
    await bot.send_message(
        chat_id, "\n".join(lines), reply_markup=await _keyboard(state, "confirm", buttons)
    )


async def _plan(
    session: AsyncSession, draft: outbox.Draft, settings: BroadcastSettings, *, start: datetime
) -> outbox.PlanSummary:
    """Who the draft would reach and when, if it went out from `start`."""
    rows = await outbox.plan_rows(
        session,
        targets=draft.targets,
        start=start,
        rules=settings.pacing_rules(),
        default_timezone=settings.default_timezone,
        post_kind=draft.post_kind,
    )
    return outbox.summarize(rows, start=start)


async def _previews(
    chat_id: int, bot: Bot, draft: outbox.Draft, texts: dict[str, str], settings: BroadcastSettings
) -> None:
    """Each text (every language, variant B) sent to staff exactly as members get it."""
    for text in texts.values():
        preview = outbox.Delivery(
            row_id=0,
            broadcast_id=0,
            chat_id=chat_id,
            kind="private",
            attempts=0,
            text=text,
            photo_file_id=draft.photo_file_id,
            button_text=draft.button_text,
            button_url=draft.button_url,
            button_groupbuy_id=draft.button_groupbuy_id,
            paid=False,  # the preview to staff is never a paid message
        )
        try:
            await bot(delivery_message(preview, brand=settings.brand_name))
        except TelegramAPIError as exc:
            log.info("broadcast preview failed: %s", exc)


def _other_choices(content: bool, members: int) -> list[list[InlineKeyboardButton]]:
    """Below Confirm: the other kind, variant B and hold-out (a promotion to members only),
    and the texts in other languages."""
    buttons = [
        [
            _wizard_button(_("📣 Send as a promotion"), BroadcastWizardAction.KIND, POST_PROMOTION)
            if content
            else _wizard_button(
                _("📚 Send as content (not counted)"), BroadcastWizardAction.KIND, POST_CONTENT
            )
        ]
    ]
    if not content and members:
        buttons.append(
            [
                _wizard_button(_("🅱️ Variant B"), BroadcastWizardAction.VARIANT_B),
                _wizard_button(_("🎯 Hold-out"), BroadcastWizardAction.HOLDOUT),
            ]
        )
    buttons.append([CONTENT.button()])
    return buttons


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
    await _summary(query.message.chat.id, bot, state, session, member, settings, clock)


@router.callback_query(
    NewBroadcast.confirm,
    BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.OVERRIDE),
)
async def ask_override(query: CallbackQuery, state: FSMContext) -> None:
    """Asks why the findings may be ignored."""
    await query.answer()
    if query.message is not None:
        await _ask_override(query.message, state)


async def _ask_override(target: Target, state: FSMContext) -> None:
    await target.answer(
        _("Why may it go out as it is? The reason is logged."),
        reply_markup=await _keyboard(state, "override"),
    )


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
        reply_markup=await _keyboard(
            state, "confirm", [[_wizard_button(_("✅ Confirm"), BroadcastWizardAction.CONFIRM)]]
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
    draft = _draft(saved, member, settings)
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
    await query.answer()
    if query.message is not None:
        await _ask_variant_b(query.message, state)


async def _ask_variant_b(target: Target, state: FSMContext) -> None:
    await target.answer(
        _(
            "Send variant B: a second text for the same offer. Members who get it in private "
            "are split at random between the two, and the report says which sold better. "
            "Skip to test without one."
        ),
        reply_markup=await _keyboard(state, "variant_b"),
    )


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
    body = await _checked_text(message, bot, draft.text_limit())
    if body is None:
        return
    draft.text_b = body
    await save_draft(state, draft)
    await _summary(message.chat.id, bot, state, session, member, settings, clock)


HOLDOUT_CHOICES = (0, 5, 10, 20)


@router.callback_query(
    NewBroadcast.confirm, BroadcastWizardCallback.filter(F.action == BroadcastWizardAction.HOLDOUT)
)
async def ask_holdout(query: CallbackQuery, state: FSMContext) -> None:
    """🎯 Hold-out on the last look: asks for the share held out."""
    await query.answer()
    if query.message is not None:
        await _ask_holdout(query.message, state)


async def _ask_holdout(target: Target, state: FSMContext) -> None:
    rows = [
        [
            _wizard_button(f"{pct}%", BroadcastWizardAction.HOLDOUT_PCT, str(pct))
            for pct in HOLDOUT_CHOICES
        ]
    ]
    await target.answer(
        _(
            "Hold out some members for comparison? They are recorded but get nothing, and "
            "their orders show what the broadcast added. Tap a share or send a number from "
            "0 to {max}."
        ).format(max=HOLDOUT_MAX),
        reply_markup=await _keyboard(state, "holdout", rows),
    )


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
    await _summary(chat_id, bot, state, session, member, settings, clock)


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


@router.message(NewBroadcast.photo)
async def not_a_photo(message: Message, state: FSMContext) -> None:
    """Asks again for a photo."""
    await _ask_photo(message, state)
