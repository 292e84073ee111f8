"""A job that runs now and then every so often, whose work is claimed in the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.metrics import Metrics, watch_scheduler

log = logging.getLogger(__name__)


class PeriodicJob:
    """Runs `run` at start and every `seconds()`; subclasses set `name` and `clock`."""

    name = ""
    clock: Callable[[], datetime]
    scheduler: AsyncIOScheduler | None = None
    metrics: Metrics | None = None

    async def run(self) -> Any:
        raise NotImplementedError

    def seconds(self) -> int:
        raise NotImplementedError

    async def _scheduled(self) -> None:
        """The job as the scheduler runs it: a shutdown that interrupts it is not an error
        (every step is claimed in the database, so the next run picks up where it stopped)."""
        try:
            await self.run()
        except asyncio.CancelledError:
            log.info("%s interrupted by shutdown; the next run picks up", self.name)

    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_job(
            self._scheduled,
            "interval",
            seconds=self.seconds(),
            id=self.name,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock(),
        )
        if self.metrics is not None:
            watch_scheduler(self.scheduler, self.metrics, self.name)
        self.scheduler.start()
        log.info("%s runs every %ss", self.name, self.seconds())

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
