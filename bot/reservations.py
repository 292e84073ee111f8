"""Pay-at-pickup reservations on a schedule: one reminder before each deadline, and the release
of what is still unpaid at it.

Each reminder and each expiry is a transaction of its own that first claims its order with a
conditional UPDATE (services/reservation.py); the member is told only once it committed. So a
restart loses nothing (the next run finds what is still due), and two schedulers never remind
of or expire one reservation twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.periodic import SweepJob
from bot.scheduler import JobNotices, each
from bot.transactions import unit_of_work
from handlers.views.reservation import (
    cancel_keyboard,
    expired_text,
    reminder_text,
    reservation_rules,
)
from services.member import get_member
from services.order import OrderView
from services.reservation import (
    claim_reminder,
    due_expiries,
    due_reminders,
    expire_reservation,
    hold_unheld,
)

log = logging.getLogger(__name__)
RESERVATION_JOB = "reservation-sweep"


@dataclass
class SweepReport:
    held: int = 0  # reservations without a deadline given one
    reminded: int = 0
    expired: int = 0


class ReservationSweeper(SweepJob):
    """Reminds of and expires reservations; `run` is the whole job, safe to call often."""

    name = RESERVATION_JOB

    def seconds(self) -> int:
        return self.settings.reservation_sweep_seconds

    async def run(self) -> SweepReport:
        """Give deadlines to reservations without one, remind, expire; returns the counts."""
        now = self.clock()
        rules = reservation_rules(self.settings)
        report = SweepReport()
        async with self.delivering() as sent:
            with self.i18n.context():
                if rules.hold is not None:
                    async with self.sessions() as session, session.begin():
                        report.held = await hold_unheld(session, now=now, hold=rules.hold)
                if (lead := rules.remind_before) is not None:
                    reminded = await each(
                        await self.due(lambda session: due_reminders(session, now=now, lead=lead)),
                        lambda order_id: self._remind(order_id, now, lead, sent),
                        log,
                        "reminder of order %s failed; the next run retries",
                    )
                    report.reminded = len(reminded)
                expired = await each(
                    await self.due(lambda session: due_expiries(session, now=now)),
                    lambda order_id: self._expire(order_id, now, sent),
                    log,
                    "expiring order %s failed; the next run retries",
                )
                report.expired = len(expired)
        if report.held or report.reminded or report.expired:
            log.info("reservations: %s", report)
        return report

    async def _remind(
        self, order_id: int, now: datetime, lead: timedelta, sent: list[asyncio.Task[None]]
    ) -> bool:
        """Claim one reminder and send it once committed; False when not due any more."""
        async with unit_of_work(self.sessions) as unit:
            order = await claim_reminder(unit.session, order_id=order_id, now=now, lead=lead)
            if order is None:
                return False
            await self._tell(unit.session, JobNotices(self.notifier, unit, sent), order, True)
        return True

    async def _expire(self, order_id: int, now: datetime, sent: list[asyncio.Task[None]]) -> bool:
        """Expire one reservation and tell its member once committed; False when it was paid,
        cancelled or expired meanwhile."""
        async with unit_of_work(self.sessions) as unit:
            order = await expire_reservation(unit.session, order_id=order_id, now=now)
            if order is None:
                return False
            await self._tell(unit.session, JobNotices(self.notifier, unit, sent), order, False)
        return True

    async def _tell(
        self, session: AsyncSession, notices: JobNotices, order: OrderView, reminder: bool
    ) -> None:
        """The reminder (with a cancel button) or the expiry notice, in the member's private
        chat when they opened one with the bot."""
        member = await get_member(session, order.member_id)
        if member is None or not member.started:
            return
        zone = member.timezone or self.settings.default_timezone
        if reminder:
            notices.send(
                member.id,
                reminder_text(self.i18n, member.locale, order, zone, member.timezone),
                reply_markup=cancel_keyboard(self.i18n, member.locale, [order]),
            )
        else:
            notices.send(
                member.id, expired_text(self.i18n, member.locale, order, zone, member.timezone)
            )
