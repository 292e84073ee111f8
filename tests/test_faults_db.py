"""Faults: the database is briefly locked by someone else, or the bot's connection is dropped,
while members join. The join either waits for the lock and succeeds, or fails cleanly (an
apology, nothing half-written) and succeeds when Telegram delivers the same update again."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

import bot.db
from bot.app import build_runtime, prepare
from bot.config import Settings
from handlers.errors import APOLOGY
from tests.conftest import KAI, LEE, MIA, TEA, FakeClock, Harness
from tests.faults import deliver, handled
from tests.test_groupbuy_chat import open_drop
from tgemu import EMULATOR_TOKEN, Emulator

JOINED = "你是第 1 位，數量 1。"  # Kai reads his own tap's answer in 繁體中文


def sqlite_file(harness: Harness) -> str:
    path = harness.runtime.settings.sqlite_path()
    assert path is not None
    return str(path)


@contextmanager
def sqlite_write_lock(path: str) -> Iterator[None]:
    """Another process's connection holding the database's write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


@asynccontextmanager
async def pg_row_lock(url: str) -> AsyncIterator[AsyncConnection]:
    """Another session holding group-buy #1's row lock (released when the block ends)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as other:
            await other.execute(text("BEGIN"))
            await other.execute(text("SELECT id FROM groupbuy WHERE id = 1 FOR UPDATE"))
            yield other
            await other.execute(text("ROLLBACK"))
    finally:
        await engine.dispose()


async def waiting_backend(other: AsyncConnection) -> int:
    """The pid of the session that waits for the lock `other` holds (waits until there is one)."""
    for _ in range(3000):
        found = await other.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )
        pid = found.scalar()
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.01)
    raise AssertionError("nobody waited for the lock")


def press_join(harness: Harness, card: int, member: int = KAI) -> dict[str, Any]:
    return harness.emulator.press_button(member, TEA, card, index=0)


def toast(harness: Harness, update: dict[str, Any]) -> str | None:
    answer = harness.emulator.callback_answers.get(update["callback_query"]["id"])
    return None if answer is None else answer.get("text")


async def joins(harness: Harness) -> list[tuple[int, int]]:
    async with harness.session() as session:
        found = await session.execute(text("SELECT member_id, quantity FROM groupbuy_join"))
        return [(int(member), int(quantity)) for member, quantity in found]


async def test_a_join_waits_for_a_brief_lock_and_succeeds(harness: Harness) -> None:
    tea_card, _coffee = await open_drop(harness)
    update = press_join(harness, tea_card)
    harness.emulator.pop_updates()
    if harness.runtime.engine.dialect.name == "sqlite":
        # given another connection holds SQLite's write lock
        with sqlite_write_lock(sqlite_file(harness)):
            # when a member joins, and the lock is released a moment later (well within the
            # busy timeout) while the join waits for it
            joining = asyncio.create_task(deliver(harness, update))
            await asyncio.sleep(0.3)
    else:
        # given another session holds the group-buy's row lock (PostgreSQL)
        async with pg_row_lock(harness.runtime.settings.database_url) as other:
            # when a member joins, it waits for the lock, which is then released
            joining = asyncio.create_task(deliver(harness, update))
            await waiting_backend(other)
    # then the join went through the first time, once
    assert await joining == 1
    assert toast(harness, update) == JOINED
    assert await joins(harness) == [(KAI, 1)]


async def test_a_join_failed_by_the_database_is_clean_and_its_redelivery_joins_once(
    emulator: Emulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a bot that waits at most 0.2 s for a SQLite lock
    monkeypatch.setattr(bot.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    clock = FakeClock()
    runtime = build_runtime(settings, EMULATOR_TOKEN, clock=clock)
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime, clock=clock)
    try:
        tea_card, _coffee = await open_drop(harness)
        await harness.send(MIA, MIA, "/start")
        update = press_join(harness, tea_card, member=MIA)
        harness.emulator.pop_updates()
        if settings.is_sqlite:
            # when another connection holds the write lock longer than that
            with sqlite_write_lock(sqlite_file(harness)):
                await runtime.dp.feed_raw_update(runtime.bot, update)
        else:
            # when the join's connection is dropped while it waits for a row lock (an admin's
            # pg_terminate_backend, a failover)
            async with pg_row_lock(settings.database_url) as other:
                feeding = asyncio.create_task(runtime.dp.feed_raw_update(runtime.bot, update))
                pid = await waiting_backend(other)
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await feeding
        # then the member is told to try again, with no traceback, and nothing was written
        assert toast(harness, update) == APOLOGY
        assert not await handled(harness, update["update_id"])
        assert await joins(harness) == []
        # and when Telegram delivers the same update again, the join happens once
        # (Telegram accepts one answer per button press: the confirmation comes privately)
        assert await deliver(harness, update) == 1
        assert harness.emulator.last_bot_message(MIA).text == (
            "You joined Oolong tea: quantity 1, you are #1."
        )
        assert await deliver(harness, update) == 1  # one more delivery changes nothing
        assert await joins(harness) == [(MIA, 1)]
        # and the bot keeps working for everyone else
        assert await harness.press(LEE, TEA, tea_card, index=1) == "你是第 2 位，数量 2。"
    finally:
        await runtime.close()


async def test_a_sqlite_connection_waits_for_the_lock_without_stopping_the_bot(
    tmp_path: Any,
) -> None:
    # SQLite statements run in the event loop's thread (bot.db.InlineSQLite); a connection
    # that meets another process's write lock, opening or beginning, must wait for it without
    # blocking the loop, and then do its work
    url = f"sqlite+aiosqlite:///{tmp_path}/locked.sqlite3"
    engine = bot.db.create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))
        await engine.dispose()  # the next statement opens a new connection, as after a restart
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        # given another process holds the write lock for half a second
        with sqlite_write_lock(str(tmp_path / "locked.sqlite3")):
            writing = asyncio.create_task(_insert(engine))
            await asyncio.sleep(0.5)
            assert not writing.done()  # it waits for the lock ...
        await writing  # ... and writes once it is free
        ticker.cancel()
        # then the loop kept running while it waited (a blocked loop would not have ticked)
        assert ticks >= 20
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT n FROM t"))).scalars().all() == [1]
    finally:
        await engine.dispose()


async def _insert(engine: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (n) VALUES (1)"))


async def test_a_pooled_connection_dropped_while_idle_is_replaced_before_an_update_uses_it(
    harness: Harness, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.is_sqlite:
        pytest.skip("PostgreSQL's connection pool (SQLite opens its file, there is no server)")
    # given the bot's pooled connections were all used once
    tea_card, _coffee = await open_drop(harness)
    # when the server drops them while they sit idle (a restart, a proxy's idle timeout)
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as other:
            dropped = await other.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert any(dropped.scalars().all())
    finally:
        await engine.dispose()
    monkeypatch.setattr(bot.db, "IDLE_PING_S", 0.0)  # as if they had been idle a while
    # then the next member's join finds a live connection (the idle one failed its ping and the
    # pool opened new ones), instead of an apology
    update = press_join(harness, tea_card)
    assert await deliver(harness, update) == 1
    assert toast(harness, update) == JOINED
    assert await joins(harness) == [(KAI, 1)]


@pytest.fixture
async def four_connections(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A PostgreSQL engine of a process that keeps 4 connections (DATABASE_POOL_SIZE)."""
    if settings.is_sqlite:
        pytest.skip("PostgreSQL's connection pool (SQLite opens its file, there is no server)")
    engine = bot.db.create_engine(settings.model_copy(update={"database_pool_size": 4}))
    try:
        yield engine
    finally:
        await engine.dispose()


