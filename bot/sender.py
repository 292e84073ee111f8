"""Every outgoing message goes through Telegram's limits as waits, never as 429s.

`PacedRequests` is a request middleware on the bot's session: before a message-producing
call it waits for a slot (about 30 messages a second overall, one a second per private chat,
20 a minute per group), and it honours a 429's `retry_after` if one still comes: the whole
bot holds its messages until then, not only the request that got it. A message sent with
`allow_paid_broadcast` is outside the 30-a-second budget (its sender keeps its own rate). `Notifier`
sends messages that need not hold up the update that caused them (a join's confirmation),
in the background, through the same pace.

`Pace` keeps the windows in this process. With Redis, `bot.redis.SharedPace` keeps them in
Redis instead, so several workers share Telegram's one budget (and a 429 holds them all); it
falls back to this in-process pace while Redis is unreachable. `Rate` spaces a sender's own
starts (the broadcast rate); `bot.redis.SharedRate` shares it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.metrics import Metrics
from bot.transactions import refuse_if_open

log = logging.getLogger(__name__)

# methods that send or edit a message and so count against Telegram's limits
PACED_PREFIXES = ("send", "editMessage", "copyMessage", "forwardMessage")
UNPACED = ("sendChatAction",)
MAX_RETRIES = 3


@dataclass(slots=True)
class Booking:
    """A message's place in the windows. Telegram counts a message when it receives it, so
    `done` moves the booking to when the request finished."""

    at: float
    token: str = ""  # its entry in the shared windows (bot.redis.SharedPace)
    keys: tuple[str, ...] = ()  # the shared windows it is in


@dataclass(frozen=True)
class PaceLimits:
    """Telegram's documented limits, as this process may use them."""

    per_second: int = 30
    private_gap: float = 1.0
    group_per_minute: int = 20
    # a message counts from when its request finished here; Telegram counts it on its own clock
    # when it got it, and the next request may reach Telegram faster than the last one did: a
    # little slack on every window keeps that jitter from turning into a 429
    slack: float = 0.05


