"""Promotional broadcasts: the staff wizard (/broadcast) up to its button step, community tags
(/tag), and members' consent (/stop, the 🔔 Offers button). The wizard's second half (whom,
when, the last look and Confirm) is handlers/broadcast_send.py, its steps and questions
handlers/views/broadcast_wizard.py; watching and steering broadcasts (/broadcasts,
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
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.broadcast import (
    BroadcastSettings,
    PromoAction,
    PromoCallback,
    StopPromotionsCallback,
    consent_wording,
    offers_screen,
)
from handlers.views.broadcast_status import error_text, send_status
from handlers.views.broadcast_wizard import (
    BUTTON_TEXT_MAX,
    CAPTION_MAX,
    CONTENT,
    TEXT_MAX,
    WIZARD,
    BroadcastDraft,
    Clock,
    NewBroadcast,
    ask_button,
    ask_photo,
    ask_step,
    ask_targets,
    ask_text,
    checked_text,
    skip_step,
    step_keyboard,
)
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import N_, counted, esc
from handlers.views.wizard import read_draft, save_draft
from services import broadcast as outbox
from services.community import CommunityView
from services.groupbuy import get_groupbuy
from services.member import MemberView
from services.role import Role
from services.validation import number

router = Router(name="broadcast")


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
    await _set_consent(session, member, settings, clock(), opted_in=opted_in)
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


async def _set_consent(
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    now: datetime,
    *,
    opted_in: bool,
) -> None:
    """Records the member's yes or stop to private promotions, under today's wording."""
    await outbox.set_consent(
        session,
        member_id=member.id,
        opted_in=opted_in,
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
    await _set_consent(session, member, settings, clock(), opted_in=False)
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
    await _set_consent(session, member, settings, clock(), opted_in=False)
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
            _tags_line(tags) + "\n" + _("Send /tag tea shanghai to set them, /tag - to clear them.")
        )
        return
    try:
        tags = await outbox.set_community_tags(
            session, community_id=community.id, tags=[] if words == ["-"] else words
        )
    except outbox.BroadcastError:
        await message.answer(error_text("tag"))
        return
    await message.answer(_tags_line(tags))


def _tags_line(tags: list[str]) -> str:
    """This group's tags in one line (— for none)."""
    return _("Tags of this group: {tags}").format(tags=esc(", ".join(tags) or "—"))


# ---------------------------------------------------------------- the wizard's first half ----


WIZARD.register(router, ask=ask_step, skip=skip_step)
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
    await ask_text(message, state)


@router.message(NewBroadcast.text, F.text)
async def got_text(message: Message, state: FSMContext, bot: Bot) -> None:
    """Step 2: the photo. The text is checked by sending it back exactly as it will go out."""
    body = await checked_text(message, bot, TEXT_MAX)
    if body is None:
        return
    draft = await read_draft(state, BroadcastDraft)
    draft.text = body
    await save_draft(state, draft)
    await ask_photo(message, state)


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
            reply_markup=await step_keyboard(state, "photo"),
        )
        return
    draft.photo = message.photo[-1].file_id
    await save_draft(state, draft)
    await ask_button(message, state)


@router.message(NewBroadcast.button, F.text)
async def got_button(message: Message, state: FSMContext, session: AsyncSession) -> None:
    """Step 4: whom it goes to."""
    label, sep, target = (message.text or "").partition("|")
    label, target = label.strip(), target.strip()
    usage = _("Send Label | https://link, or Label | groupbuy 12 to open a group-buy, or skip.")
    if not sep or not label or len(label) > BUTTON_TEXT_MAX:
        await message.answer(usage, reply_markup=await step_keyboard(state, "button"))
        return
    words = target.split()
    groupbuy_id = number(words[1]) if len(words) == 2 else None
    if groupbuy_id is not None and words[0].lower() == "groupbuy":
        groupbuy = await get_groupbuy(session, groupbuy_id)
        if groupbuy is None:
            await message.answer(
                _("There is no group-buy #{id}.").format(id=esc(words[1])),
                reply_markup=await step_keyboard(state, "button"),
            )
            return
        draft = await read_draft(state, BroadcastDraft)  # one button: it replaces a link
        draft.button_text, draft.button_groupbuy_id, draft.button_url = label, groupbuy.id, None
    elif target.startswith(("https://", "http://", "tg://")) and len(target) <= 512:
        draft = await read_draft(state, BroadcastDraft)  # one button: it replaces a group-buy
        draft.button_text, draft.button_url, draft.button_groupbuy_id = label, target, None
    else:
        await message.answer(usage, reply_markup=await step_keyboard(state, "button"))
        return
    await save_draft(state, draft)
    await ask_targets(message, state)


@router.message(NewBroadcast.photo)
async def not_a_photo(message: Message, state: FSMContext) -> None:
    """Asks again for a photo."""
    await ask_photo(message, state)
