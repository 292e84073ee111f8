"""Migrations: the first run creates the store; models and migrations never drift apart."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot.db import create_database, create_engine, drop_database
from bot.migrate import alembic_config, current_revision, drift, upgrade
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.test_config import run_cli


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(make_settings(database_url=database_url))
    try:
        assert await drift(engine) == []
        assert await current_revision(engine) is not None
        assert set(SQLModel.metadata.tables) <= await table_names(engine)
    finally:
        await engine.dispose()


def test_migrate_command_creates_the_sqlite_file_and_reports_no_drift(tmp_path: Path) -> None:
    # given no database file yet, under a folder that does not exist either
    target = tmp_path / "fresh" / "bot.sqlite3"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{target}"}
    # when the operator migrates
    result = run_cli("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "newest schema" in result.stdout
    # then the file holds every table, in WAL mode
    with sqlite3.connect(target) as conn:
        names = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(SQLModel.metadata.tables) <= names
    check = run_cli("migrate", "--check", env=env)
    assert check.returncode == 0 and "models and migrations agree" in check.stdout


async def test_downgrade_to_nothing_and_back_up(tmp_path: Path) -> None:
    """Every revision can be undone and redone on the backend under test."""
    if TEST_DATABASE_URL:
        server = TEST_DATABASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
        name = f"ccbot_roundtrip_{uuid.uuid4().hex[:8]}"
        url = await create_database(server, name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    engine = create_engine(make_settings(database_url=url))
    try:
        await upgrade(engine)

        def downgrade(connection: object) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        assert await table_names(engine) <= {"alembic_version"}
        await upgrade(engine)
        assert await drift(engine) == []
    finally:
        await engine.dispose()
        if TEST_DATABASE_URL:
            await drop_database(server, name)
