"""The member's own settings in chat: their time zone (/timezone)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.text import HandlerSettings, esc, sentences, unreadable_text
from services.community import InvalidTimezone, parse_timezone
from services.member import MemberView, set_member_timezone
from services.parsing import zone_label
from services.zones import home_group_zones, member_zone

router = Router(name="member")


@router.message(Command("timezone"), PRIVATE)
async def timezone_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Shows or sets the member's own time zone (private times, check-in days, birthdays)."""
    value = (command.args or "").strip()
    if not value and member.timezone:
        await message.answer(
            _("Your time zone: {timezone}. Change it with /timezone Asia/Shanghai.").format(
                timezone=esc(zone_label(member.timezone))
            )
        )
        return
    if not value:
        group = (await home_group_zones(session, [member.id])).get(member.id)
        used = member_zone(None, group, settings.default_timezone)
        text = (
            _("You have not set a time zone, so I show you times in {timezone}, your group's.")
            if group
            else _("You have not set a time zone, so I show you times in {timezone}, the brand's.")
        )
        await message.answer(
            sentences(
                text.format(timezone=esc(zone_label(used))),
                _("Set yours with /timezone Asia/Shanghai or /timezone UTC+8."),
            )
        )
        return
    try:
        name = parse_timezone(value)
    except InvalidTimezone:
        await message.answer(unreadable_text("zone", value))
        return
    await set_member_timezone(session, member_id=member.id, timezone=name)
    await message.answer(_("Your time zone is now {timezone}.").format(timezone=zone_label(name)))
