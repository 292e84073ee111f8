"""The /broadcast wizard itself, shared by the two routers that take its answers
(handlers/broadcast.py: the text, photo and button; handlers/broadcast_send.py: whom, when and
the last look): its steps, its buttons, its draft, each step's question, and the last look
(the preview exactly as members get it, then whom it reaches, when, and the findings)."""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.broadcast import LABEL_ROOM, BroadcastSettings, delivery_message
from handlers.views.broadcast_status import (
    PROMOTION_SIGNS,
    VARIANT_B_KEY,
    finding_lines,
    plan_lines,
    reader_zone,
)
from handlers.views.content import OFFER, TYPING, ContentSteps
from handlers.views.text import counted, esc
from handlers.views.wizard import Draft, Target, Wizard, read_draft, save_draft
from models.broadcast import (
    HOLDOUT_MAX,
    POST_CONTENT,
    POST_PROMOTION,
    TARGET_EVERYONE,
    TARGET_GROUPS,
    TARGET_MEMBERS,
    TARGET_TAG,
)
from services import broadcast as outbox
from services.compliance import lint
from services.content import TEXT
from services.member import MemberView
from services.parsing import zone_label

log = logging.getLogger(__name__)
# Telegram's limits, less the room the ad label takes in private (views/broadcast.py)
TEXT_MAX = 4096 - LABEL_ROOM
CAPTION_MAX = 1024 - LABEL_ROOM
BUTTON_TEXT_MAX = 64


class Clock(Protocol):
    """What handlers call for the current moment."""

    def __call__(self) -> datetime: ...


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


def wizard_button(
    text: str, action: BroadcastWizardAction, value: str = ""
) -> InlineKeyboardButton:
    """A button of the wizard's own, carrying its action (and value)."""
    return InlineKeyboardButton(
        text=text, callback_data=BroadcastWizardCallback(action=action, value=value).pack()
    )


async def step_keyboard(
    state: FSMContext, step: str, rows: list[list[InlineKeyboardButton]] | None = None
) -> InlineKeyboardMarkup:
    """Moves the wizard to `step`: its own buttons with Back / Skip / Cancel under them."""
    back = await WIZARD.enter(state, step)
    above = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    return WIZARD.keyboard(step, back=back, above=above)


def target_rows() -> list[list[InlineKeyboardButton]]:
    """The buttons that pick who gets the broadcast."""
    return [
        [wizard_button(_("All groups"), BroadcastWizardAction.TARGET, TARGET_GROUPS)],
        [wizard_button(_("Groups with a tag"), BroadcastWizardAction.TARGET, TARGET_TAG)],
        [wizard_button(_("Members who opted in"), BroadcastWizardAction.TARGET, TARGET_MEMBERS)],
        [wizard_button(_("Members of a tier and above…"), BroadcastWizardAction.TARGET, PICK_TIER)],
        [wizard_button(_("Members in a segment…"), BroadcastWizardAction.TARGET, PICK_SEGMENT)],
        [wizard_button(_("Members of a community…"), BroadcastWizardAction.TARGET, PICK_COMMUNITY)],
        [
            wizard_button(
                _("Everyone: groups and members"), BroadcastWizardAction.TARGET, TARGET_EVERYONE
            )
        ],
    ]


async def ask_step(target: Target, step: str, data: dict[str, Any]) -> None:
    """Back: the step's question again (the summary with a fresh preview)."""
    state: FSMContext = data["state"]
    if step in CONTENT.steps:
        await CONTENT.ask(target, step, data)
        return
    if step == "confirm":
        chat_id = target.chat.id
        args = (data["session"], data["member"], data["settings"], data["clock"])
        await last_look(chat_id, data["bot"], state, *args)
        return
    if step == "schedule":
        await ask_schedule(target, state, zone=reader_zone(data["member"], data["settings"]))
        return
    ask = {
        "text": ask_text,
        "photo": ask_photo,
        "button": ask_button,
        "targets": ask_targets,
        "tag": ask_tag,
        "override": ask_override_reason,
        "variant_b": ask_variant_b_text,
        "holdout": ask_holdout_share,
    }[step]
    await ask(target, state)


async def skip_step(target: Target, step: str, data: dict[str, Any]) -> None:
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
        await ask_step(target, "confirm", data)
    elif step == "photo":
        draft.photo = None
        await save_draft(state, draft)
        await ask_button(target, state)
    else:
        draft.button_text = draft.button_url = draft.button_groupbuy_id = None
        await save_draft(state, draft)
        await ask_targets(target, state)


def _text_limit(data: dict[str, Any], field: str) -> int:
    """A translation fits where the original goes: a photo's caption, or a message (`data`: the
    wizard's FSM data, as the translation steps give it)."""
    return BroadcastDraft.model_validate(data).text_limit()


async def _after_translations(target: Target, data: dict[str, Any]) -> None:
    """Done with the translations: the last look again, a preview and the findings for each
    language."""
    await ask_step(target, "confirm", data)


CONTENT = ContentSteps(
    WIZARD, (TEXT,), confirm="confirm", after=_after_translations, limit=_text_limit
)


