"""Alembic upgrade and drift check, run on the bot's own engine."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on the metadata)

ROOT = Path(__file__).resolve().parent.parent
# an arbitrary constant: the PostgreSQL advisory lock that serialises concurrent migrations
_MIGRATION_LOCK_KEY = 7_302_115_001


def alembic_config() -> Config:
    """The project's Alembic configuration, wherever the bot is started from."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision (creating an empty SQLite file's tables)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def drift(engine: AsyncEngine) -> list[object]:
    """Differences between the models and a migrated database; empty when they agree."""
    async with engine.connect() as connection:
        return await connection.run_sync(_drift)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_current)


@cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s) of the migrations shipped with this code."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
