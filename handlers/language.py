"""/language: a member picks English, 简体中文 or 繁體中文 for their private chat."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.commands import sync_private_commands
from handlers.views.language import LanguageCallback, language_keyboard
from handlers.views.menu import with_back
from handlers.views.text import LANGUAGE_NAMES, HandlerSettings
from services.member import LOCALES, MemberView, set_locale
from services.role import menu_role

router = Router(name="language")


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
    if callback_data.locale not in LOCALES or query.message is None:
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
