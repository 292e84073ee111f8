"""Exactly one process runs the scheduler: the one holding a Redis leader lock.

APScheduler must not share a job store between schedulers, so with several workers only the
leader runs the scheduled jobs (every job still claims its work in the database, so a brief
overlap while leadership changes hands does nothing twice). The lock is a Redis key set with
`SET NX PX ttl`, holding this process's token, and renewed every third of the ttl only while
it still holds the token. When the leader dies its key expires, and another process takes it
at its next try: within about 4/3 of the ttl. A leader that cannot renew (Redis away, or the
key lost) steps down once its own lease has run out, before anyone else can be elected. A
leader that stops releases the lock, so the next one takes over at its next try.

Without Redis there is no one to share with: the process runs the scheduler itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

LEADER_KEY = "scheduler:leader"
# renew or delete the key only while it still holds our token
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end"
)


class SchedulerLeadership:
    """Campaigns for the lock in the background; runs `on_elected` when this process becomes
    the leader and `on_deposed` when it stops being one."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        ttl: float,
        on_elected: Callable[[], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
        key: str = LEADER_KEY,
    ) -> None:
        self.redis = redis
        self.ttl = ttl
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.key = key
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.is_leader = False
        self._lease_until = 0.0  # monotonic time our lock surely lasts until
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin campaigning (without Redis: lead at once)."""
        if self.redis is None:
            await self._elected()
            return
        self._task = asyncio.create_task(self._campaign(), name=f"leader-{self.token}")

    async def stop(self) -> None:
        """Stop campaigning, stop the scheduler if it runs here, and release the lock."""
        await cancel_and_wait(self._task)
        self._task = None
        if self.is_leader:
            await self._deposed()
            if self.redis is not None:
                with contextlib.suppress(RedisError):
                    await self.redis.eval(_RELEASE, 1, self.key, self.token)

    async def _campaign(self) -> None:
        while True:
            await self.tick()
            pause = self.ttl / 3
            if self.is_leader:  # wake at the end of the lease at the latest, to step down then
                pause = min(pause, max(0.0, self._lease_until - time.monotonic()))
            await asyncio.sleep(pause)

    async def tick(self) -> None:
        """One try: renew the lock if we hold it, else try to take it; act on the result."""
        assert self.redis is not None
        ttl_ms = max(1, int(self.ttl * 1000))
        asked = time.monotonic()
        try:
            if self.is_leader:
                held = bool(await self.redis.eval(_RENEW, 1, self.key, self.token, ttl_ms))
            else:
                held = bool(await self.redis.set(self.key, self.token, nx=True, px=ttl_ms))
        except (RedisError, OSError) as exc:
            if self.is_leader and time.monotonic() < self._lease_until:
                log.warning("could not renew the scheduler lock (%s); retrying", exc)
                return  # our lease still runs: keep leading until it is over
            held = False
        if held:
            self._lease_until = asked + self.ttl
            if not self.is_leader:
                await self._elected()
        elif self.is_leader:
            log.warning("lost the scheduler lock: this process stops running the scheduler")
            await self._deposed()

    async def _elected(self) -> None:
        self.is_leader = True
        log.info("this process runs the scheduler (%s)", self.token)
        try:
            await self.on_elected()
        except Exception:  # e.g. the database is away: give the lock back and try again
            log.exception("starting the scheduler failed; stepping down")
            await self._deposed()
            if self.redis is not None:
                with contextlib.suppress(RedisError):
                    await self.redis.eval(_RELEASE, 1, self.key, self.token)

    async def _deposed(self) -> None:
        self.is_leader = False
        await self.on_deposed()
