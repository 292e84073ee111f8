"""The promotions calendar for staff (/promotions): per group, what went out in the last 7
days and what is scheduled for the next 7, the weekly cap's use, and the posts held by quiet
hours."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.policy import KINDS
from handlers.views.text import HandlerSettings, esc_name
from models.base import Clock
from services.member import MemberView
from services.policy import KIND_BROADCAST, calendar
from services.role import Role
from services.zones import show, staff_zone

router = Router(name="policy")


@router.message(Command("promotions"), PRIVATE, RoleFilter(Role.STAFF, "promotions.calendar"))
async def promotions(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """The promotions calendar: each group's week, cap use and waits, in the reader's zone."""
    now = clock()
    weeks = await calendar(
        session, now=now, rules=settings.pacing_rules(), default_timezone=settings.default_timezone
    )
    zone = staff_zone(member.timezone, settings.default_timezone)
    lines = [_("Promotions per group, 7 days back and 7 days ahead:")]
    for week in weeks:
        lines.append("")
        lines.append(
            _("<b>{group}</b>: {used} of {cap} this week").format(
                group=esc_name(week.title), used=week.used, cap=week.cap
            )
        )
        if not week.posts:
            lines.append("  " + _("nothing"))
        for post in week.posts:
            what = _(KINDS.get(post.kind, KINDS[KIND_BROADCAST])).format(id=post.ref)
            when = show(post.at, zone, reader=member.timezone)
            if post.sent:
                line = _("✓ {when}: {what}").format(when=when, what=what)
            elif post.quiet:
                line = _("⏳ {when}: {what}, held by quiet hours").format(when=when, what=what)
            else:
                line = _("⏳ {when}: {what}, scheduled").format(when=when, what=what)
            lines.append("  " + line)
    await message.answer("\n".join(lines))
