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
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.periodic import SweepJob
from bot.scheduler import JobNotices, each
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


class TrialClock(SweepJob):
    """Reminds ambassadors of their reports and closes trials; `run` is the whole job."""

    name = TRIAL_JOB

    def seconds(self) -> int:
        return TRIAL_SWEEP_SECONDS

    async def run(self) -> TrialClockReport:
        """Close the trials past due, send the reminders due; returns the counts."""
        now = self.clock()
        report = TrialClockReport()
        async with self.sessions() as session, session.begin():
            report.closed = len(await close_due_trials(session, now=now))
        due = await self.due(
            lambda session: due_reminders(
                session, now=now, lead=REMIND_BEFORE, late_after=LATE_AFTER
            )
        )
        async with self.delivering() as sent:
            with self.i18n.context():
                reminded = await each(
                    due,
                    lambda reminder: self._remind(*reminder, now, sent),
                    log,
                    "trial %s reminder to %s failed; retried",
                    lambda reminder: reminder[:2],  # the trial and the ambassador
                )
        report.late = sum(late for _, _, late in reminded)
        report.reminded = len(reminded) - report.late
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