async def held_backend(engine: AsyncEngine, lent: list[int] | None = None) -> int:
    """Hold one connection as an update would (a statement, then a moment) and return its
    server process; `lent` collects how many connections the pool had lent meanwhile."""
    async with engine.connect() as connection:
        if lent is not None:
            lent.append(engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]
        backend = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await asyncio.sleep(0.05)  # the others are lent meanwhile, or wait for one
        return int(backend)


async def test_a_burst_larger_than_the_pool_runs_on_the_pool_s_connections(
    four_connections: AsyncEngine,
) -> None:
    engine = four_connections
    lent: list[int] = []
    # when 8 updates at once each hold one (twice the pool), and then 8 more
    first = set(await asyncio.gather(*(held_backend(engine, lent) for _ in range(8))))
    second = set(await asyncio.gather(*(held_backend(engine, lent) for _ in range(8))))
    # then all 16 ran on the pool's 4 connections: none was opened beyond them, and none
    # was closed at the end of the first burst and opened again for the second
    assert max(lent) == 4
    assert len(first) == 4
    assert second == first


async def test_the_pool_s_connections_are_open_before_the_first_burst(
    four_connections: AsyncEngine,
) -> None:
    # given a process whose 4 connections are filled at start-up (bot.app.open_connections)
    engine = four_connections
    pool = engine.sync_engine.pool
    opened: list[object] = []
    event.listen(
        engine.sync_engine, "connect", lambda connection, _record: opened.append(connection)
    )
    await bot.db.fill_pool(engine, 4)
    # then the pool holds 4 open connections, none of them lent
    assert len(opened) == 4
    assert pool.checkedin() == 4  # type: ignore[attr-defined]
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    # when a burst of 4 updates comes, each takes one of them: none is opened for it
    assert len(set(await asyncio.gather(*(held_backend(engine) for _ in range(4))))) == 4
    assert len(opened) == 4


async def test_a_connection_that_fails_while_the_pool_fills_leaves_no_other_waiting(
    four_connections: AsyncEngine,
) -> None:
    engine = four_connections
    opened: list[object] = []

    def third_fails(connection: object, _record: object) -> None:
        opened.append(connection)
        if len(opened) == 3:
            raise ConnectionResetError("the server went away")

    event.listen(engine.sync_engine, "connect", third_fails)
    # when the third of four connections fails to open while the pool fills at start-up
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(bot.db.fill_pool(engine, 4), timeout=10)
    await asyncio.sleep(0)  # the others give their connections back
    # then the failure is reported and none of the others still holds a connection,
    # waiting for the one that failed
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # and the bot then opens connections as its updates need them
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
