"""Alerts on a schedule: every ALERT_SWEEP_SECONDS the numbers staff watch are read, and each
alert whose threshold is crossed tells staff, at most once per local day of the brand (the
alert's day is claimed by a conditional UPDATE before the notices leave, after commit)."""

from __future__ import annotations

import asyncio
import logging
from typing import Unpack

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.periodic import JobBasics, SweepJob
from bot.scheduler import JobNotices, delivered
from bot.transactions import unit_of_work
from handlers.views.digest import alert_notice
from services.alerts import Readings, claim_firing, crossed, list_alerts, local_day
from services.role import staff_locales

log = logging.getLogger(__name__)
ALERT_JOB = "alerts"


class AlertWatch(SweepJob):
    """Reads the watched numbers and fires the crossed alerts; `run` is safe to call often."""

    name = ALERT_JOB

    def __init__(
        self, *, readers: async_sessionmaker[AsyncSession], **basics: Unpack[JobBasics]
    ) -> None:
        super().__init__(**basics)  # `sessions` for the claims
        self.readers = readers  # the figures (never the write lock on SQLite)

    def seconds(self) -> int:
        return self.settings.alert_sweep_seconds

    async def run(self) -> int:
        """Check every alert not fired today; returns how many fired."""
        now = self.clock()
        zone = self.settings.default_timezone
        today = local_day(now, zone)
        readings = Readings(now=now, timezone=zone, currency=self.settings.tier_currency)
        sent: list[asyncio.Task[None]] = []
        fired = 0
        async with self.readers() as session:
            alerts = [a for a in await list_alerts(session) if a.fired_on != today]
        for alert in alerts:
            try:
                async with self.readers() as session:
                    value = await readings.value(session, alert.metric, alert.community_id)
                if value is None or not crossed(alert.op, value, alert.threshold):
                    continue
                async with unit_of_work(self.sessions) as unit:
                    if not await claim_firing(
                        unit.session, alert_id=alert.id, day=today, value=value
                    ):
                        continue
                    notices = JobNotices(self.notifier, unit, sent)
                    for member_id, locale in await staff_locales(
                        unit.session,
                        owner_ids=self.settings.owner_ids,
                        default_locale=self.settings.default_locale,
                    ):
                        with self.i18n.context(), self.i18n.use_locale(locale):
                            notices.send(
                                member_id,
                                alert_notice(
                                    alert.id,
                                    alert.metric,
                                    alert.op,
                                    alert.threshold,
                                    alert.title,
                                    value,
                                    locale,
                                ),
                            )
                fired += 1
            except Exception:  # one alert must not stop the others
                log.exception("alert %s not checked; the next run retries", alert.id)
        await delivered(sent)
        return fired
