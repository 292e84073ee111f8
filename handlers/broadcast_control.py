"""Staff watch and steer the broadcasts: /broadcasts (a card each, a page at a time),
/broadcast_status ID and the pause / resume / cancel buttons under each card. The cards are
rendered in handlers/views/broadcast_status.py; the wizard that makes a broadcast is
handlers/broadcast.py."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.broadcast import BroadcastSettings
from handlers.views.broadcast_status import (
    BroadcastControlCallback,
    Waker,
    error_text,
    send_status,
    status_card,
)
from handlers.views.labels import BROADCAST_STATUS, label
from handlers.views.paging import PAGE_SIZE, PageCallback, send_footer, turn_card_page
from models.base import Clock
from services import broadcast as outbox
from services.audit import record_action
from services.member import MemberView
from services.role import Role

router = Router(name="broadcast_control")


@router.message(Command("broadcasts"), PRIVATE, RoleFilter(Role.STAFF, "broadcast.list"))
async def list_broadcasts(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """The broadcasts, newest first, one message each with its controls, a page at a time."""
    await send_broadcast_cards(message, session, member, settings, clock, 0)


async def send_broadcast_cards(
    target: Message,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
    offset: int,
) -> None:
    """A page of broadcasts, one message each with its controls; when there are more, a line
    that counts them with More."""
    page = await outbox.broadcast_page(session, limit=PAGE_SIZE, offset=offset)
    if not page.total:
        await target.answer(_("No broadcasts yet. /broadcast starts one."))
        return
    for view in page.items:
        text, markup = await status_card(session, view, member, settings, clock())
        await target.answer(text, reply_markup=markup)
    await send_footer(target, _("Broadcasts: {counter}"), "broadcasts", page)


@router.callback_query(
    PageCallback.filter(F.name == "broadcasts"), RoleFilter(Role.STAFF, "broadcast.list")
)
async def broadcasts_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """More (or Back) under /broadcasts: the other broadcasts come as new messages."""
    await query.answer()
    if await turn_card_page(query.message):
        assert isinstance(query.message, Message)
        await send_broadcast_cards(
            query.message, session, member, settings, clock, callback_data.offset
        )


@router.message(Command("broadcast_status"), PRIVATE, RoleFilter(Role.STAFF, "broadcast.status"))
async def broadcast_status(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
) -> None:
    """Sent, deferred, skipped and failed rows of one broadcast, and its estimated finish."""
    await send_status(message, session, member, settings, clock, (command.args or "").split())


@router.callback_query(
    BroadcastControlCallback.filter(),
    RoleFilter(Role.STAFF, "broadcast.control"),
)
async def control_button(
    query: CallbackQuery,
    callback_data: BroadcastControlCallback,
    session: AsyncSession,
    member: MemberView,
    settings: BroadcastSettings,
    clock: Clock,
    broadcaster: Waker,
) -> None:
    """Pauses, resumes or cancels a broadcast, and shows where it stands."""
    try:
        await outbox.control(
            session,
            broadcast_id=callback_data.broadcast_id,
            action=callback_data.action,
            now=clock(),
        )
    except outbox.BroadcastError as exc:
        view = await outbox.progress(session, broadcast_id=callback_data.broadcast_id)
        status = label(BROADCAST_STATUS, view.status) if view else ""
        await query.answer(
            error_text(exc.code).format(id=callback_data.broadcast_id, status=status),
            show_alert=True,
        )
        return
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action=f"broadcast.{callback_data.action}",
        allowed=True,
        now=clock(),
        required_role="staff",
        detail=f"#{callback_data.broadcast_id}",
    )
    broadcaster.wake()
    await query.answer(_("Saved."))
    view = await outbox.progress(session, broadcast_id=callback_data.broadcast_id)
    if view is not None and isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # the text did not change
            text, markup = await status_card(session, view, member, settings, clock())
            await query.message.edit_text(text, reply_markup=markup)
