"""Redis-backed FSM storage, throttling and message pace, each falling back to memory while
Redis is away."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.sender import Booking, Pace, PaceLimits, Rate

log = logging.getLogger(__name__)
_T = TypeVar("_T")


# connections one process keeps to Redis; more callers at once wait for one to be free
REDIS_CONNECTIONS = 100


def create_redis(url: str) -> Redis:
    """A client that fails fast, so a Redis outage degrades the bot instead of stalling it.

    A burst (a flash sale's taps, the confirmations they queue, each waiting its turn in the
    shared pace) can ask for more connections at once than the pool holds: those callers wait
    up to a second for a free one, instead of failing at once as a plain pool does (which
    would send the pace and the state to memory, and a message past Telegram's limits)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_CONNECTIONS,
        timeout=1.0,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
    )
    return Redis.from_pool(pool)


class _Degradable:
    """Logs the switch to and from the in-memory fallback once, not on every call."""

    def __init__(self, what: str) -> None:
        self._what = what
        self.degraded = False

    def _failed(self, exc: Exception) -> None:
        if not self.degraded:
            log.warning(
                "Redis unavailable for %s (%s); using memory until it is back", self._what, exc
            )
        self.degraded = True

    def _recovered(self) -> None:
        if self.degraded:
            log.warning("Redis is back for %s", self._what)
        self.degraded = False


