"""CSV exports of the ledger and of orders, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger import entries_between
from services.order import orders_between

ENTRY_COLUMNS = (
    "transaction_id",
    "created_at_utc",
    "idempotency_key",
    "kind",
    "memo",
    "reverses_id",
    "order_id",
    "account_kind",
    "account_owner",
    "asset",
    "amount_minor",
)
ORDER_COLUMNS = (
    "order_id",
    "created_at_utc",
    "member_id",
    "chat_id",
    "product_id",
    "groupbuy_id",
    "title",
    "quantity",
    "unit_price_minor",
    "total_minor",
    "currency",
    "payment_mode",
    "status",
    "paid_minor",
    "refunded_minor",
)


def safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r" and not text.lstrip("-").isdigit():
        return "'" + text
    return text


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 CSV with a BOM, so spreadsheet apps read Chinese text right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


async def export_csv(
    session: AsyncSession, *, start: datetime, end: datetime
) -> tuple[tuple[bytes, int], tuple[bytes, int]]:
    """The ledger entries and the orders of [start, end) as CSV, each with its row count."""
    entries = await entries_between(session, start=start, end=end)
    orders = await orders_between(session, start=start, end=end)
    entry_rows = [
        (
            e.transaction_id,
            e.created_at,
            e.idempotency_key,
            e.kind,
            e.memo,
            e.reverses_id,
            e.order_id,
            e.account_kind,
            e.account_owner,
            e.asset,
            e.amount,
        )
        for e in entries
    ]
    order_rows = [
        (
            o.id,
            o.created_at,
            o.member_id,
            o.chat_id,
            o.product_id,
            o.groupbuy_id,
            o.title,
            o.quantity,
            o.unit_price,
            o.total,
            o.currency,
            o.payment_mode,
            o.status,
            o.paid_amount,
            o.refunded_amount,
        )
        for o in orders
    ]
    return (
        (csv_bytes(ENTRY_COLUMNS, entry_rows), len(entry_rows)),
        (csv_bytes(ORDER_COLUMNS, order_rows), len(order_rows)),
    )
