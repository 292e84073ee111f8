"""Timing: APScheduler wakes the closing job; the database says what is due and who closes it.

Each group-buy gets a date job at its deadline, and a periodic sweep catches anything missed
(a deadline that passed while the bot was down, a job lost in a restart). `settle` claims a
group-buy with a conditional UPDATE, so a sweep and a date job (or two processes) racing for
the same group-buy close it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.metrics import Metrics, watch_scheduler
from bot.sender import Notifier
from bot.transactions import UnitOfWork, unit_of_work
from handlers.views.groupbuy import closing_effects
from handlers.views.pickup import unreached_leader_effects
from handlers.views.poll import released_text, result_effects, send_copies, stop_copies
from handlers.views.text import RefundWaker, carry_out, later
from services.groupbuy import due_groupbuys, open_groupbuys, settle_groupbuy
from services.member import get_member
from services.order import release_commissions
from services.poll import (
    close_poll,
    copies_to_stop,
    due_polls,
    due_releases,
    held_polls,
    open_polls,
    record_post,
    release_poll,
)
from services.referral import release_referral_commissions

log = logging.getLogger(__name__)
T = TypeVar("T")


class JobNotices:
    """The background sender as one closing sees it: each message is queued once the closing's
    transaction committed (dropped on a rollback) and sent by the retrying notifier; the task
    of each goes to `sent`, so the run can wait until its news is out (or given up)."""

    def __init__(self, notifier: Notifier, unit: UnitOfWork, sent: list[asyncio.Task[None]]):
        self.notifier = notifier
        self.unit = unit
        self.sent = sent

    def send(self, chat_id: int, text: str, **kwargs: Any) -> None:
        async def queue() -> None:
            self.sent.append(self.notifier.queue(chat_id, text, **kwargs))

        self.unit.add(queue)

    def send_steps(self, chat_id: int, *steps: Callable[[], Awaitable[object]]) -> None:
        async def queue() -> None:
            self.sent.append(self.notifier.queue_steps(chat_id, *steps))

        self.unit.add(queue)


async def delivered(sent: list[asyncio.Task[None]]) -> None:
    """Wait until every message a run queued was sent or given up."""
    await asyncio.gather(*sent, return_exceptions=True)


async def each(
    items: Iterable[T],
    step: Callable[[T], Awaitable[bool]],
    log: logging.Logger,
    failure: str,
    args: Callable[[T], tuple[object, ...]] = lambda item: (item,),
) -> list[T]:
    """Do `step` for every item, each on its own; returns the items it did (those it returned
    True for). An item that fails is logged (`failure` with `args(item)`) and left for the next
    run: one item must not stop the others."""
    done: list[T] = []
    for item in items:
        try:
            if await step(item):
                done.append(item)
        except Exception:
            log.exception(failure, *args(item))
    return done


class DeadlineCloser:
    """A date job per item at its time, a periodic sweep for anything missed, and the jobs
    rebuilt from the database at start; subclasses say what is due and how it closes."""

    name = ""  # names the jobs: "<name>-<id>" and "<name>-sweep"

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        i18n: I18n,
        settings: Settings,
        clock: Callable[[], datetime],
        notifier: Notifier,
    ) -> None:
        self.sessions = sessions
        self.bot = bot
        self.notifier = notifier
        self.i18n = i18n
        self.settings = settings
        self.clock = clock
        self.scheduler: AsyncIOScheduler | None = None
        self.metrics: Metrics | None = None
        self.refunder: RefundWaker | None = None

    async def close_due(self) -> int:
        """Close every due item, each once; returns how many closed."""
        raise NotImplementedError

    async def _each(
        self,
        due: list[int],
        step: Callable[[int, datetime, list[asyncio.Task[None]]], Awaitable[bool]],
        now: datetime,
        failure: str,
    ) -> int:
        """`step` for every due item, each in its own transaction (see `each`), then wait
        for the run's news; returns how many it did."""
        sent: list[asyncio.Task[None]] = []  # the news of this run, to wait for
        done = await each(due, lambda item_id: step(item_id, now, sent), log, failure)
        await delivered(sent)
        return len(done)

    def _failed(self) -> Callable[[], None] | None:
        """What counts a message that failed after the commit (bot_effects_failed_total)."""
        return self.metrics.effects_failed.inc if self.metrics is not None else None

    async def pending(self, session: AsyncSession) -> list[tuple[int, datetime]]:
        """Every open item with the time it is due."""
        raise NotImplementedError

    def schedule(self, item_id: int | str, when: datetime) -> None:
        """A precise job at the time (replacing an earlier one for the same item)."""
        if self.scheduler is None:
            return
        self.scheduler.add_job(
            self.close_due,
            "date",
            run_date=when,
            id=f"{self.name}-{item_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def start(self) -> None:
        """Close what is already due, then the sweep and one job per open item."""
        await self.close_due()
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_job(
            self.close_due,
            "interval",
            seconds=self.settings.sweep_seconds,
            id=f"{self.name}-sweep",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
        async with self.sessions() as session:
            for item_id, when in await self.pending(session):
                self.schedule(item_id, when)
        if self.metrics is not None:
            watch_scheduler(self.scheduler, self.metrics, self.name)
        self.scheduler.start()
        log.info("%s closer started: sweep every %ss", self.name, self.settings.sweep_seconds)

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)


class GroupBuyCloser(DeadlineCloser):
    """Closes due group-buys and announces the outcome."""

    name = "groupbuy"

    async def pending(self, session: AsyncSession) -> list[tuple[int, datetime]]:
        return await open_groupbuys(session)

    async def close_due(self) -> int:
        """Settle every due group-buy, each in its own transaction; returns how many closed."""
        now = self.clock()
        async with self.sessions() as session:
            due = await due_groupbuys(session, now=now)
        async with self.sessions() as session, session.begin():
            window = timedelta(days=self.settings.refund_window_days)
            released = await release_commissions(session, now=now, window=window)
            released += await release_referral_commissions(session, now=now, window=window)
        if released:
            log.info("released the commission of %s orders", released)
        return await self._each(
            due, self.close_one, now, "closing group-buy %s failed; the sweep will retry"
        )

    async def close_one(
        self, groupbuy_id: int, now: datetime, sent: list[asyncio.Task[None]]
    ) -> bool:
        """Settle one group-buy in its own transaction and tell everyone once it committed;
        False when it was not due or another worker closed it first."""
        # outside an update there is no i18n context: open one for the messages
        with self.i18n.context():
            async with unit_of_work(self.sessions, failed=self._failed()) as unit:
                closing = await settle_groupbuy(
                    unit.session,
                    groupbuy_id=groupbuy_id,
                    now=now,
                    tier_currency=self.settings.tier_measure,
                    default_locale=self.settings.default_locale,
                    default_timezone=self.settings.default_timezone,
                )
                if closing is None:
                    return False
                if self.metrics is not None:
                    self.metrics.settled(closing.formed)
                carry_out(
                    closing_effects(self.i18n, closing, now, self.settings)
                    + unreached_leader_effects(self.i18n, closing),
                    bot=self.bot,
                    notifier=JobNotices(self.notifier, unit, sent),
                    after_commit=unit,
                )
                if closing.star_refunds and self.refunder is not None:
                    unit.add(later(self.refunder.wake))
        return True


class PollCloser(DeadlineCloser):
    """Closes co-creation polls at their closing time and posts the results.

    Telegram's own open_period is at most ten minutes, so multi-day polls are closed here: a
    date job per poll plus a periodic sweep, each closing through a conditional UPDATE claim.
    """

    name = "poll"

    async def pending(self, session: AsyncSession) -> list[tuple[int, datetime]]:
        return await open_polls(session)

    async def start(self) -> None:
        """As every closer, plus a job at the end of each ambassadors' head start."""
        await super().start()
        async with self.sessions() as session:
            for poll_id, when in await held_polls(session):
                self.schedule_release(poll_id, when)

    def schedule_release(self, poll_id: int, when: datetime) -> None:
        """A precise job when the ambassadors' head start ends (the sweep catches it too)."""
        self.schedule(f"first-{poll_id}", when)

    async def release_due(self) -> int:
        """Post every poll whose ambassadors' head start is over in its groups, each once;
        returns how many were released."""
        now = self.clock()
        async with self.sessions() as session:
            due = await due_releases(session, now=now)
        return await self._each(due, self.release_one, now, "releasing poll %s failed")

    async def release_one(
        self, poll_id: int, now: datetime, sent: list[asyncio.Task[None]]
    ) -> bool:
        """Claim the end of the head start (committed first), then post the poll in its
        groups, record each copy and tell its author; False when not due or claimed."""
        async with self.sessions() as session, session.begin():
            poll = await release_poll(session, poll_id=poll_id, now=now)
        if poll is None:
            return False
        copies = await send_copies(self.bot, poll, list(poll.held_chats))
        with self.i18n.context():
            async with unit_of_work(self.sessions, failed=self._failed()) as unit:
                for copy in copies:
                    await record_post(
                        unit.session,
                        poll_id=poll.id,
                        chat_id=copy.chat_id,
                        telegram_poll_id=copy.telegram_poll_id,
                        message_id=copy.message_id,
                    )
                author = await get_member(unit.session, poll.created_by)
                with self.i18n.use_locale(
                    author.locale if author else self.settings.default_locale
                ):
                    text = released_text(poll, len(copies))
                JobNotices(self.notifier, unit, sent).send(poll.created_by, text)
        return True

    async def close_due(self) -> int:
        """Post the polls whose ambassadors' head start is over, then close every due poll,
        each in its own transaction; returns how many closed."""
        await self.release_due()
        now = self.clock()
        async with self.sessions() as session:
            due = await due_polls(session, now=now)
        return await self._each(
            due, self.close_one, now, "closing poll %s failed; the sweep will retry"
        )

    async def close_one(self, poll_id: int, now: datetime, sent: list[asyncio.Task[None]]) -> bool:
        """Stop the poll's copies on Telegram (no transaction open), then close it once with
        their final counts and post the result after commit; False when it was not open."""
        async with self.sessions() as session:
            copies = await copies_to_stop(session, poll_id)
        stopped = await stop_copies(self.bot, poll_id, copies)
        with self.i18n.context():
            async with unit_of_work(self.sessions, failed=self._failed()) as unit:
                closed = await close_poll(
                    unit.session,
                    poll_id=poll_id,
                    now=now,
                    stopped=stopped,
                    default_locale=self.settings.default_locale,
                )
                if closed is None:
                    return False
                carry_out(
                    result_effects(self.i18n, closed),
                    bot=self.bot,
                    notifier=JobNotices(self.notifier, unit, sent),
                    after_commit=unit,
                )
        return True
