"""What every table shares: the reader's query, the table record, and rows streamed a batch
at a time, kept to the reader's groups.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.analytics import Scope
from services.period import Period

BATCH = 500  # rows fetched from the database at a time
Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """What a reader asks of a table."""

    scope: Scope
    period: Period
    timezone: str = "UTC"
    search: str = ""


RowSource = Callable[[AsyncSession, Query], AsyncIterator[Row]]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: RowSource


async def _stream(session: AsyncSession, query: Any) -> AsyncIterator[Row]:
    result = await session.stream(query.execution_options(yield_per=BATCH))
    async for row in result:
        yield tuple(row)


def _chats(column: Any, scope: Scope) -> Any:
    """A condition keeping rows of the scope's groups (always true for the whole brand)."""
    return True if scope is None else col(column).in_(sorted(scope))
