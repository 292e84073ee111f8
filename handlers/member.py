"""The member's own settings in chat: their time zone (/timezone) and the language of their
private chat (/language: English, 简体中文 or 繁體中文)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.commands import sync_private_commands
from handlers.views.language import LanguageCallback, language_keyboard
from handlers.views.menu import with_back
from handlers.views.text import LANGUAGE_NAMES, HandlerSettings, esc, sentences, unreadable_text
from services.community import InvalidTimezone, parse_timezone
from services.member import MemberView, set_locale, set_member_timezone
from services.parsing import zone_label
from services.role import menu_role
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


@router.message(Command("language"), PRIVATE)
async def language(message: Message) -> None:
    """Shows the three languages as buttons."""
    await message.answer(_("Choose your language:"), reply_markup=language_keyboard())


@router.message(Command("language"))
async def language_in_group(message: Message) -> None:
    """Explains where languages are changed, since a group shares one language."""
    await message.reply(
        _(
            "This group uses one language for everyone. Open a private chat with me to choose "
            "yours; group leaders change the group's language with /settings."
        )
    )


@router.callback_query(LanguageCallback.filter())
async def language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
) -> None:
    """Saves the choice and confirms in the new language."""
    if query.message is None:
        await query.answer(_("That language is not available."), show_alert=True)
        return
    if query.message.chat.type != ChatType.PRIVATE:
        await query.answer(_("Choose your language in a private chat with me."), show_alert=True)
        return
    await set_locale(session, member_id=member.id, locale=callback_data.locale)
    with i18n.use_locale(callback_data.locale):
        text = _("Done: I will speak {language} with you.").format(
            language=LANGUAGE_NAMES[callback_data.locale]
        )
        await query.answer()
        # Back leads to the menu, now in the new language
        await bot.edit_message_text(
            text=text,
            chat_id=query.message.chat.id,
            message_id=query.message.message_id,
            reply_markup=with_back(None),
        )
    role = await menu_role(session, member_id=member.id, owner_ids=settings.owner_ids)
    await sync_private_commands(
        bot, i18n, chat_id=query.message.chat.id, role=role, locale=callback_data.locale
    )
