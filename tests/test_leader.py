"""Exactly one process runs the scheduler: the Redis leader lock, its takeover, and without
Redis the process alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.engine import make_url

from bot.app import Runtime, build_runtime, prepare
from bot.config import Settings
from bot.leader import LEADER_KEY
from tests.conftest import TEST_REDIS_URL
from tests.net import TcpProxy, eventually, sample
from tgemu import EMULATOR_TOKEN, Emulator

needs_redis = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="needs TEST_REDIS_URL (the PostgreSQL + Redis run)"
)
# short enough for a test, long enough that a loaded machine renews in time
TTL = 2.0
# a dead leader is replaced within about 4/3 of the ttl; the waits allow far more
WAIT = 30 * TTL


def runs_scheduler(runtime: Runtime) -> bool:
    """The scheduled jobs run in this runtime."""
    scheduler = runtime.closer.scheduler
    return scheduler is not None and scheduler.running


@pytest.fixture
async def workers(
    emulator: Emulator, settings: Settings
) -> AsyncIterator[Callable[[str | None], Runtime]]:
    """Builds runtimes sharing the test database, each on the given Redis URL."""
    built: list[Runtime] = []

    def make(redis_url: str | None) -> Runtime:
        values = {"redis_url": redis_url, "leader_ttl_seconds": TTL}
        runtime = build_runtime(settings.model_copy(update=values), EMULATOR_TOKEN)
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        await runtime.close()


def proxied(proxy: TcpProxy) -> str:
    assert TEST_REDIS_URL
    db = make_url(TEST_REDIS_URL.replace("redis://", "postgresql://", 1)).database or "0"
    return f"redis://127.0.0.1:{proxy.port}/{db}"


@needs_redis
async def test_a_leader_cut_off_from_redis_is_replaced_and_steps_down(
    workers: Callable[[str | None], Runtime], redis_proxy: TcpProxy
) -> None:
    # given two workers on one Redis, the first reaching it through a network we can cut
    first = workers(proxied(redis_proxy))
    second = workers(TEST_REDIS_URL)
    for runtime in (first, second):
        await prepare(runtime, migrate=False)
    await first.start(scheduler=True)
    # (leading is complete once every job runs and the gauge says so)
    await eventually(
        lambda: runs_scheduler(first) and sample(first, "bot_scheduler_leader") == 1,
        limit=WAIT,
        what="the first leads",
    )
    await second.start(scheduler=True)
    assert second.leadership is not None and first.leadership is not None
    # then the second, trying while the first holds the lock, does not lead
    await second.leadership.tick()
    assert not second.leadership.is_leader and not runs_scheduler(second)
    assert sample(first, "bot_scheduler_leader") == 1
    assert sample(second, "bot_scheduler_leader") == 0
    # when the first loses Redis (it is as good as dead to the others)
    await redis_proxy.cut()
    # then the second takes over once the lock expired, and the first stops its scheduler
    await eventually(lambda: runs_scheduler(second), limit=WAIT, what="the second takes over")
    await eventually(lambda: not runs_scheduler(first), limit=WAIT, what="the first steps down")
    assert sample(first, "bot_scheduler_leader") == 0
    # and when the first is back, it does not take the lock from the new leader
    await redis_proxy.start()
    await first.leadership.tick()
    assert not first.leadership.is_leader and runs_scheduler(second)


@needs_redis
async def test_a_leader_that_stops_hands_over_at_once(
    workers: Callable[[str | None], Runtime],
) -> None:
    first, second = workers(TEST_REDIS_URL), workers(TEST_REDIS_URL)
    await first.start(scheduler=True)
    # (leading is complete once every job runs and the gauge says so)
    await eventually(
        lambda: runs_scheduler(first) and sample(first, "bot_scheduler_leader") == 1,
        limit=WAIT,
        what="the first leads",
    )
    await second.start(scheduler=True)
    assert first.leadership is not None and first.redis is not None
    token = first.leadership.token.encode()
    assert await first.redis.get(LEADER_KEY) == token
    # when the leader shuts down (the first step of closing), it releases the lock ...
    await first.leadership.stop()
    assert not runs_scheduler(first)
    assert await first.redis.get(LEADER_KEY) != token
    # ... and the other takes over at its next try, without waiting for an expiry
    await eventually(lambda: runs_scheduler(second), limit=WAIT, what="the second takes over")


async def test_without_redis_the_process_runs_the_scheduler_itself(
    workers: Callable[[str | None], Runtime],
) -> None:
    runtime = workers(None)
    await runtime.start(scheduler=True)
    assert runs_scheduler(runtime) and sample(runtime, "bot_scheduler_leader") == 1
    assert runtime.leadership is not None
    await runtime.leadership.stop()
    assert not runs_scheduler(runtime) and sample(runtime, "bot_scheduler_leader") == 0


async def test_a_worker_told_not_to_run_the_scheduler_does_not(
    workers: Callable[[str | None], Runtime],
) -> None:
    runtime = workers(None)
    await runtime.start(scheduler=False)
    assert not runs_scheduler(runtime) and runtime.leadership is None
