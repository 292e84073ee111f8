"""/stats [period]: the brand's figures with a chart, for staff (every group) and for leaders
(only the groups they lead, in their group or in private)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, RoleFilter
from handlers.views.levels import level_lines
from handlers.views.membership import membership_lines
from handlers.views.review import stats_line
from handlers.views.stats import caption, chart, private_scope, summary
from handlers.views.text import HandlerSettings
from handlers.views.trial import stats_line as trial_stats_line
from models.base import Clock
from services.analytics import Scope, stats_report
from services.community import CommunityView
from services.levels import level_stats
from services.member import MemberView
from services.membership import membership_stats
from services.period import InvalidPeriod, parse_period
from services.review import review_stats
from services.role import Role
from services.trial import trial_stats
from services.zones import staff_zone

router = Router(name="analytics")
ACTION = "stats.view"


async def _reply(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    *,
    locale: str,
    timezone: str,
    scope: Scope,
    clock: Clock,
    currency: str,
) -> None:
    today = clock().astimezone(ZoneInfo(timezone)).date()
    try:
        period = parse_period(command.args or "", timezone=timezone, today=today)
    except InvalidPeriod:
        await message.answer(
            _(
                "I could not read that period. Send /stats for the last 30 days, /stats 7d, "
                "or /stats 2026-11-01..2026-11-20."
            )
        )
        return
    report = await stats_report(
        session,
        period=period,
        timezone=timezone,
        scope=scope,
        now=clock(),
        default_currency=currency,
    )
    reviews = await review_stats(session, start=period.start, end=period.end, scope=scope)
    texts = summary(report, locale, whole_brand=scope is None)
    texts[-1] += "\n\n" + stats_line(reviews, locale)
    if scope is None:  # the brand's trials (体验官): reports of the trials due in the period
        trials = await trial_stats(session, start=period.start, end=period.end)
        texts[-1] += "\n" + trial_stats_line(trials, locale)
    if scope is None:  # the brand's layers: groups and members per level
        texts[-1] += "\n\n" + level_lines(await level_stats(session))
        plans = await membership_stats(session)
        if plans:  # paid membership: active members per plan
            texts[-1] += "\n\n" + membership_lines(plans)
    for text in texts:
        await message.answer(text)
    await message.answer_photo(
        BufferedInputFile(chart(report), filename=f"stats_{period.first}_{period.last}.png"),
        caption=caption(report),
    )


@router.message(Command("stats"), GROUP, RoleFilter(Role.LEADER, ACTION))
async def group_stats(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    locale: str,
    clock: Clock,
) -> None:
    """Shows this group's own figures and chart to its leaders and to staff."""
    await _reply(
        message,
        command,
        session,
        locale=locale,
        timezone=community.timezone,
        scope=frozenset({community.id}),
        clock=clock,
        currency=settings.tier_currency,
    )


@router.message(Command("stats"), PRIVATE)
async def private_stats(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Shows staff every group's figures, and a leader the groups they lead; refuses others."""
    allowed, scope = await private_scope(
        message, bot, session, member, settings, clock, action=ACTION
    )
    if not allowed:
        return
    await _reply(
        message,
        command,
        session,
        locale=member.locale,
        timezone=staff_zone(member.timezone, settings.default_timezone),
        scope=scope,
        clock=clock,
        currency=settings.tier_currency,
    )
