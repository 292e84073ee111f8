"""The sales tables: ledger entries, orders, groups (communities) and group-buys."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GroupBuy, GroupBuyPost
from models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from models.order import Order
from services.analytics import Scope, StatsReport, stats_report
from services.tables._common import BATCH, Query, Row, _chats, _stream

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


def _ledger(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Every entry of the transactions created in the period, oldest first; a leader sees the
    entries of their groups' orders."""
    statement = (
        select(
            col(LedgerTransaction.id),
            col(LedgerTransaction.created_at),
            col(LedgerTransaction.idempotency_key),
            col(LedgerTransaction.kind),
            col(LedgerTransaction.memo),
            col(LedgerTransaction.reverses_id),
            col(LedgerTransaction.order_id),
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
            col(LedgerEntry.amount),
        )
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(
            col(LedgerTransaction.created_at) >= query.period.start,
            col(LedgerTransaction.created_at) < query.period.end,
        )
        .order_by(col(LedgerTransaction.id), col(LedgerEntry.id))
    )
    if query.scope is not None:
        in_scope = select(col(Order.id)).where(_chats(Order.chat_id, query.scope))
        statement = statement.where(col(LedgerTransaction.order_id).in_(in_scope))
    return _stream(session, statement)


ORDER_COLUMNS = (
    "order_id",
    "created_at_utc",
    "member_id",
    "chat_id",
    "product_id",
    "groupbuy_id",
    "title",
    "variant",
    "quantity",
    "unit_price_minor",
    "shipping_minor",
    "total_minor",
    "currency",
    "payment_mode",
    "status",
    "paid_minor",
    "refunded_minor",
    "for_whom",  # whom the order is for when not the member (代订), "" for the member
)


def _orders(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Orders created in the period, oldest first."""
    statement = (
        select(
            col(Order.id),
            col(Order.created_at),
            col(Order.member_id),
            col(Order.chat_id),
            col(Order.product_id),
            col(Order.groupbuy_id),
            col(Order.title),
            col(Order.variant_name),
            col(Order.quantity),
            col(Order.unit_price),
            col(Order.shipping_cost),
            # what the member pays: the goods less the discount, plus the shipping
            col(Order.quantity) * col(Order.unit_price)
            - col(Order.discount)
            + col(Order.shipping_cost),
            col(Order.currency),
            col(Order.payment_mode),
            col(Order.status),
            col(Order.paid_amount),
            col(Order.refunded_amount),
            col(Order.for_whom),
        )
        .where(
            col(Order.created_at) >= query.period.start,
            col(Order.created_at) < query.period.end,
            _chats(Order.chat_id, query.scope),
        )
        .order_by(col(Order.id))
    )
    return _stream(session, statement)


COMMUNITY_COLUMNS = (
    "community_id",
    "title",
    "currency",
    "gmv_minor",
    "paid_orders",
    "average_order_minor",
    "groupbuys_formed",
    "groupbuys_closed",
    "repeat_buyers",
    "buyers",
    "cards_posted",
    "joins",
    "orders_paid",
    "orders_picked_up",
    "active_7d",
    "active_30d",
    "referrals_qualified",
    "poll_voters",
    "suggestions_adopted",
    "suggestions_made",
    "nps",
    "nps_answers",
)


async def _communities(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Each group's figures over the period (one row per group and currency it sold in)."""
    report = await stats_report(
        session, period=query.period, timezone=query.timezone, scope=query.scope
    )
    for row in community_rows(report):
        yield row


def community_rows(report: StatsReport) -> Iterator[Row]:
    """The communities table of a report already computed (the dashboard's page has one)."""
    for f in report.communities:
        rest = (
            f.formation.numerator,
            f.formation.denominator,
            f.repurchase.numerator,
            f.repurchase.denominator,
            f.funnel.cards,
            f.funnel.joins,
            f.funnel.paid,
            f.funnel.picked_up,
            f.active[7],
            f.active[30],
            f.referrals.qualified,
            f.voters,
            f.suggestions.numerator,
            f.suggestions.denominator,
            f.nps.score if f.nps.total else None,
            f.nps.total,
        )
        currencies: list[str | None] = [*sorted(f.gmv)] or [None]
        for currency in currencies:
            paid = f.paid_orders if currency is None or len(currencies) == 1 else None
            yield (
                f.community_id,
                f.title,
                currency,
                f.gmv.get(currency, 0) if currency else 0,
                paid if paid is not None else "",
                f.average_order.get(currency, 0) if currency else 0,
                *rest,
            )


GROUPBUY_COLUMNS = (
    "groupbuy_id",
    "created_at_utc",
    "title",
    "status",
    "communities",
    "min_kind",
    "min_count",
    "participants",
    "units_sold",
    "stock_cap",
    "unit_price_minor",
    "final_price_minor",
    "currency",
    "deadline_utc",
    "settled_at_utc",
)


async def _posted_in(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[int]]:
    chats: dict[int, list[int]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(col(GroupBuyPost.groupbuy_id), col(GroupBuyPost.chat_id))
            .where(col(GroupBuyPost.groupbuy_id).in_(ids))
            .order_by(col(GroupBuyPost.chat_id))
        )
        for groupbuy_id, chat_id in rows.all():
            chats[int(groupbuy_id)].append(int(chat_id))
    return chats


async def _groupbuys(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Group-buys opened in the period, newest first, with the groups they were posted in (a
    leader sees those posted in their groups, and only their own groups among the posts)."""
    statement = (
        select(
            col(GroupBuy.id),
            col(GroupBuy.created_at),
            col(GroupBuy.title),
            col(GroupBuy.status),
            col(GroupBuy.min_kind),
            col(GroupBuy.min_count),
            col(GroupBuy.participants),
            col(GroupBuy.units_sold),
            col(GroupBuy.stock_cap),
            col(GroupBuy.unit_price),
            col(GroupBuy.final_price),
            col(GroupBuy.currency),
            col(GroupBuy.deadline),
            col(GroupBuy.settled_at),
        )
        .where(
            col(GroupBuy.created_at) >= query.period.start,
            col(GroupBuy.created_at) < query.period.end,
        )
        .order_by(col(GroupBuy.id).desc())
    )
    if query.scope is not None:
        posted = select(col(GroupBuyPost.groupbuy_id)).where(
            _chats(GroupBuyPost.chat_id, query.scope)
        )
        statement = statement.where(col(GroupBuy.id).in_(posted))
    batch: list[Row] = []
    async for row in _stream(session, statement):
        batch.append(row)
        if len(batch) >= BATCH:
            for out in await _with_posts(session, batch, query.scope):
                yield out
            batch = []
    for out in await _with_posts(session, batch, query.scope):
        yield out


async def _with_posts(session: AsyncSession, batch: list[Row], scope: Scope) -> list[Row]:
    posts = await _posted_in(session, [int(str(row[0])) for row in batch])
    out = []
    for row in batch:
        chats = [c for c in posts.get(int(str(row[0])), []) if scope is None or c in scope]
        out.append((*row[:4], " ".join(str(c) for c in chats), *row[4:]))
    return out
