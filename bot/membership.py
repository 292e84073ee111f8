"""Paid memberships on a schedule: a membership whose paid period ended without a renewal
(past a short grace, on the domain clock) lapses, which removes what its plan granted, and
its member is told.

Each lapse is claimed by a conditional UPDATE (services/membership/ lapse_membership), so
two schedulers or a restart never lapse one twice; the notice leaves after commit.
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
from handlers.views.membership import lapsed_text
from services.membership import due_to_lapse, lapse_membership

log = logging.getLogger(__name__)
LAPSE_JOB = "memberships"


class MembershipLapses(PeriodicJob):
    """Lapses the memberships whose period passed unrenewed."""

    name = LAPSE_JOB

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
        return self.settings.sweep_seconds

    async def run(self) -> int:
        """Lapse every membership that is due, each in its own transaction; returns how many."""
        now = self.clock()
        async with self.sessions() as session:
            due = await due_to_lapse(session, now=now)
        sent: list[asyncio.Task[None]] = []
        lapsed = 0
        for membership_id in due:
            try:
                if await self._lapse(membership_id, now, sent):
                    lapsed += 1
            except Exception:  # one membership must not stop the others
                log.exception("lapsing membership %s failed; the next run retries", membership_id)
        await delivered(sent)
        return lapsed

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
