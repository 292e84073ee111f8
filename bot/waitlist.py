"""Waitlists on a schedule: offers that passed unanswered lapse, and freed units are offered
to the next members waiting. Each step claims its entry with a conditional UPDATE
(services/waitlist.py) and the messages go out only once the transaction committed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.periodic import PeriodicJob
from bot.scheduler import JobNotices, delivered
from bot.sender import Notifier
from bot.transactions import unit_of_work
from handlers.views.waitlist import lapsed_text, offer_keyboard, offer_text
from services.waitlist import lapse_offers, make_offers

log = logging.getLogger(__name__)
WAITLIST_JOB = "waitlist-sweep"


@dataclass
class WaitlistReport:
    lapsed: int = 0
    offered: int = 0


class WaitlistKeeper(PeriodicJob):
    """Lapses and makes waitlist offers on the injected clock; `run` is safe to call often."""

    name = WAITLIST_JOB

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        notifier: Notifier,
        i18n: I18n,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.notifier = notifier
        self.i18n = i18n
        self.settings = settings
        self.clock = clock

    def seconds(self) -> int:
        return self.settings.waitlist_sweep_seconds

    async def run(self) -> WaitlistReport:
        """Lapse what passed, then offer what is free; returns the counts."""
        now = self.clock()
        minutes = self.settings.waitlist_offer_minutes
        report = WaitlistReport()
        sent: list[asyncio.Task[None]] = []
        with self.i18n.context():
            async with unit_of_work(self.sessions) as unit:
                notices = JobNotices(self.notifier, unit, sent)
                for lapsed in await lapse_offers(unit.session, now=now):
                    notices.send(lapsed.member_id, lapsed_text(self.i18n, lapsed))
                    report.lapsed += 1
                for offer in await make_offers(unit.session, now=now, minutes=minutes):
                    notices.send(
                        offer.member_id,
                        offer_text(self.i18n, offer, minutes),
                        reply_markup=offer_keyboard(self.i18n, offer),
                    )
                    report.offered += 1
        await delivered(sent)
        if report.lapsed or report.offered:
            log.info("waitlists: %s", report)
        return report
