"""A job that runs now and then every so often, whose work is claimed in the database; and
the sweep most such jobs are: due items one at a time, each in its own unit of work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypedDict, TypeVar, Unpack

from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.metrics import Metrics, watch_scheduler
from bot.scheduler import delivered
from bot.sender import Notifier

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class JobBasics(TypedDict):
    """What every sweep is built from; a sweep that needs more takes it beside these."""

    sessions: async_sessionmaker[AsyncSession]
    notifier: Notifier
    i18n: I18n
    settings: Settings
    clock: Callable[[], datetime]


class SweepJob(PeriodicJob):
    """A periodic job that works through what is due one item at a time, each item a unit of
    work of its own that claims it first, and tells people once that committed; a subclass
    says what is due and how one item is done."""

    def __init__(self, **basics: Unpack[JobBasics]) -> None:
        self.sessions = basics["sessions"]
        self.notifier = basics["notifier"]
        self.i18n = basics["i18n"]
        self.settings = basics["settings"]
        self.clock = basics["clock"]

    async def due(self, query: Callable[[AsyncSession], Awaitable[Iterable[T]]]) -> Iterable[T]:
        """What `query` finds due, read in a short session of its own."""
        async with self.sessions() as session:
            return await query(session)

    @asynccontextmanager
    async def delivering(self) -> AsyncIterator[list[asyncio.Task[None]]]:
        """The messages one run queues after its commits (see bot.scheduler.JobNotices); the
        block ends once each of them was sent or given up."""
        sent: list[asyncio.Task[None]] = []
        yield sent
        await delivered(sent)
