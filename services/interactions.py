"""Members' messages and button taps per group and day: the batched write of a counter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from models.interactions import MemberInteraction
from services.db import insert_for, table_of

BATCH = 500  # rows per INSERT (5 parameters each, far below SQLite's limit)

# (community_id, member_id, day) -> (messages, taps)
Counts = Mapping[tuple[int, int, date], tuple[int, int]]


async def add_interactions(session: AsyncSession, *, counts: Counts) -> int:
    """Add the counts to the stored ones (one upsert per BATCH rows; counts of several
    processes for the same row add up). Returns how many rows were written."""
    table = table_of(MemberInteraction)
    rows = [
        {"community_id": c, "member_id": m, "day": d, "messages": msgs, "taps": taps}
        for (c, m, d), (msgs, taps) in sorted(counts.items())
        if msgs or taps
    ]
    for first in range(0, len(rows), BATCH):
        statement = insert_for(session, table).values(rows[first : first + BATCH])
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["community_id", "member_id", "day"],
                set_={
                    "messages": table.c.messages + statement.excluded.messages,
                    "taps": table.c.taps + statement.excluded.taps,
                },
            )
        )
    return len(rows)
