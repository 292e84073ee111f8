"""Tables as CSV: cells a spreadsheet shows as text, streamed in chunks."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.tables._common import BATCH, Query, Row, Table


def safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r" and not text.lstrip("-").isdigit():
        return "'" + text
    return text


def csv_header(columns: Sequence[str]) -> bytes:
    """The first chunk of a CSV file: a BOM, so spreadsheet apps read Chinese text right, and
    the column names."""
    return "\ufeff".encode() + csv_lines([columns])


def csv_lines(rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")


async def csv_chunks(
    session: AsyncSession, table: Table, query: Query, *, chunk_rows: int = BATCH
) -> AsyncIterator[tuple[bytes, int]]:
    """The table as CSV in chunks of about `chunk_rows` rows, each with its row count."""
    yield csv_header(table.columns), 0
    pending: list[Row] = []
    async for row in table.rows(session, query):
        pending.append(row)
        if len(pending) >= chunk_rows:
            yield csv_lines(pending), len(pending)
            pending = []
    if pending:
        yield csv_lines(pending), len(pending)


Write = Callable[[bytes], Awaitable[object]]


async def write_csv(session: AsyncSession, table: Table, query: Query, write: Write) -> int:
    """Stream the table as CSV through `write`; returns the number of rows."""
    count = 0
    async for chunk, rows in csv_chunks(session, table, query):
        await write(chunk)
        count += rows
    return count
