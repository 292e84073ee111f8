"""After-sales clocks on a schedule: every open ticket past its first-answer or resolution time
is escalated to all staff, once per clock.

Each escalation is a transaction of its own that first claims the ticket with a conditional
UPDATE (services/ticket/ escalate); staff are told only once it committed. So a restart
loses nothing, and two schedulers never escalate one ticket's clock twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.periodic import PeriodicJob
from bot.scheduler import JobNotices, delivered
from bot.sender import Notifier
from bot.transactions import unit_of_work
from handlers.views.ticket import escalated_text
from services.member import get_member
from services.role import staff_locales
from services.ticket import due_escalations, escalate

log = logging.getLogger(__name__)
TICKET_JOB = "ticket-clock"


class TicketClock(PeriodicJob):
    """Escalates overdue tickets; `run` is the whole job, safe to call often."""

    name = TICKET_JOB

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
        return self.settings.ticket_sweep_seconds

    async def run(self) -> int:
        """Escalate every ticket whose clock ran out; returns how many were escalated."""
        now = self.clock()
        sent: list[asyncio.Task[None]] = []
        escalated = 0
        async with self.sessions() as session:
            due = await due_escalations(session, now=now)
        for ticket_id in due:
            try:
                if await self._escalate(ticket_id, now, sent):
                    escalated += 1
            except Exception:  # one ticket must not stop the others
                log.exception("escalating ticket %s failed; the next run retries", ticket_id)
        await delivered(sent)
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
