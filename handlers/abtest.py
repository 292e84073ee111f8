"""What a promotion earned, on demand: /broadcast_result ID (also 📈 under a broadcast's status
card) and /care_result ID, for staff. The report after a broadcast's 48 hours is sent by
bot/abtest.py with the same view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.abtest import ResultCallback, result_text
from services.attribution import broadcast_result, care_result
from services.member import MemberView
from services.role import Role
from services.validation import number
from services.zones import staff_zone

router = Router(name="abtest")


class ResultSettings(Protocol):
    """The settings these handlers read (bot.config.Settings provides them)."""

    default_timezone: str
    care_return_days: int


async def _broadcast_text(
    session: AsyncSession,
    member: MemberView,
    settings: ResultSettings,
    now: datetime,
    broadcast_id: int,
) -> str:
    result = await broadcast_result(session, broadcast_id=broadcast_id, now=now)
    if result is None:
        return _("There is no broadcast #{id}.").format(id=broadcast_id)
    zone = staff_zone(member.timezone, settings.default_timezone)
    return result_text(result, locale=member.locale, zone=zone, now=now)


@router.message(Command("broadcast_result"), PRIVATE, RoleFilter(Role.STAFF, "broadcast.result"))
async def broadcast_result_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: ResultSettings,
    clock: Callable[[], datetime],
) -> None:
    """Orders within 48 hours of a broadcast, per variant and against its hold-out."""
    broadcast_id = number(command.args or "")
    if broadcast_id is None:
        await message.answer(_("Send /broadcast_result 12 with the number of the broadcast."))
        return
    await message.answer(await _broadcast_text(session, member, settings, clock(), broadcast_id))


@router.callback_query(ResultCallback.filter(), RoleFilter(Role.STAFF, "broadcast.result"))
async def result_button(
    query: CallbackQuery,
    callback_data: ResultCallback,
    session: AsyncSession,
    member: MemberView,
    settings: ResultSettings,
    clock: Callable[[], datetime],
) -> None:
    """📈 Result under a status card: the result comes as a new message."""
    await query.answer()
    text = await _broadcast_text(session, member, settings, clock(), callback_data.broadcast_id)
    if isinstance(query.message, Message):
        await query.message.answer(text)


@router.message(Command("care_result"), PRIVATE, RoleFilter(Role.STAFF, "care.result"))
async def care_result_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: ResultSettings,
    clock: Callable[[], datetime],
) -> None:
    """Members a care rule won back, per variant against its hold-out, and what it cost."""
    rule_id = number(command.args or "")
    if rule_id is None:
        await message.answer(_("Send /care_result 3 with the number of a rule from /care."))
        return
    now = clock()
    result = await care_result(session, rule_id=rule_id, now=now, days=settings.care_return_days)
    if result is None:
        await message.answer(
            _("There is no care rule #{id}. /care lists them with their numbers.").format(
                id=rule_id
            )
        )
        return
    zone = staff_zone(member.timezone, settings.default_timezone)
    await message.answer(result_text(result, locale=member.locale, zone=zone, now=now))