class ResilientStorage(_Degradable, BaseStorage):
    """FSM storage in Redis; while Redis is unreachable, states live in memory."""

    def __init__(self, redis: Redis) -> None:
        super().__init__("FSM storage")
        self.primary = RedisStorage(redis)
        self.fallback = MemoryStorage()

    async def _write(self, primary: Awaitable[None]) -> None:
        """Write to Redis if it answers; the caller writes the same to memory either way."""
        try:
            await primary
            self._recovered()
        except RedisError as exc:
            self._failed(exc)

    async def _read(self, primary: Awaitable[_T], fallback: Callable[[], Awaitable[_T]]) -> _T:
        """Read from Redis, or from memory while Redis is away."""
        try:
            value = await primary
            self._recovered()
            return value
        except RedisError as exc:
            self._failed(exc)
            return await fallback()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._write(self.primary.set_state(key, state))
        await self.fallback.set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._read(self.primary.get_state(key), lambda: self.fallback.get_state(key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(self.primary.set_data(key, data))
        await self.fallback.set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._read(self.primary.get_data(key), lambda: self.fallback.get_data(key))

    async def state_and_hit(
        self, key: StorageKey, throttle: Throttle, who: int
    ) -> tuple[str | None, int | None]:
        """The state under `key`, read in the same round trip that counts one update from
        `who` for `throttle`; the count is None when it was not taken (Redis away, or the
        throttle keeps its counts elsewhere), and the throttle must take it itself."""
        redis = self.primary.redis
        if throttle.redis is not redis:
            return await self.get_state(key), None
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.get(self.primary.key_builder.build(key, "state"))
                throttle.queue(pipe, who)
                value, count, _ = await pipe.execute()
        except RedisError as exc:
            self._failed(exc)
            return await self.fallback.get_state(key), None
        self._recovered()
        return (value.decode() if isinstance(value, bytes) else value), throttle.took(count)

    async def close(self) -> None:
        await self.fallback.close()
        try:
            await self.primary.close()
        except RedisError as exc:  # closing a dead connection must not fail shutdown
            log.debug("closing Redis storage: %s", exc)


class Throttle(_Degradable):
    """Counts a user's updates in fixed windows; Redis when given, memory otherwise or meanwhile."""

    def __init__(self, *, limit: int, window: int, redis: Redis | None = None) -> None:
        super().__init__("throttling")
        self.limit = limit
        self.window = window
        self.redis = redis
        self._counts: dict[tuple[int, int], int] = {}

    def _memory_hit(self, user_id: int, bucket: int) -> int:
        if len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= bucket}
        key = (user_id, bucket)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]

    async def hit(self, user_id: int) -> int:
        """Count one update from the user; returns how many they sent in the current window."""
        if self.redis is not None:
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    self.queue(pipe, user_id)
                    count, _ = await pipe.execute()
                return self.took(count)
            except RedisError as exc:
                self._failed(exc)
        return self._memory_hit(user_id, int(time.time()) // self.window)

    def queue(self, pipe: Pipeline, user_id: int) -> None:
        """Add the count of one update from the user to `pipe` (two replies: the count, and
        True), so that it costs no round trip of its own."""
        key = f"throttle:{user_id}:{int(time.time()) // self.window}"
        pipe.incr(key)
        pipe.expire(key, self.window + 1)

    def took(self, count: Any) -> int:
        """The count `queue` added, as Redis replied it."""
        self._recovered()
        return int(count)


# Books one message in the shared windows if it fits in all of them, else returns the wait.
# KEYS: the hold key (after a 429), the overall window, the chat's window.
# ARGV: now, overall limit (0: not counted, a paid message), chat window seconds, chat limit
# (0: no chat), the booking's token, the slack added to every window (PaceLimits.slack).
# Windows are sorted sets of tokens scored by send time.
BOOK = """
local now = tonumber(ARGV[1])
local wait = 0
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > now then wait = hold - now end
local overall = tonumber(ARGV[2])
if overall > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1)
  if redis.call('ZCARD', KEYS[2]) >= overall then
    local nth = redis.call('ZRANGE', KEYS[2], -overall, -overall, 'WITHSCORES')
    wait = math.max(wait, tonumber(nth[2]) + 1 + tonumber(ARGV[6]) - now)
  end
end
local window = tonumber(ARGV[3])
local per_chat = tonumber(ARGV[4])
if per_chat > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
  if redis.call('ZCARD', KEYS[3]) >= per_chat then
    local nth = redis.call('ZRANGE', KEYS[3], -per_chat, -per_chat, 'WITHSCORES')
    wait = math.max(wait, tonumber(nth[2]) + window + tonumber(ARGV[6]) - now)
  end
end
if wait > 0 then return tostring(wait) end
if overall > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], 2000)
end
if per_chat > 0 then
  redis.call('ZADD', KEYS[3], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[3], math.ceil(window * 1000) + 1000)
end
return '0'
"""

# Moves the hold (after a 429) to ARGV[1] unless it already reaches further. ARGV[2]: ms.
HOLD = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 0
"""

# Takes the next start of a shared rate: returns how long the caller waits for it.
# KEYS: the rate's key. ARGV: now, the interval between two starts.
TURN = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], tostring(start + interval),
           'PX', math.ceil((start + interval - now) * 1000) + 1000)
return tostring(start - now)
"""

# after a Redis error, the in-process fallback is used this long before Redis is tried again
RETRY_SECONDS = 5.0


class SharedPace(_Degradable, Pace):
    """Telegram's windows kept in Redis, so every worker of the bot shares one budget and a 429
    seen by one holds them all; the in-process windows while Redis is unreachable.

    Times are wall-clock seconds (`time.time`), comparable between processes and hosts.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        limits: PaceLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _Degradable.__init__(self, "the message pace")
        Pace.__init__(self, limits, clock)
        self.redis = redis
        self.prefix = f"pace:{namespace}:"
        self._book = redis.register_script(BOOK)
        self._hold = redis.register_script(HOLD)
        self._retry_at = 0.0

    def _usable(self) -> bool:
        return not self.degraded or self.clock() >= self._retry_at

    def _lost(self, exc: RedisError) -> None:
        self._failed(exc)
        self._retry_at = self.clock() + RETRY_SECONDS

    async def try_book(self, chat_id: int | None, paid: bool = False) -> Booking | float:
        """Book a message now if every shared window has room; otherwise the seconds to wait.
        Raises RedisError."""
        now = self.clock()
        token = uuid.uuid4().hex
        overall_key = f"{self.prefix}all"
        chat_key = f"{self.prefix}chat:{chat_id}"
        window, per_chat = self.chat_window(chat_id) if chat_id is not None else (0.0, 0)
        overall = 0 if paid else self.limits.per_second
        wait = float(
            await self._book(
                keys=[f"{self.prefix}hold", overall_key, chat_key],
                args=[repr(now), overall, repr(window), per_chat, token, repr(self.limits.slack)],
            )
        )
        if wait > 0:
            return wait
        keys = tuple(k for k, used in ((overall_key, overall), (chat_key, per_chat)) if used)
        return Booking(now, token, keys)

    async def acquire(self, chat_id: int | None, paid: bool = False) -> Booking:
        while self._usable():
            try:
                booked = await self.try_book(chat_id, paid)
            except RedisError as exc:
                self._lost(exc)
                break
            self._recovered()
            if isinstance(booked, Booking):
                return booked
            await asyncio.sleep(booked + 0.001)
        return await Pace.acquire(self, chat_id, paid)

    async def done(self, booking: Booking) -> None:
        if not booking.keys:  # booked in process
            await Pace.done(self, booking)
            return
        booking.at = max(booking.at, self.clock())
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in booking.keys:
                    pipe.zadd(key, {booking.token: booking.at}, xx=True)
                await pipe.execute()
        except RedisError as exc:
            self._lost(exc)

    async def hold(self, seconds: float) -> None:
        await Pace.hold(self, seconds)
        if not self._usable():
            return
        until = self.clock() + seconds
        try:
            await self._hold(
                keys=[f"{self.prefix}hold"], args=[repr(until), int(seconds * 1000) + 1000]
            )
        except RedisError as exc:
            self._lost(exc)


class SharedRate(_Degradable, Rate):
    """A rate shared by every worker through Redis (the broadcast rate across all senders);
    each worker's own spacing while Redis is unreachable."""

    def __init__(
        self,
        redis: Redis,
        *,
        key: str,
        per_second: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _Degradable.__init__(self, "the broadcast rate")
        Rate.__init__(self, per_second)
        self.redis = redis
        self.key = key
        self.clock = clock
        self._turn = redis.register_script(TURN)
        self._retry_at = 0.0

    async def turn(self) -> float:
        """Take the next start of every worker's rate: the seconds until it. Raises RedisError."""
        return float(
            await self._turn(keys=[self.key], args=[repr(self.clock()), repr(self.interval)])
        )

    async def wait(self) -> None:
        if not self.degraded or self.clock() >= self._retry_at:
            try:
                delay = await self.turn()
            except RedisError as exc:
                self._failed(exc)
                self._retry_at = self.clock() + RETRY_SECONDS
            else:
                self._recovered()
                if delay > 0:
                    await asyncio.sleep(delay)
                return
        await Rate.wait(self)


class RecentUpdates(_Degradable):
    """Remembers update ids in Redis so that a redelivered update is dropped before it reaches
    the handlers; the database claim stays the truth, and while Redis is away every update
    goes on to it.

    An id is first marked in progress for `lease` seconds (SET NX EX), then done for `ttl`
    seconds once handled, or forgotten when handling failed. A copy that arrives while another
    worker still handles the update is neither handled nor acknowledged: Telegram sends it
    again later, so a worker killed mid-update (its mark expires) loses nothing.
    """

    PROCESSING = b"processing"
    DONE = b"done"
    # the answers of `claim`
    FRESH = "fresh"  # handle it
    SEEN = "seen"  # handled already: acknowledge and drop
    BUSY = "busy"  # being handled elsewhere: ask Telegram to send it again later

    def __init__(self, redis: Redis, *, ttl: int, lease: int = 60) -> None:
        super().__init__("webhook deduplication")
        self.redis = redis
        self.ttl = ttl
        self.lease = lease

    async def claim(self, update_id: int) -> str:
        """FRESH, SEEN or BUSY for this delivery (FRESH when Redis cannot tell)."""
        key = f"update:{update_id}"
        try:
            if await self.redis.set(key, self.PROCESSING, nx=True, ex=self.lease):
                self._recovered()
                return self.FRESH
            value = await self.redis.get(key)
            self._recovered()
        except RedisError as exc:
            self._failed(exc)
            return self.FRESH
        return self.SEEN if value == self.DONE else self.BUSY

    async def done(self, update_id: int) -> None:
        """The update was handled: drop copies for the next `ttl` seconds."""
        try:
            await self.redis.set(f"update:{update_id}", self.DONE, ex=self.ttl)
        except RedisError as exc:
            self._failed(exc)

    async def forget(self, update_id: int) -> None:
        """The update failed: let a redelivery through."""
        try:
            await self.redis.delete(f"update:{update_id}")
        except RedisError as exc:
            self._failed(exc)
