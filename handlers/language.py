"""/language: a member picks English, 简体中文 or 繁體中文 for their private chat."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.commands import sync_private_commands
from handlers.views.menu import with_back
from handlers.views.text import LANGUAGE_NAMES, HandlerSettings
from services.member import LOCALES, MemberView, set_locale
from services.role import menu_role

router = Router(name="language")


class LanguageCallback(CallbackData, prefix="lang"):
    """A language chosen on the /language keyboard."""

    locale: str


def language_keyboard() -> InlineKeyboardMarkup:
    """The three languages, each named in itself, and ⬅️ Back to the main menu."""
    builder = InlineKeyboardBuilder()
    for locale in LOCALES:
        builder.button(text=LANGUAGE_NAMES[locale], callback_data=LanguageCallback(locale=locale))
    builder.adjust(3)
    return with_back(builder)


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
