"""The broadcast sender: claims due outbox rows in the database and sends them, paced.

Every process may run one (they never take the same row: the claim is a conditional UPDATE,
with `FOR UPDATE SKIP LOCKED` on PostgreSQL). The schedule is the outbox itself: each row's
`not_before` was set by the pacing policy, so the sender needs no job store; at start it
fails rows that a dead process left in flight, then sleeps until the earliest due row (or
until `wake` is called, or at least every `broadcast_poll_seconds`), which is how scheduled
broadcasts survive restarts.

Messages go through the bot's paced session (Telegram's per-chat and overall limits, a 429
holds the whole bot) and through the sender's own rate, `broadcast_per_second`, which leaves
room for replies to members. With Redis both are shared by every worker of the bot
(`bot.redis.SharedPace`, `SharedRate`), so adding workers never exceeds them. A broadcast
scheduled as paid goes out with `allow_paid_broadcast` at `broadcast_paid_per_second`, and
only while `BROADCAST_PAID` is on; switched off, it goes out unpaid at the normal rate. Outcomes:

- sent: the row records the message id, in its own transaction right after the call returns;
- 429 after the session's retries: deferred by `retry_after`;
- 403: a member is marked unreachable, a group is marked left; the row is skipped, never
  retried;
- 5xx, or a connection that never opened: deferred with exponential backoff, failed after
  `broadcast_max_attempts`;
- 400 (bad HTML, unknown chat ...), or a timeout / dropped connection that may have
  delivered: failed, never resent.

At most once: a row is marked in flight before its request, and only a recorded outcome
frees it. The one window is a process dying between Telegram's answer and the commit of
`sent`: that row stays in flight until its lease ends and is then failed as `interrupted`,
so the message may be lost but is never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.i18n import create_i18n
from bot.redis import SharedRate
from bot.sender import Rate
from bot.tasks import cancel_and_wait
from handlers.views.broadcast import delivery_message
from models.broadcast import RECIPIENT_PRIVATE
from services import broadcast as outbox
from services.community import mark_left

log = logging.getLogger(__name__)


def _rate(redis: Redis | None, key: str, per_second: float) -> Rate:
    if redis is None:
        return Rate(per_second)
    return SharedRate(redis, key=key, per_second=per_second)


class BroadcastSender:
    """Claims and sends due outbox rows until stopped."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        settings: Settings,
        clock: Callable[[], datetime],
        worker_id: str | None = None,
        redis: Redis | None = None,
        namespace: str = "",
        i18n: I18n | None = None,
    ) -> None:
        self.sessions = sessions
        # the ad label and 🔕 Stop promotions of a private row are in its recipient's language
        self.i18n = i18n or create_i18n(settings.default_locale)
        self.bot = bot
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.rules = settings.pacing_rules()
        # with Redis, every sender of the bot shares one rate, so more workers never send faster
        self.rate = _rate(redis, f"rate:{namespace}:broadcast", settings.broadcast_rate(False))
        self.paid_rate = _rate(redis, f"rate:{namespace}:paid", settings.broadcast_rate(True))
        self.lease = timedelta(seconds=settings.broadcast_lease_seconds)
        self.sent = 0  # rows this sender delivered (benchmarks, tests)
        self._wake = asyncio.Event()
        self._in_flight = 0  # workers between a claim and its recorded outcome
        self._idle = asyncio.Condition()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle -------------
    async def start(self) -> None:
        """Recover what a dead process left, then send in the background until `stop`."""
        await self.housekeeping()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"broadcast-sender-{self.worker_id}")
        log.info("broadcast sender %s started", self.worker_id)

    def wake(self) -> None:
        """Look for due rows now (a broadcast was confirmed or resumed)."""
        self._wake.set()

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Stop claiming; let the sends in flight finish and record their outcome."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.pump()
                await self.housekeeping()
                pause = await self._pause()
            except Exception:  # a database hiccup must not kill the sender
                log.exception("broadcast sender: a pass failed; retrying")
                pause = self.settings.broadcast_poll_seconds
            self._wake.clear()
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _pause(self) -> float:
        """Seconds until the earliest due row, at most the poll interval."""
        async with self.sessions() as session:
            due = await outbox.next_due(session)
        poll = self.settings.broadcast_poll_seconds
        if due is None:
            return poll
        return min(poll, max(0.0, (due - self.clock()).total_seconds()))

    async def housekeeping(self) -> None:
        """Fail rows whose sender died mid-send, and close finished broadcasts."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            lost = await outbox.expire_interrupted(session, now=now)
            done = await outbox.finish_done(session, now=now)
        if lost:
            log.warning("%s broadcast rows were in flight when a sender died: failed", lost)
        for broadcast_id in done:
            log.info("broadcast %s is done", broadcast_id)

    async def drain(self) -> None:
        """Send what is due now and wait until no row is in flight.

        The playground calls it before it moves the clock (what is due goes at its own time)
        and after (a row claimed on the old clock and still in flight would look abandoned,
        its lease over, and be failed by housekeeping).
        """
        await self.pump()
        async with self._idle:
            await self._idle.wait_for(lambda: self._in_flight == 0)

    # ------------------------------------------------------------ sending ---------------
    async def pump(self) -> int:
        """Send every row due now, `broadcast_concurrency` at a time; returns how many went."""
        before = self.sent
        await asyncio.gather(*(self._worker() for _ in range(self.settings.broadcast_concurrency)))
        return self.sent - before

    async def _worker(self) -> None:
        while not self._stopping:
            self._in_flight += 1
            try:
                delivery = await self._claim_and_send()
            finally:
                self._in_flight -= 1
                async with self._idle:
                    self._idle.notify_all()
            if delivery is None:
                return

    async def _claim_and_send(self) -> outbox.Delivery | None:
        """Claim the next due row and send it; None when nothing is due."""
        async with self.sessions() as session, session.begin():
            delivery = await outbox.claim_next(
                session,
                worker=self.worker_id,
                now=self.clock(),
                lease=self.lease,
                rules=self.rules,
                default_timezone=self.settings.default_timezone,
                default_locale=self.settings.default_locale,
            )
        if delivery is None:
            return None
        if delivery.paid and not self.settings.broadcast_paid:
            # paid sending was switched off since it was scheduled: no Stars are spent
            delivery = replace(delivery, paid=False)
        await (self.paid_rate if delivery.paid else self.rate).wait()
        await self._send(delivery)
        return delivery

    async def _send(self, delivery: outbox.Delivery) -> None:
        try:
            with self.i18n.context(), self.i18n.use_locale(delivery.locale):
                request = delivery_message(delivery, brand=self.settings.brand_name)
            message = await self.bot(request)
        except TelegramRetryAfter as exc:
            await self._record(
                outbox.defer,
                delivery,
                until=self.clock() + timedelta(seconds=exc.retry_after),
                reason="429",
            )
        except TelegramForbiddenError:
            await self._forbidden(delivery)
        except TelegramBadRequest as exc:
            log.warning("broadcast row %s refused: %s", delivery.row_id, exc.message)
            await self._record(outbox.fail, delivery, reason=f"400 {exc.message}")
        except TelegramServerError as exc:
            await self._retry(delivery, f"5xx {exc.message}")
        except TelegramNetworkError as exc:
            if "ClientConnectorError" in exc.message:  # never reached Telegram: safe to retry
                await self._retry(delivery, "connect")
            else:  # a timeout or a dropped answer: it may have arrived, so never resend
                log.warning("broadcast row %s uncertain: %s", delivery.row_id, exc.message)
                await self._record(outbox.fail, delivery, reason="uncertain")
        except TelegramAPIError as exc:
            await self._record(outbox.fail, delivery, reason=f"api {exc.message}")
        else:
            async with self.sessions() as session, session.begin():
                await outbox.mark_sent(
                    session, row_id=delivery.row_id, message_id=message.message_id, now=self.clock()
                )
            self.sent += 1

    async def _retry(self, delivery: outbox.Delivery, reason: str) -> None:
        if delivery.attempts >= self.settings.broadcast_max_attempts:
            await self._record(outbox.fail, delivery, reason=f"gave up: {reason}")
            return
        backoff = self.settings.broadcast_retry_seconds * 2 ** (delivery.attempts - 1)
        await self._record(
            outbox.defer, delivery, until=self.clock() + timedelta(seconds=backoff), reason=reason
        )

    async def _forbidden(self, delivery: outbox.Delivery) -> None:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            if delivery.kind == RECIPIENT_PRIVATE:
                await outbox.mark_unreachable(session, member_id=delivery.chat_id, now=now)
                await outbox.skip(session, row_id=delivery.row_id, reason="unreachable")
            else:
                await mark_left(session, community_id=delivery.chat_id)
                await outbox.skip(session, row_id=delivery.row_id, reason="bot_removed")

    async def _record(
        self, outcome: Callable[..., object], delivery: outbox.Delivery, **values: object
    ) -> None:
        async with self.sessions() as session, session.begin():
            await outcome(session, row_id=delivery.row_id, **values)  # type: ignore[misc]
