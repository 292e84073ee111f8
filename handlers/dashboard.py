"""/dashboard: a one-time login link to the web dashboard, for staff and leaders (in private;
a group is sent to the private chat)."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlencode

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    WebAppInfo,
)
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE
from handlers.views.stats import private_scope
from handlers.views.text import HandlerSettings, counted, esc
from models.base import Clock
from services.dashboard import issue_link
from services.member import MemberView

router = Router(name="dashboard")


class DashboardSettings(HandlerSettings, Protocol):
    dashboard_base: str
    dashboard_link_minutes: int


@router.message(Command("dashboard"), PRIVATE)
async def dashboard_link(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: DashboardSettings,
    clock: Clock,
) -> None:
    """Gives staff and leaders a one-time login link, and a button that opens the dashboard
    inside Telegram as a Mini App (Telegram opens Mini Apps from https addresses only)."""
    allowed, _scope = await private_scope(
        message, bot, session, member, settings, clock, action="dashboard.link"
    )
    if not allowed:
        return
    minutes = settings.dashboard_link_minutes
    token, _expires = await issue_link(session, member_id=member.id, now=clock(), minutes=minutes)
    base = settings.dashboard_base
    link = f"{base}/login?{urlencode({'token': token})}"
    keyboard = None
    if base.startswith("https://"):
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=_("Open dashboard"), web_app=WebAppInfo(url=f"{base}/app")
                    )
                ]
            ]
        )
    await message.answer(
        _(
            "Your dashboard login link works once, within {minutes}:\n{link}\n\n"
            "Keep it to yourself: it signs in as you."
        ).format(minutes=counted("minute", minutes), link=f'<a href="{esc(link)}">{esc(link)}</a>'),
        reply_markup=keyboard,
        # the link signs in once: a preview fetched by Telegram must not spend it
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


@router.message(Command("dashboard"), GROUP)
async def dashboard_in_group(message: Message) -> None:
    """Login links never go to a group: the member is sent to the private chat."""
    await message.reply(_("Send /dashboard to me in private for your login link."))
