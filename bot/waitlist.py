"""Waitlists on a schedule: offers that passed unanswered lapse, and freed units are offered
to the next members waiting. Each step claims its entry with a conditional UPDATE
(services/waitlist.py) and the messages go out only once the transaction committed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.periodic import SweepJob
from bot.scheduler import JobNotices
from bot.transactions import unit_of_work
from handlers.views.waitlist import lapsed_text, offer_keyboard, offer_text
from services.waitlist import lapse_offers, make_offers

log = logging.getLogger(__name__)
WAITLIST_JOB = "waitlist-sweep"


@dataclass
class WaitlistReport:
    lapsed: int = 0
    offered: int = 0


class WaitlistKeeper(SweepJob):
    """Lapses and makes waitlist offers on the injected clock; `run` is safe to call often."""

    name = WAITLIST_JOB

    def seconds(self) -> int:
        return self.settings.waitlist_sweep_seconds

    async def run(self) -> WaitlistReport:
        """Lapse what passed, then offer what is free; returns the counts."""
        now = self.clock()
        minutes = self.settings.waitlist_offer_minutes
        report = WaitlistReport()
        async with self.delivering() as sent:
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
        if report.lapsed or report.offered:
            log.info("waitlists: %s", report)
        return report
