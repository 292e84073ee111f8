"""Shared pieces of the fault tests: Telegram's redelivery, a Redis network cut, and the
checks every fault test ends with (nothing lost, nothing twice)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from handlers.errors import ANSWER_LOST, APOLOGY
from models.groupbuy import GroupBuy
from models.idempotency import ProcessedUpdate
from models.ledger import LedgerTransaction
from models.order import Order
from tests.conftest import Harness

REDELIVERIES = 5


async def handled(harness: Harness, update_id: int) -> bool:
    """The update's transaction committed (its id is claimed in the store)."""
    async with harness.session() as session:
        return await session.get(ProcessedUpdate, update_id) is not None


async def deliver(harness: Harness, update: dict[str, Any]) -> int:
    """Feed an update as Telegram would: again (same update id) while it is not handled, as
    Telegram redelivers an update that did not get through. Returns how many tries it took."""
    for attempt in range(1, REDELIVERIES + 1):
        await harness.runtime.dp.feed_raw_update(harness.runtime.bot, update)
        await harness.runtime.notifier.drain()
        if await handled(harness, update["update_id"]):
            return attempt
    raise AssertionError(f"update {update['update_id']} never went through")


async def deliver_pending(harness: Harness) -> None:
    """Every queued update, in order, each until it went through."""
    for update in harness.emulator.pop_updates():
        await deliver(harness, update)


def duplicates(harness: Harness, chats: Iterable[int]) -> dict[int, list[str]]:
    """Bot messages that appear more than once in a chat (the apologies excepted, in every
    language: a second failure is rightly apologised for again)."""
    i18n = harness.runtime.i18n
    apologies = {
        i18n.gettext(text, locale=locale)
        for text in (APOLOGY, ANSWER_LOST)
        for locale in i18n.available_locales
    }
    apologies |= {APOLOGY, ANSWER_LOST}
    emulator = harness.emulator
    found: dict[int, list[str]] = {}
    for chat in chats:
        counts = Counter(
            m.text or m.caption or "" for m in emulator.bot_messages(chat) if not m.deleted
        )
        twice = [text for text, n in counts.items() if n > 1 and text not in apologies]
        if twice:
            found[chat] = twice
    return found


async def orders_by_member(harness: Harness, groupbuy_id: int) -> dict[int, list[int]]:
    """The quantities of each member's orders of a group-buy."""
    async with harness.session() as session:
        rows = await session.execute(
            select(Order.member_id, Order.quantity).where(col(Order.groupbuy_id) == groupbuy_id)
        )
        found: dict[int, list[int]] = {}
        for member_id, quantity in rows:
            found.setdefault(member_id, []).append(quantity)
        return found


async def groupbuy_status(harness: Harness, groupbuy_id: int) -> str:
    async with harness.session() as session:
        row = await session.get(GroupBuy, groupbuy_id)
        assert row is not None
        return row.status


async def postings(harness: Harness, prefix: str) -> Counter[str]:
    """Ledger transactions whose idempotency key starts with `prefix`, counted by key."""
    async with harness.session() as session:
        rows = await session.execute(
            select(LedgerTransaction.idempotency_key, func.count())
            .where(col(LedgerTransaction.idempotency_key).startswith(prefix))
            .group_by(LedgerTransaction.idempotency_key)
        )
        return Counter({key: n for key, n in rows})
