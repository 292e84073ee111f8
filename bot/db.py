"""The database engine and session factory, built once from the settings."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Generator
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from bot.config import Settings
from services.db import BOOKKEEPING, RELAXES_COMMIT

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # take transaction control from the driver, so that every transaction begins IMMEDIATE
    # (an inline connection is opened so; setting it would go through aiosqlite's thread)
    if dbapi_connection.isolation_level is not None:
        dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # the first connection after a crash may find another process recovering the WAL
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
    ):
        _patiently(partial(cursor.execute, pragma))
    cursor.close()


# how long one attempt to take SQLite's write lock may block the event loop, and the pause
# (which lets the loop run) before the next attempt
SQLITE_LOCK_ATTEMPT_S = 0.005
SQLITE_LOCK_PAUSE_S = 0.005


def _sqlite_begin(connection: Any) -> None:
    # A transaction that reads and then writes must not find its snapshot stale (SQLite would
    # fail it at once, busy timeout or not): take the write lock when the transaction begins.
    _patiently(partial(connection.exec_driver_sql, "BEGIN IMMEDIATE"))


def _patiently(attempt: Callable[[], object]) -> None:
    """Run `attempt`, and while SQLite answers that the database is locked (another connection
    holds the write lock, or recovers the WAL after a crash), try again after a pause, up to
    the whole busy timeout. An inline connection (`InlineSQLite`) runs in the event loop's
    thread with a short busy timeout, so it waits here, asynchronously, letting the loop run
    (the holder may be another update of this process)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            attempt()
            return
        except Exception as exc:  # the driver's, or SQLAlchemy's wrapping of it
            reason = str(getattr(exc, "orig", exc))
            if "locked" not in reason or time.monotonic() > deadline:
                raise
        await_only(asyncio.sleep(SQLITE_LOCK_PAUSE_S))


def _sqlite_begin_reading(connection: Any) -> None:
    # a reader's snapshot (WAL): it never holds the write lock, however long it streams
    connection.exec_driver_sql("BEGIN")


class InlineSQLite(aiosqlite.Connection):
    """An aiosqlite connection whose calls run in the event loop's own thread.

    aiosqlite hands every call (execute, fetch, close the cursor...) to a worker thread and
    back: about eight round trips per statement, each a queue, a wake-up and the loop's
    self-pipe. A small statement takes SQLite microseconds, so the hand-offs were most of an
    update's database time, and the transaction (with SQLite's one write lock) stayed open
    while the loop ran other updates between them. Here a statement runs at once. What can
    meet another connection's lock (taking the write lock, the pragmas of a new connection)
    waits asynchronously (`_patiently`); long reads such as exports use the threaded driver
    (`create_engine(reads_only=True)`)."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineSQLite:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineSQLite]:
        return self._connect().__await__()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _inline_sqlite(*args: Any, **kwargs: Any) -> InlineSQLite:
    kwargs["timeout"] = SQLITE_LOCK_ATTEMPT_S
    kwargs["isolation_level"] = None
    return InlineSQLite(partial(sqlite3.connect, *args, **kwargs), 64)


def create_engine(settings: Settings, *, reads_only: bool = False) -> AsyncEngine:
    """An async engine for DATABASE_URL; SQLite gets WAL, a busy timeout and its folder.

    On SQLite the statements run in the event loop's thread (`InlineSQLite`). `reads_only`
    (SQLite): transactions begin deferred, as snapshots that never take the write lock, on
    aiosqlite's worker thread, for long reads such as a streamed export beside a bot that
    keeps writing."""
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if not reads_only:
            connect_args["async_creator_fn"] = _inline_sqlite
        engine = create_async_engine(settings.database_url, connect_args=connect_args)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        begin = _sqlite_begin_reading if reads_only else _sqlite_begin
        event.listen(engine.sync_engine, "begin", begin)
        return engine
    engine = create_async_engine(
        settings.database_url,
        # every update in flight holds a connection until its COMMIT, and never more than
        # DATABASE_POOL_SIZE are open: one lent beyond them was closed at the end of its burst
        # and opened again in the next (a connect, type lookups and every statement prepared
        # anew on it), a sixth of a flash sale's time on PostgreSQL; an update beyond the pool
        # waits for a connection to come back instead, a few milliseconds in a burst
        pool_size=settings.database_pool_size,
        max_overflow=0,
        connect_args={"connection_class": DurableAtCommit},
    )
    event.listen(engine.sync_engine, "checkin", _note_checkin)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    event.listen(engine.sync_engine, "begin", _forget_writes)
    event.listen(engine.sync_engine, "before_cursor_execute", _note_write)
    return engine


# Whether a statement of the open transaction of a PostgreSQL connection turned
# `synchronous_commit` off (services.db.RELAXES_COMMIT), in the connection's `info`.
_RELAXED = "relaxed"
DURABLE_COMMIT = "SET LOCAL synchronous_commit TO ON; COMMIT;"


class DurableAtCommit(asyncpg.Connection):
    """asyncpg's connection, whose COMMIT can turn `synchronous_commit` on again in the same
    message (`durable_at_commit`): one simple query of two statements, so the COMMIT costs no
    round trip more and holds a write's row locks no longer."""

    durable_at_commit = False

    async def execute(self, query: str, *args: Any, **options: Any) -> str:
        if query == "COMMIT;" and not args and self.durable_at_commit:
            self.durable_at_commit = False  # and at each BEGIN (`_forget_writes`)
            try:
                done: str = await super().execute(DURABLE_COMMIT, **options)
                return done
            except asyncpg.InFailedSQLTransactionError:
                # a statement of the transaction failed, so the SET failed and the COMMIT
                # never ran: the COMMIT alone rolls the transaction back, as it would have
                pass
        result: str = await super().execute(query, *args, **options)
        return result


