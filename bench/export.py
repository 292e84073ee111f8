"""Benchmark: a large ledger export streamed as the dashboard and `python -m bot export` write
it, against building the same CSV in one piece. Prints one JSON line.

    python bench/export.py                 # full: 100,000 transactions = 200,000 entries
    python bench/export.py --quick         # CI: 10,000 transactions = 20,000 entries
    python bench/export.py --backend postgresql \\
        --database postgresql+asyncpg://postgres@127.0.0.1:5432/test

The store is seeded with bulk inserts (two entries a transaction). The ledger table is then
streamed through `services.tables.csv_chunks` (rows fetched `BATCH` at a time with a
server-side cursor) into a byte counter: `rows_per_s` and `mb_per_s`. Each way is run again
under tracemalloc for its peak of Python allocations: `peak_kib_streamed` for the stream and
`peak_kib_whole` for reading every row first and writing the CSV at once, as the export did
before it streamed. `--check` exits 1 unless every entry is written and the stream's peak is
under a quarter of the whole file's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bench.common import scratch_store, store_parser
from bot.config import Settings
from bot.db import create_engine, create_session_factory
from bot.migrate import upgrade
from models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from services.period import Period
from services.tables import TABLES, Query, csv_chunks, csv_header, csv_lines

SEED_BATCH = 5_000
START = datetime(2026, 1, 1, tzinfo=UTC)


async def seed(sessions: Any, transactions: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            insert(LedgerAccount),
            [
                {"id": 1, "kind": "brand_revenue", "owner_id": 0, "non_negative": False},
                {"id": 2, "kind": "customer_receivable", "owner_id": 1, "non_negative": False},
            ],
        )
    for first in range(1, transactions + 1, SEED_BATCH):
        last = min(first + SEED_BATCH, transactions + 1)
        async with sessions() as session, session.begin():
            await session.execute(
                insert(LedgerTransaction),
                [
                    {
                        "id": n,
                        "idempotency_key": f"bench:{n}",
                        "kind": "order_paid",
                        "memo": f"payment of order #{n}",
                        "created_at": START + timedelta(seconds=n),
                    }
                    for n in range(first, last)
                ],
            )
            await session.execute(
                insert(LedgerEntry),
                [
                    {"transaction_id": n, "account_id": account, "asset": "CNY", "amount": amount}
                    for n in range(first, last)
                    for account, amount in ((1, -3590), (2, 3590))
                ],
            )


async def streamed(sessions: Any, query: Query) -> tuple[int, int]:
    rows = size = 0
    async with sessions() as session:
        async for chunk, count in csv_chunks(session, TABLES["ledger"], query):
            rows += count
            size += len(chunk)
    return rows, size


async def whole(sessions: Any, query: Query) -> tuple[int, int]:
    table = TABLES["ledger"]
    async with sessions() as session:
        every = [row async for row in table.rows(session, query)]
    data = csv_header(table.columns) + csv_lines(every)
    return len(every), len(data)


async def peak_kib(work: Any) -> int:
    tracemalloc.start()
    try:
        await work
        return tracemalloc.get_traced_memory()[1] // 1024
    finally:
        tracemalloc.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    transactions = 10_000 if args.quick else 100_000
    async with scratch_store(args.backend, args.database, "export") as url:
        engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        try:
            await upgrade(engine)
            sessions = create_session_factory(engine)
            await seed(sessions, transactions)
            period = Period(
                first=START.date(),
                last=(START + timedelta(days=400)).date(),
                start=START,
                end=START + timedelta(days=400),
            )
            query = Query(scope=None, period=period)
            started = time.perf_counter()
            rows, size = await streamed(sessions, query)
            elapsed = time.perf_counter() - started
            peak_streamed = await peak_kib(streamed(sessions, query))
            peak_whole = await peak_kib(whole(sessions, query))
        finally:
            await engine.dispose()
    return {
        "bench": "export",
        "backend": args.backend,
        "table": "ledger",
        "entries": transactions * 2,
        "rows": rows,
        "csv_mb": round(size / 1_000_000, 2),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "mb_per_s": round(size / 1_000_000 / elapsed, 2),
        "peak_kib_streamed": peak_streamed,
        "peak_kib_whole": peak_whole,
    }


def main(argv: list[str]) -> None:
    parser = store_parser(__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 unless every entry is written and streaming peaks under 1/4 of the whole",
    )
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(json.dumps(figures))
    if args.check and (
        figures["rows"] != figures["entries"]
        or figures["peak_kib_streamed"] * 4 > figures["peak_kib_whole"]
    ):
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