async def ask_text(target: Target, state: FSMContext) -> None:
    """Step 1's question: the text, as members should see it."""
    await target.answer(
        _(
            "New broadcast. Send the message as members should see it: bold, italic and links "
            "are kept, and so is Telegram HTML typed as text. (/cancel to stop)"
        ),
        reply_markup=await step_keyboard(state, "text"),
    )


async def checked_text(message: Message, bot: Bot, limit: int) -> str | None:
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


async def ask_photo(target: Target, state: FSMContext) -> None:
    """The photo question (skippable)."""
    await target.answer(
        _("Above is how it will look. Add a photo? Send one, or skip."),
        reply_markup=await step_keyboard(state, "photo"),
    )


async def ask_button(target: Target, state: FSMContext) -> None:
    """The button question: a link or a group-buy (skippable)."""
    await target.answer(
        _(
            "A button under it? Send Label | https://link, or Label | groupbuy 12 to open a "
            "group-buy, or skip."
        ),
        reply_markup=await step_keyboard(state, "button"),
    )


async def ask_targets(target: Target, state: FSMContext) -> None:
    """Who gets it, with the target buttons."""
    await target.answer(
        _("Who gets it?"), reply_markup=await step_keyboard(state, "targets", target_rows())
    )


async def ask_tag(target: Target, state: FSMContext) -> None:
    """Which community tag, for "Groups with a tag"."""
    await target.answer(
        _("Which tag? For example: tea"), reply_markup=await step_keyboard(state, "tag")
    )


async def ask_schedule(target: Target, state: FSMContext, *, zone: str) -> None:
    """The schedule question, naming the zone a typed time is read in (the staff member's
    pick, else the brand's)."""
    await target.answer(
        _("When? Tap Now, or send a time like 2026-12-01 10:00 (your time zone, {zone}).").format(
            zone=esc(zone_label(zone))
        ),
        reply_markup=await step_keyboard(
            state, "schedule", [[wizard_button(_("Now"), BroadcastWizardAction.NOW)]]
        ),
    )


def outbox_draft(
    saved: BroadcastDraft, member: MemberView, settings: BroadcastSettings
) -> outbox.Draft:
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


async def last_look(
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
    draft = outbox_draft(saved, member, settings)
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
            [wizard_button(_("📣 Send as a promotion"), BroadcastWizardAction.KIND, POST_PROMOTION)]
        ]
        if plan.recipients == 0:
            buttons = []
        await bot.send_message(
            chat_id, "\n".join(lines), reply_markup=await step_keyboard(state, "confirm", buttons)
        )
        return
    if findings:
        lines += finding_lines(findings, linted, texts)
        buttons = [[wizard_button(_("⚠️ Send anyway"), BroadcastWizardAction.OVERRIDE)]]
    else:
        buttons = [[wizard_button(_("✅ Confirm"), BroadcastWizardAction.CONFIRM)]]
    buttons += _other_choices(content, plan.members)
    if plan.recipients == 0:
        buttons = []
    await bot.send_message(
        chat_id, "\n".join(lines), reply_markup=await step_keyboard(state, "confirm", buttons)
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
            wizard_button(_("📣 Send as a promotion"), BroadcastWizardAction.KIND, POST_PROMOTION)
            if content
            else wizard_button(
                _("📚 Send as content (not counted)"), BroadcastWizardAction.KIND, POST_CONTENT
            )
        ]
    ]
    if not content and members:
        buttons.append(
            [
                wizard_button(_("🅱️ Variant B"), BroadcastWizardAction.VARIANT_B),
                wizard_button(_("🎯 Hold-out"), BroadcastWizardAction.HOLDOUT),
            ]
        )
    buttons.append([CONTENT.button()])
    return buttons


async def ask_override_reason(target: Target, state: FSMContext) -> None:
    """Why the texts may go out despite the findings (logged)."""
    await target.answer(
        _("Why may it go out as it is? The reason is logged."),
        reply_markup=await step_keyboard(state, "override"),
    )


async def ask_variant_b_text(target: Target, state: FSMContext) -> None:
    """An A/B test's variant B (skippable)."""
    await target.answer(
        _(
            "Send variant B: a second text for the same offer. Members who get it in private "
            "are split at random between the two, and the report says which sold better. "
            "Skip to test without one."
        ),
        reply_markup=await step_keyboard(state, "variant_b"),
    )


HOLDOUT_CHOICES = (0, 5, 10, 20)


async def ask_holdout_share(target: Target, state: FSMContext) -> None:
    """The share of members held out of an A/B test, with the usual choices."""
    rows = [
        [
            wizard_button(f"{pct}%", BroadcastWizardAction.HOLDOUT_PCT, str(pct))
            for pct in HOLDOUT_CHOICES
        ]
    ]
    await target.answer(
        _(
            "Hold out some members for comparison? They are recorded but get nothing, and "
            "their orders show what the broadcast added. Tap a share or send a number from "
            "0 to {max}."
        ).format(max=HOLDOUT_MAX),
        reply_markup=await step_keyboard(state, "holdout", rows),
    )
