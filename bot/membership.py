"""Paid memberships on a schedule: a membership whose paid period ended without a renewal
(past a short grace, on the domain clock) lapses, which removes what its plan granted, and
its member is told.

Each lapse is claimed by a conditional UPDATE (services/membership/ lapse_membership), so
two schedulers or a restart never lapse one twice; the notice leaves after commit.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.periodic import SweepJob
from bot.scheduler import JobNotices, each
from bot.transactions import unit_of_work
from handlers.views.membership import lapsed_text
from services.membership import due_to_lapse, lapse_membership

log = logging.getLogger(__name__)
LAPSE_JOB = "memberships"


class MembershipLapses(SweepJob):
    """Lapses the memberships whose period passed unrenewed."""

    name = LAPSE_JOB

    def seconds(self) -> int:
        return self.settings.sweep_seconds

    async def run(self) -> int:
        """Lapse every membership that is due, each in its own transaction; returns how many."""
        now = self.clock()
        due = await self.due(lambda session: due_to_lapse(session, now=now))
        async with self.delivering() as sent:
            lapsed = await each(
                due,
                lambda membership_id: self._lapse(membership_id, now, sent),
                log,
                "lapsing membership %s failed; the next run retries",
            )
        return len(lapsed)

    async def _lapse(
        self, membership_id: int, now: datetime, sent: list[asyncio.Task[None]]
    ) -> bool:
        async with unit_of_work(self.sessions) as unit:
            lapsed = await lapse_membership(
                unit.session,
                membership_id=membership_id,
                now=now,
                default_locale=self.settings.default_locale,
                tier_currency=self.settings.tier_measure,
            )
            if lapsed is None:
                return False
            membership, locale = lapsed
            with self.i18n.context(), self.i18n.use_locale(locale):
                JobNotices(self.notifier, unit, sent).send(
                    membership.member_id, lapsed_text(membership)
                )
        return True
