"""The /help text, shown by /help and /start and by the main menu's Help button."""

from __future__ import annotations

from aiogram import Bot
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import current_role
from handlers.views.commands import commands_for
from handlers.views.text import N_, HandlerSettings, esc
from services.community import CommunityView
from services.member import MemberView
from services.role import is_chat_admin

GROUPBUY_EXAMPLE = N_(
    "For example: /{command} 3 24h min=5 stock=50 limit=3 tiers=10:35.90,30:32.90 "
    "pickup=Shop A, Sat 10:00"
)


async def help_text(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    community: CommunityView | None,
    private: bool,
) -> str:
    """The commands this member may use here, one per line."""
    role = await current_role(bot, session, settings, member, community)
    admin = community is not None and await is_chat_admin(
        session, member_id=member.id, community_id=community.id
    )
    lines = [_("Here is what you can do:")]
    for command in commands_for(role, private=private, admin=admin):
        lines.append(f"/{command.name} — {esc(i18n.gettext(command.description))}")
        if command.name in ("groupbuy", "drop"):  # its options, with the keys in the reader's words
            lines.append("  " + esc(_(GROUPBUY_EXAMPLE).format(command=command.name)))
    if settings.reservation_hours:
        lines.append(
            _(
                "An order you pay at pickup is held until the time I tell you when you order; "
                "if it is still unpaid then, it is released and its stock goes back on sale."
            )
        )
    return "\n".join(lines)
