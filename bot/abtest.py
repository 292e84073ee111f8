"""A/B test reports on a schedule: once a broadcast's 48 hours after its last message have
passed, the staff member who made it is told how each variant sold against the hold-out.

Each report is a transaction of its own that first claims the broadcast (a conditional UPDATE
of `reported_at`), and the message is queued once that committed: a restart loses nothing,
and two schedulers never report one test twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.periodic import SweepJob
from bot.scheduler import JobNotices, each
from bot.transactions import unit_of_work
from handlers.views.abtest import result_text
from services.attribution import broadcast_result, claim_report, due_reports
from services.member import get_member
from services.zones import staff_zone

log = logging.getLogger(__name__)
AB_REPORT_JOB = "ab-reports"


class AbTestReports(SweepJob):
    """Reports finished A/B tests of broadcasts; `run` is the whole job, safe to call often."""

    name = AB_REPORT_JOB

    def seconds(self) -> int:
        return self.settings.ab_report_seconds

    async def run(self) -> int:
        """Report every test whose window has closed; returns how many were reported."""
        now = self.clock()
        async with self.delivering() as sent:
            reported = await each(
                await self.due(lambda session: due_reports(session, now=now)),
                lambda broadcast_id: self._report(broadcast_id, now, sent),
                log,
                "A/B report of broadcast %s failed; the next run retries",
            )
        return len(reported)

    async def _report(
        self, broadcast_id: int, now: datetime, sent: list[asyncio.Task[None]]
    ) -> bool:
        async with unit_of_work(self.sessions) as unit:
            result = await broadcast_result(unit.session, broadcast_id=broadcast_id, now=now)
            if result is None or not result.complete:
                return False  # a later message's window is still open
            if not await claim_report(unit.session, broadcast_id=broadcast_id, now=now):
                return False
            staff = await get_member(unit.session, result.created_by)
            if staff is None or not staff.started:
                return True  # nobody to tell in private: /broadcast_result still shows it
            zone = staff_zone(staff.timezone, self.settings.default_timezone)
            with self.i18n.context(), self.i18n.use_locale(staff.locale):
                text = result_text(result, locale=staff.locale, zone=zone, now=now)
            JobNotices(self.notifier, unit, sent).send(staff.id, text)
        return True
