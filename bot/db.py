"""The database engine and session factory, built once from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # take transaction control from the driver, so that every transaction begins IMMEDIATE
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A transaction that reads and then writes must not find its snapshot stale (SQLite would
    # fail it at once, busy timeout or not): take the write lock when the transaction begins,
    # so concurrent writers queue on the busy timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_reading(connection: Any) -> None:
    # a reader's snapshot (WAL): it never holds the write lock, however long it streams
    connection.exec_driver_sql("BEGIN")


def create_engine(settings: Settings, *, reads_only: bool = False) -> AsyncEngine:
    """An async engine for DATABASE_URL; SQLite gets WAL, a busy timeout and its folder.

    `reads_only` (SQLite): transactions begin deferred, as snapshots that never take the
    write lock, for long reads such as a streamed export beside a bot that keeps writing."""
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        begin = _sqlite_begin_reading if reads_only else _sqlite_begin
        event.listen(engine.sync_engine, "begin", begin)
        return engine
    return create_async_engine(
        settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_database(server_url: str, name: str) -> str:
    """Create an empty PostgreSQL database beside the one in server_url; returns its URL.

    Used by the test harness and the benchmarks, which each work in a throw-away database.
    """
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, name: str) -> None:
    """Drop a database made by create_database, closing any connection still open to it."""
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
