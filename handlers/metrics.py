"""/metrics in private: staff (every group) and leaders (their groups) get the main rates of the
last 8 weeks as one chart with a short caption."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.metrics import WEEKS, metrics_caption, metrics_chart
from handlers.views.stats import private_scope
from handlers.views.text import HandlerSettings
from services.member import MemberView
from services.metrics import Slice, metrics_report
from services.zones import staff_zone

router = Router(name="metrics")
ACTION = "metrics.view"


@router.message(Command("metrics"), PRIVATE)
async def private_metrics(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Callable[[], datetime],
) -> None:
    """Sends the reader a chart of the active, interaction, fission and repurchase rates over
    the last 8 weeks, with last full week's figures as its caption."""
    allowed, scope = await private_scope(
        message, bot, session, member, settings, clock, action=ACTION
    )
    if not allowed:
        return
    zone = staff_zone(member.timezone, settings.default_timezone)
    report = await metrics_report(
        session,
        now=clock(),
        timezone=zone,
        currency=settings.tier_currency,
        part=Slice(scope=scope),
        weeks=WEEKS,
    )
    first, last = report.weeks[0].start, report.weeks[-1].start
    await message.answer_photo(
        BufferedInputFile(
            metrics_chart(report, member.locale), filename=f"metrics_{first}_{last}.png"
        ),
        caption=metrics_caption(report, member.locale, whole_brand=scope is None),
    )
