"""Every outgoing message goes through Telegram's limits as waits, never as 429s.

`PacedRequests` is a request middleware on the bot's session: before a message-producing
call it waits for a slot (about 30 messages a second overall, one a second per private chat,
20 a minute per group), and it honours a 429's `retry_after` if one still comes: the whole
bot holds its messages until then, not only the request that got it. A message sent with
`allow_paid_broadcast` is outside the 30-a-second budget (its sender keeps its own rate). `Notifier`
sends messages that need not hold up the update that caused them (a join's confirmation),
in the background, through the same pace.

The pace is per process; several workers share Telegram's budget, so each should get a
share of it (`PaceLimits`), until a Redis-backed pace replaces this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

log = logging.getLogger(__name__)

# methods that send or edit a message and so count against Telegram's limits
PACED_PREFIXES = ("send", "editMessage", "copyMessage", "forwardMessage")
UNPACED = ("sendChatAction",)
MAX_RETRIES = 3


@dataclass(frozen=True)
class PaceLimits:
    """Telegram's documented limits, as this process may use them."""

    per_second: int = 30
    private_gap: float = 1.0
    group_per_minute: int = 20


class Pace:
    """Waits until a message to a chat fits in every window, then books it."""

    def __init__(
        self, limits: PaceLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or PaceLimits()
        self.clock = clock
        # bookings are one-item lists, so a booking made before a request can be moved to the
        # moment the request finished (Telegram counts a message when it receives it)
        self._overall: deque[list[float]] = deque()
        self._chats: dict[int, deque[list[float]]] = {}
        # after a 429, nothing is sent before this moment
        self._hold_until = 0.0

    def hold(self, seconds: float) -> None:
        """Telegram said 429: every message waits `seconds` from now."""
        self._hold_until = max(self._hold_until, self.clock() + seconds)

    def _wait(self, chat_id: int | None, now: float, paid: bool = False) -> float:
        waits = [0.0, self._hold_until - now]
        overall = self._overall
        while overall and overall[0][0] <= now - 1.0:
            overall.popleft()
        if not paid and len(overall) >= self.limits.per_second:
            waits.append(overall[-self.limits.per_second][0] + 1.0 - now)
        if chat_id is not None:
            window, limit = (
                (self.limits.private_gap, 1)
                if chat_id > 0
                else (60.0, self.limits.group_per_minute)
            )
            stamps = self._chats.setdefault(chat_id, deque())
            while stamps and stamps[0][0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                waits.append(stamps[-limit][0] + window - now)
        return max(waits)

    async def acquire(self, chat_id: int | None, paid: bool = False) -> list[float]:
        """Return once a message to the chat is within the limits; the booking is returned so
        that `done` can move it to when the request finished."""
        while True:
            now = self.clock()
            wait = self._wait(chat_id, now, paid)
            if wait <= 0:
                booking = [now]
                if not paid:
                    self._overall.append(booking)
                if chat_id is not None:
                    self._chats.setdefault(chat_id, deque()).append(booking)
                return booking
            await asyncio.sleep(wait + 0.001)

    def done(self, booking: list[float]) -> None:
        """The request finished: its message counts from now on."""
        booking[0] = max(booking[0], self.clock())


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
                self.pace.hold(exc.retry_after)  # every paced message waits, not only this one
                if attempt == MAX_RETRIES:
                    raise
                log.warning("%s got 429: waiting %ss as Telegram asks", name, exc.retry_after)
                if not paced:
                    await asyncio.sleep(exc.retry_after)
            finally:
                if booking is not None:
                    self.pace.done(booking)
        raise AssertionError("unreachable")


class Notifier:
    """Sends messages in the background so the update that caused them is not held up."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, chat_id: int, text: str, **kwargs: Any) -> None:
        """Queue a message; failures are logged, never raised into the caller."""
        task = asyncio.create_task(self._send(chat_id, text, kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, chat_id: int, text: str, kwargs: dict[str, Any]) -> None:
        try:
            await self.bot.send_message(chat_id, text, **kwargs)
        except TelegramAPIError as exc:
            log.info("background message to %s not sent: %s", chat_id, exc)

    async def drain(self) -> None:
        """Wait for every queued message (tests, benchmarks, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=5)
        for task in list(self._tasks):
            task.cancel()
