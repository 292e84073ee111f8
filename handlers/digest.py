"""/digest [on|off] and the digest's button: staff and leaders stop or resume their Monday
digest (bot/digest.py sends it)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, current_role, refusal_text
from handlers.views.digest import DigestCallback, digest_keyboard
from handlers.views.text import HandlerSettings
from models.base import Clock
from services.audit import record_action
from services.digest import digest_enabled, set_digest
from services.member import MemberView
from services.role import Role, led_communities

router = Router(name="digest")
ON_WORDS = frozenset({"on", "yes", "开", "開", "开启", "開啟", "订阅", "訂閱"})
OFF_WORDS = frozenset({"off", "no", "stop", "关", "關", "关闭", "關閉", "退订", "退訂"})


def _state_text(on: bool) -> str:
    if on:
        return _(
            "You get the weekly digest on Monday morning: the five numbers that moved most, "
            "with a chart. Send /digest off to stop it."
        )
    return _("You do not get the weekly digest. Send /digest on to get it again.")


@router.message(Command("digest"), PRIVATE)
async def digest_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Says whether the reader gets the digest, or turns it on or off (staff and leaders)."""
    role = await current_role(bot, session, settings, member, None)
    allowed = role >= Role.STAFF or bool(await led_communities(session, member_id=member.id))
    word = (command.args or "").strip().lower()
    await record_action(
        session,
        actor_id=member.id,
        chat_id=message.chat.id,
        action="digest.set",
        allowed=allowed,
        now=clock(),
        required_role=Role.LEADER.name.lower(),
        detail=word[:200],
    )
    if not allowed:
        await message.answer(
            refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
        return
    if not word:
        on = await digest_enabled(session, member_id=member.id)
        await message.answer(_state_text(on), reply_markup=digest_keyboard(on=not on))
        return
    if word not in ON_WORDS | OFF_WORDS:
        await message.answer(_("Send /digest on or /digest off."))
        return
    on = word in ON_WORDS
    await set_digest(session, member_id=member.id, enabled=on, now=clock())
    await message.answer(_state_text(on))


@router.callback_query(DigestCallback.filter())
async def digest_button(
    query: CallbackQuery,
    callback_data: DigestCallback,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """Stops or resumes the digest from its button, and offers the way back."""
    await set_digest(session, member_id=member.id, enabled=callback_data.on, now=clock())
    await query.answer(
        _("Weekly digest on.") if callback_data.on else _("Weekly digest stopped."),
    )
    if isinstance(query.message, Message):
        await query.message.answer(
            _state_text(callback_data.on), reply_markup=digest_keyboard(on=not callback_data.on)
        )