class Pace:
    """Waits until a message to a chat fits in every window, then books it."""

    def __init__(
        self, limits: PaceLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or PaceLimits()
        self.clock = clock
        self._overall: deque[Booking] = deque()
        self._chats: dict[int, deque[Booking]] = {}
        # after a 429, nothing is sent before this moment
        self._hold_until = 0.0

    async def hold(self, seconds: float) -> None:
        """Telegram said 429: every message waits `seconds` from now."""
        self._hold_until = max(self._hold_until, self.clock() + seconds)

    def _wait(self, chat_id: int | None, now: float, paid: bool = False) -> float:
        waits = [0.0, self._hold_until - now]
        overall = self._overall
        while overall and overall[0].at <= now - 1.0:
            overall.popleft()
        slack = self.limits.slack
        if not paid and len(overall) >= self.limits.per_second:
            waits.append(overall[-self.limits.per_second].at + 1.0 + slack - now)
        if chat_id is not None:
            window, limit = self.chat_window(chat_id)
            stamps = self._chats.setdefault(chat_id, deque())
            while stamps and stamps[0].at <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                waits.append(stamps[-limit].at + window + slack - now)
        return max(waits)

    def chat_window(self, chat_id: int) -> tuple[float, int]:
        """(seconds, messages) allowed to one chat: a private chat's gap, a group's minute."""
        if chat_id > 0:
            return self.limits.private_gap, 1
        return 60.0, self.limits.group_per_minute

    async def acquire(self, chat_id: int | None, paid: bool = False) -> Booking:
        """Return once a message to the chat is within the limits; the booking is returned so
        that `done` can move it to when the request finished."""
        while True:
            now = self.clock()
            wait = self._wait(chat_id, now, paid)
            if wait <= 0:
                booking = Booking(now)
                if not paid:
                    self._overall.append(booking)
                if chat_id is not None:
                    self._chats.setdefault(chat_id, deque()).append(booking)
                return booking
            await asyncio.sleep(wait + 0.001)

    async def done(self, booking: Booking) -> None:
        """The request finished: its message counts from now on."""
        booking.at = max(booking.at, self.clock())


class Rate:
    """At most `per_second` starts a second, spaced evenly (monotonic clock)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return at this caller's turn."""
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class PacedRequests(BaseRequestMiddleware):
    """Paces message-producing calls and retries after a 429, counting the 429s it saw."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self.retry_after_seen = 0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        paced = name.startswith(PACED_PREFIXES) and name not in UNPACED
        chat = getattr(method, "chat_id", None)
        paid = bool(getattr(method, "allow_paid_broadcast", False))
        for attempt in range(MAX_RETRIES + 1):
            booking = (
                await self.pace.acquire(chat if isinstance(chat, int) else None, paid)
                if paced
                else None
            )
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                self.retry_after_seen += 1
                # every paced message waits, not only this one
                await self.pace.hold(exc.retry_after)
                if attempt == MAX_RETRIES:
                    raise
                log.warning("%s got 429: waiting %ss as Telegram asks", name, exc.retry_after)
                if not paced:
                    await asyncio.sleep(exc.retry_after)
            finally:
                if booking is not None:
                    await self.pace.done(booking)
        raise AssertionError("unreachable")


# a background message is tried again after these pauses when Telegram fails for a passing
# reason (the last failure is final)
NOTICE_RETRY_SECONDS = (1.0, 3.0, 10.0)

# one call to Telegram of a background send, tried again as a whole on a passing failure
Step = Callable[[], Awaitable[object]]


class Notifier:
    """Sends messages in the background so the update that caused them is not held up.

    A message Telegram did not take for a passing reason (5xx, no answer) is sent again after
    each of `retry_seconds` (`NOTICE_RETRY_SECONDS`), so a member is told once Telegram answers
    again; a refusal (400, 403) or the last failed attempt is logged and counted (`failed`)."""

    def __init__(
        self,
        bot: Bot,
        failed: Callable[[], None] | None = None,
        *,
        metrics: Metrics | None = None,
        strict: bool = False,
    ) -> None:
        self.bot = bot
        self.failed = failed
        # queuing a message with a transaction open breaks the rule as sending it would: the
        # message could go out before the commit, or about work a rollback took back
        self.metrics = metrics
        self.strict = strict
        # the pauses before each new attempt (tests shorten them)
        self.retry_seconds: tuple[float, ...] = NOTICE_RETRY_SECONDS
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, chat_id: int, text: str, **kwargs: Any) -> None:
        """Queue a message; failures are logged, never raised into the caller."""
        self.queue(chat_id, text, **kwargs)

    def queue(self, chat_id: int, text: str, **kwargs: Any) -> asyncio.Task[None]:
        """Queue a message, and return the task that ends once it was sent or given up."""
        return self.queue_steps(chat_id, partial(self.bot.send_message, chat_id, text, **kwargs))

    def send_steps(self, chat_id: int, *steps: Step) -> None:
        """Queue calls to Telegram for one chat (a photo, then its text; an invite link, then
        the message with it), carried out in order, each tried again as a message is."""
        self.queue_steps(chat_id, *steps)

    def queue_steps(self, chat_id: int, *steps: Step) -> asyncio.Task[None]:
        """`send_steps`, returning the task that ends once all were done or given up."""
        refuse_if_open("sendMessage", self.metrics, strict=self.strict)
        task = asyncio.create_task(self._run(chat_id, steps))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, chat_id: int, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if not await self._attempt(chat_id, step):
                if self.failed is not None:
                    self.failed()
                return  # what came after a step not done is not done either

    async def _attempt(self, chat_id: int, step: Step) -> bool:
        """Carry out one step, again after each pause while Telegram fails for a passing
        reason; whether it was done."""
        for wait in (*self.retry_seconds, None):
            try:
                await step()
                return True
            except (TelegramServerError, TelegramNetworkError) as exc:
                if wait is None:
                    log.warning("background message to %s not sent: %s", chat_id, exc)
                    break
                log.info("background message to %s failed (%s): again in %ss", chat_id, exc, wait)
                await asyncio.sleep(wait)
            except TelegramAPIError as exc:
                log.info("background message to %s not sent: %s", chat_id, exc)
                break
        return False

    async def drain(self) -> None:
        """Wait for every queued message (tests, benchmarks, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=5)
        for task in list(self._tasks):
            task.cancel()
