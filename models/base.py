"""Column types shared by every table, and the time: `utcnow` and the type of a clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Telegram ids exceed 32 bits (supergroups are -100xxxxxxxxxx).
TelegramId = BigInteger

# Surrogate keys: BIGINT on PostgreSQL, INTEGER on SQLite so that it stays the rowid alias.
SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


# the injected clock handlers and jobs read the time from: `utcnow` in the app, a fake in tests
Clock = Callable[[], datetime]


def translations_column() -> Any:
    """The brand content of a row in other languages: {locale: {field: text}} as JSON, NULL
    when there is none (services/content.py reads and writes it). Kept on the row itself, so
    whatever reads the row reads its translations in the same statement."""
    return Column(JSON(none_as_null=True), nullable=True)
