"""CSV exports for the /export chat command: the ledger entries and the orders of a period,
written by the same tables (`services.tables`) as the dashboard and `python -m bot export`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.period import Period
from services.tables import TABLES, Query, csv_chunks


async def table_csv(session: AsyncSession, name: str, query: Query) -> tuple[bytes, int]:
    """One table as CSV bytes (for a chat document, which Telegram takes whole) and its rows."""
    parts: list[bytes] = []
    count = 0
    async for chunk, rows in csv_chunks(session, TABLES[name], query):
        parts.append(chunk)
        count += rows
    return b"".join(parts), count


async def export_csv(
    session: AsyncSession, *, period: Period
) -> tuple[tuple[bytes, int], tuple[bytes, int]]:
    """The ledger entries and the orders of the period as CSV, each with its row count."""
    query = Query(scope=None, period=period)
    return await table_csv(session, "ledger", query), await table_csv(session, "orders", query)
