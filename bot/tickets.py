"""After-sales clocks on a schedule: every open ticket past its first-answer or resolution time
is escalated to all staff, once per clock.

Each escalation is a transaction of its own that first claims the ticket with a conditional
UPDATE (services/ticket/ escalate); staff are told only once it committed. So a restart
loses nothing, and two schedulers never escalate one ticket's clock twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.periodic import SweepJob
from bot.scheduler import JobNotices, each
from bot.transactions import unit_of_work
from handlers.views.ticket import escalated_text
from services.member import get_member
from services.role import staff_locales
from services.ticket import due_escalations, escalate

log = logging.getLogger(__name__)
TICKET_JOB = "ticket-clock"


class TicketClock(SweepJob):
    """Escalates overdue tickets; `run` is the whole job, safe to call often."""

    name = TICKET_JOB

    def seconds(self) -> int:
        return self.settings.ticket_sweep_seconds

    async def run(self) -> int:
        """Escalate every ticket whose clock ran out; returns how many were escalated."""
        now = self.clock()
        async with self.delivering() as sent:
            escalated = len(
                await each(
                    await self.due(lambda session: due_escalations(session, now=now)),
                    lambda ticket_id: self._escalate(ticket_id, now, sent),
                    log,
                    "escalating ticket %s failed; the next run retries",
                )
            )
        if escalated:
            log.info("tickets escalated: %s", escalated)
        return escalated

    async def _escalate(
        self, ticket_id: int, now: datetime, sent: list[asyncio.Task[None]]
    ) -> bool:
        async with unit_of_work(self.sessions) as unit:
            ticket = await escalate(unit.session, ticket_id=ticket_id, now=now)
            if ticket is None:
                return False
            notices = JobNotices(self.notifier, unit, sent)
            staff = await staff_locales(
                unit.session,
                owner_ids=self.settings.owner_ids,
                default_locale=self.settings.default_locale,
            )
            for staff_id, locale in staff:
                member = await get_member(unit.session, staff_id)
                zone = (member.timezone if member else None) or self.settings.default_timezone
                with self.i18n.context(), self.i18n.use_locale(locale):
                    text = escalated_text(ticket, zone, member.timezone if member else None)
                notices.send(staff_id, text)
        return True
