"""Product trials on a schedule: a reminder to each ambassador before the report's due date and
one after it when the report is late, and the closing of trials past their due date (places
nobody took go back to the stock).

Each reminder is a transaction of its own that first claims it with a conditional UPDATE
(services/trial/); the ambassador is told only once it committed. So a restart loses nothing
and two schedulers never send one reminder twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.periodic import PeriodicJob
from bot.scheduler import JobNotices, delivered
from bot.sender import Notifier
from bot.transactions import unit_of_work
from handlers.views.trial import reminder_text, report_keyboard
from services.trial import claim_reminder, close_due_trials, due_reminders

log = logging.getLogger(__name__)
TRIAL_JOB = "trial-clock"
TRIAL_SWEEP_SECONDS = 600  # how often the clock looks for reminders and trials to close
REMIND_BEFORE = timedelta(days=2)  # the reminder goes this long before the due date
LATE_AFTER = timedelta(days=1)  # and, without a report, this long after it


@dataclass
class TrialClockReport:
    reminded: int = 0
    late: int = 0
    closed: int = 0


class TrialClock(PeriodicJob):
    """Reminds ambassadors of their reports and closes trials; `run` is the whole job."""

    name = TRIAL_JOB

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
        return TRIAL_SWEEP_SECONDS

    async def run(self) -> TrialClockReport:
        """Close the trials past due, send the reminders due; returns the counts."""
        now = self.clock()
        report = TrialClockReport()
        sent: list[asyncio.Task[None]] = []
        async with self.sessions() as session, session.begin():
            report.closed = len(await close_due_trials(session, now=now))
        async with self.sessions() as session:
            due = await due_reminders(session, now=now, lead=REMIND_BEFORE, late_after=LATE_AFTER)
        with self.i18n.context():
            for trial_id, member_id, late in due:
                try:
                    if await self._remind(trial_id, member_id, late, now, sent):
                        if late:
                            report.late += 1
                        else:
                            report.reminded += 1
                except Exception:  # one ambassador must not stop the others
                    log.exception("trial %s reminder to %s failed; retried", trial_id, member_id)
        await delivered(sent)
        if report.reminded or report.late or report.closed:
            log.info("trials: %s", report)
        return report

    async def _remind(
        self,
        trial_id: int,
        member_id: int,
        late: bool,
        now: datetime,
        sent: list[asyncio.Task[None]],
    ) -> bool:
        """Claim one reminder and send it once committed; False when not due any more."""
        async with unit_of_work(self.sessions) as unit:
            reminder = await claim_reminder(
                unit.session, trial_id=trial_id, member_id=member_id, late=late, now=now
            )
            if reminder is None:
                return False
            if reminder.started:
                with self.i18n.use_locale(reminder.locale):
                    markup = report_keyboard(trial_id)
                JobNotices(self.notifier, unit, sent).send(
                    member_id,
                    reminder_text(
                        self.i18n,
                        reminder.locale,
                        reminder.trial,
                        late,
                        self.settings.default_timezone,
                    ),
                    reply_markup=markup,
                )
        return True
