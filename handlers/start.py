"""The private-chat entry points: /start with the main menu (its screens: handlers/menu.py),
/help, /cancel."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.commands import refresh_private_menu
from handlers.views.groupbuy_join import start_on_groupbuy
from handlers.views.menu import menu_keyboard, menu_text, with_back
from handlers.views.pickup import show_sheet
from handlers.views.referral import start_with_code
from handlers.views.start import help_text
from handlers.views.text import CommitHook, HandlerSettings, pages_of_lines
from models.base import Clock
from services.community import CommunityView
from services.member import MemberView
from services.referral import groupbuy_of_start_parameter, sheet_of_start_parameter

router = Router(name="start")


@router.message(CommandStart(), PRIVATE)
async def start(
    message: Message,
    bot: Bot,
    i18n: I18n,
    member: MemberView,
    command: CommandObject,
    session: AsyncSession,
    settings: HandlerSettings,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """Greets the member by name in their language and shows the main menu; a deep-link code
    (t.me/<bot>?start=<code>) then attributes a newcomer to whoever invited them."""
    await message.answer(menu_text(member.display_name), reply_markup=menu_keyboard())
    if member.just_started:  # known from a group: a leader (or staff) gets their own menu
        await refresh_private_menu(bot, i18n, session, settings, after_commit, member)
    groupbuy_id = groupbuy_of_start_parameter(command.args or "")
    sheet_id = sheet_of_start_parameter(command.args or "")
    if sheet_id is not None:  # "Open the pickup sheet" under the group's note to its leader
        await show_sheet(message, session, settings, member, sheet_id, member.locale, now=clock())
    elif groupbuy_id is not None:  # "Open the bot" under a join confirmation in a group
        await start_on_groupbuy(
            message,
            groupbuy_id=groupbuy_id,
            bot=bot,
            session=session,
            settings=settings,
            member=member,
        )
    elif command.args:
        await start_with_code(
            message,
            code=command.args,
            bot=bot,
            session=session,
            member=member,
            settings=settings,
            now=clock(),
        )


@router.message(Command("help"))
async def help_command(
    message: Message,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    community: CommunityView | None,
) -> None:
    """Lists the commands the caller may use in this chat (in private with Back to the menu)."""
    private = message.chat.type == ChatType.PRIVATE
    pages = pages_of_lines(
        await help_text(bot, i18n, session, settings, member, community, private)
    )
    for number, page in enumerate(pages, start=1):  # staff's list is longer than one message
        last = number == len(pages)
        await message.answer(page, reply_markup=with_back(None) if private and last else None)


@router.message(Command("settings"), PRIVATE)
async def settings_in_private(message: Message) -> None:
    """Points to where group settings are changed."""
    await message.answer(_("Send /settings in the group you lead to change its settings."))


@router.message(Command("cancel"), PRIVATE)
async def cancel(message: Message, state: FSMContext) -> None:
    """Leaves any step-by-step wizard the member was in."""
    if await state.get_state() is None:
        await message.answer(_("There is nothing to cancel."))
        return
    await state.clear()
    await message.answer(_("Cancelled. Nothing was changed."))
