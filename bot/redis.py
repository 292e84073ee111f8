"""Redis-backed FSM storage and throttling, each falling back to memory while Redis is away."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def create_redis(url: str) -> Redis:
    """A client that fails fast, so a Redis outage degrades the bot instead of stalling it."""
    return Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)


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

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        try:
            await self.primary.set_state(key, state)
            self._recovered()
        except RedisError as exc:
            self._failed(exc)
        await self.fallback.set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        try:
            value = await self.primary.get_state(key)
            self._recovered()
            return value
        except RedisError as exc:
            self._failed(exc)
            return await self.fallback.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        try:
            await self.primary.set_data(key, data)
            self._recovered()
        except RedisError as exc:
            self._failed(exc)
        await self.fallback.set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        try:
            value = await self.primary.get_data(key)
            self._recovered()
            return value
        except RedisError as exc:
            self._failed(exc)
            return await self.fallback.get_data(key)

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
        bucket = int(time.time()) // self.window
        if self.redis is not None:
            key = f"throttle:{user_id}:{bucket}"
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.window + 1)
                    count, _ = await pipe.execute()
                self._recovered()
                return int(count)
            except RedisError as exc:
                self._failed(exc)
        return self._memory_hit(user_id, bucket)


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