def _forget_writes(connection: Any) -> None:
    connection.info.pop(_RELAXED, None)
    connection.connection.driver_connection.durable_at_commit = False


def _note_write(
    connection: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
) -> None:
    """Before each statement: the disk's wait back on for the COMMIT of a transaction that
    writes more than bookkeeping.

    Only bookkeeping (the update's claim, the member's and the group's rows, a sighting) may
    commit without waiting for the disk: the update's context read turns `synchronous_commit`
    off for its transaction. Such a commit is still atomic and in order, but a crash of the
    database server in the fraction of a second after it could lose it; what is lost is
    recorded again by the member's next update, and an update answered is not delivered
    again. Before the first statement that may write anything else (a payment, a join, a
    SAVEPOINT, anything but a SELECT or bookkeeping) the transaction's COMMIT is marked to
    turn it on again (`DurableAtCommit`), and then waits for the disk as usual."""
    info = connection.info
    options = context.execution_options if context is not None else {}
    if options.get(BOOKKEEPING):
        if options.get(RELAXES_COMMIT):
            info[_RELAXED] = True
    # a write, or a statement we cannot tell (SAVEPOINT)
    elif info.get(_RELAXED) and not statement.startswith("SELECT"):
        info[_RELAXED] = False
        connection.connection.driver_connection.durable_at_commit = True


# a pooled connection idle this long is pinged before it is lent (see `_ping_if_idle`)
IDLE_PING_S = 10.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Make sure a connection that sat idle in the pool still reaches the server (it may have
    restarted, or a proxy dropped the connection), and if not, have the pool open new ones.

    SQLAlchemy's `pool_pre_ping` pings at every checkout, which on asyncpg costs three round
    trips (BEGIN, a ping, ROLLBACK): more than the claim and the member read of an update
    together. A busy bot takes a connection back within milliseconds of returning it, so only
    an idle one is pinged. A connection the server dropped while busy fails its update's
    statement instead; SQLAlchemy then recycles the whole pool, and the update (claimed only if
    it committed) is handled when delivered again."""
    checked_in = record.info.get("checked_in_at")
    if checked_in is None or time.monotonic() - checked_in < IDLE_PING_S:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # the driver's error, whatever the cause: the connection is unusable
        raise InvalidatePoolError(f"an idle pooled connection no longer answers: {exc}") from exc


async def fill_pool(engine: AsyncEngine, size: int) -> None:
    """Open `size` connections of a PostgreSQL engine's pool at once and leave them in it, so
    that the bot's first burst of updates after start-up finds them open: each one opened
    in a burst costs its update a connect, the server's authentication and the type codecs'
    look-ups, on the event loop the other updates wait on. Nothing to do on SQLite, whose
    connections are files opened in microseconds."""
    if engine.dialect.name == "sqlite":
        return
    everyone_in = asyncio.Barrier(size)

    async def hold_one() -> None:
        try:
            async with engine.connect():
                await everyone_in.wait()  # so that each holds a connection of its own
        except asyncio.BrokenBarrierError:
            return  # another could not connect: give this one back, the failure is theirs
        except BaseException:
            await everyone_in.abort()  # or those connected would wait for it forever
            raise

    await asyncio.gather(*(hold_one() for _ in range(size)))


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def _run_on_server(server_url: str, statement: str) -> None:
    """Run one statement outside any transaction (CREATE/DROP DATABASE refuse to run inside one)."""
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await admin.dispose()


async def create_database(server_url: str, name: str) -> str:
    """Create an empty PostgreSQL database beside the one in server_url; returns its URL.

    Used by the test harness and the benchmarks, which each work in a throw-away database.
    """
    await _run_on_server(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, name: str) -> None:
    """Drop a database made by create_database, closing any connection still open to it."""
    await _run_on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
