"""A leader's statement (对账单) for a period: the group-buys they ran, the orders, the cash they
collected and handed over, and the commission they earned, released and were paid out.

Money comes from the ledger alone: every cash and commission figure is a sum of the entries on
the leader's own accounts (leader_cash, the commission accounts, commission_paid_out) posted in
the period, so the statement equals the books to the cent; opening and closing balances are the
sums before the period's start and before its end. Counts come from the orders and group-buys.
Everything is summed in SQL (a few grouped queries per statement, whatever the history).

Figures are per currency. Each row classifies the entries the same way, so for every currency:
    cash owed at the end = owed at the start + collected - handed over - netted
    commission pending + to pay out at the end =
        the same at the start + earned - reversed - paid out
and the order-level figures of the total row are the sums of its group-buy rows (any group-buy
the leader ran or took cash for, a staff drop included) and its "other" row (orders outside any
group-buy whose cash they took).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import (
    GROUPBUY_CANCELLED,
    GROUPBUY_FAILED,
    GROUPBUY_FORMED,
    GroupBuy,
)
from models.ledger import (
    ACCOUNT_COMMISSION_PAID_OUT,
    ACCOUNT_LEADER_CASH,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_COMMISSION,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.order import (
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    Order,
    OrderEvent,
)
from services.cash import TX_CASH_HANDOVER, TX_CASH_NETTED, TX_REFUND_HANDED_BACK
from services.order import TX_COMMISSION, TX_COMMISSION_RELEASE
from services.payout import TX_COMMISSION_PAYOUT
from services.period import Period
from services.referral import TX_REFERRAL_COMMISSION, TX_REFERRAL_COMMISSION_RELEASE
from services.tables import csv_header, csv_lines

PENDING_KINDS = (ACCOUNT_LEADER_COMMISSION_PENDING, ACCOUNT_MEMBER_COMMISSION_PENDING)
AVAILABLE_KINDS = (ACCOUNT_LEADER_COMMISSION, ACCOUNT_MEMBER_COMMISSION)
ACCOUNT_KINDS = (
    ACCOUNT_LEADER_CASH,
    *PENDING_KINDS,
    *AVAILABLE_KINDS,
    ACCOUNT_COMMISSION_PAID_OUT,
)
EARNED_TX = (TX_COMMISSION, TX_REFERRAL_COMMISSION)
RELEASE_TX = (TX_COMMISSION_RELEASE, TX_REFERRAL_COMMISSION_RELEASE)

# StatementLine.row values
ROW_TOTAL = "total"  # everything of the leader in one currency
ROW_GROUPBUY = "groupbuy"  # one group-buy's orders and the money that moved for them
ROW_OTHER = "other"  # orders outside any group-buy whose cash the leader took
MAX_PEOPLE = 500  # people listed on the dashboard's statement page


@dataclass(slots=True)
class Figures:
    """One row's figures in one currency, in minor units and counts. None: does not apply to
    the row (a hand-over belongs to no group-buy)."""

    groupbuys_run: int | None = None
    groupbuys_formed: int | None = None
    groupbuys_failed: int | None = None
    groupbuys_cancelled: int | None = None
    orders_placed: int = 0
    orders_paid: int = 0
    orders_picked_up: int = 0
    orders_refunded: int = 0
    paid: int = 0  # what members paid for the orders paid in the period
    cash_owed_opening: int | None = None
    cash_collected: int = 0
    cash_handed_over: int | None = None
    cash_netted: int | None = None  # cash kept out of a commission payout
    cash_refunded: int | None = None  # owed refunds the leader paid members out of the cash
    cash_owed_closing: int | None = None
    commission_pending_opening: int | None = None
    commission_earned: int = 0
    commission_reversed: int = 0  # taken back by refunds
    commission_released: int = 0
    commission_pending_closing: int | None = None
    commission_available_opening: int | None = None  # released, not yet paid out
    commission_paid_out: int | None = None
    commission_available_closing: int | None = None


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One row of the statement: a total, a group-buy, or the orders outside group-buys."""

    row: str
    currency: str
    figures: Figures
    groupbuy_id: int | None = None
    title: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class Statement:
    """A leader's statement for a period: the totals per currency, then the breakdown."""

    leader_id: int
    period: Period
    totals: list[StatementLine] = field(default_factory=list)
    breakdown: list[StatementLine] = field(default_factory=list)

    def total(self, currency: str) -> Figures:
        """The total row of a currency (zeros when nothing moved in it)."""
        for line in self.totals:
            if line.currency == currency:
                return line.figures
        return _zero_total()

    @property
    def lines(self) -> list[StatementLine]:
        return [*self.totals, *self.breakdown]


def _zero_total() -> Figures:
    return Figures(
        groupbuys_run=0,
        groupbuys_formed=0,
        groupbuys_failed=0,
        groupbuys_cancelled=0,
        cash_owed_opening=0,
        cash_handed_over=0,
        cash_netted=0,
        cash_refunded=0,
        cash_owed_closing=0,
        commission_pending_opening=0,
        commission_pending_closing=0,
        commission_available_opening=0,
        commission_paid_out=0,
        commission_available_closing=0,
    )


def _in(column: Any, period: Period) -> Any:
    return and_(col(column) >= period.start, col(column) < period.end)


def _classify(figures: Figures, account: str, tx_kind: str, amount: int) -> None:
    """Add one sum of entries (one account kind, one transaction kind) to a row's figures."""
    if account == ACCOUNT_LEADER_CASH:  # negative while owed
        if tx_kind == TX_CASH_HANDOVER:
            figures.cash_handed_over = (figures.cash_handed_over or 0) + amount
        elif tx_kind == TX_CASH_NETTED:
            figures.cash_netted = (figures.cash_netted or 0) + amount
        elif tx_kind == TX_REFUND_HANDED_BACK:
            figures.cash_refunded = (figures.cash_refunded or 0) + amount
        else:
            figures.cash_collected -= amount
    elif account in PENDING_KINDS:
        if tx_kind in RELEASE_TX:
            figures.commission_released -= amount
        elif tx_kind in EARNED_TX:
            figures.commission_earned += amount
        else:  # a refund's adjustment or reversal
            figures.commission_reversed -= amount
    elif account in AVAILABLE_KINDS:
        if tx_kind == TX_COMMISSION_PAYOUT or tx_kind in RELEASE_TX:
            return  # counted on commission_paid_out, and on the pending side
        figures.commission_reversed -= amount
    elif account == ACCOUNT_COMMISSION_PAID_OUT:
        figures.commission_paid_out = (figures.commission_paid_out or 0) + amount


async def _balances_before(
    session: AsyncSession, leader_id: int, moment: datetime
) -> dict[tuple[str, str], int]:
    """The leader's account balances (kind, currency) from the entries before `moment`."""
    rows = await session.execute(
        select(col(LedgerAccount.kind), col(LedgerEntry.asset), func.sum(col(LedgerEntry.amount)))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(
            col(LedgerAccount.owner_id) == leader_id,
            col(LedgerAccount.kind).in_(ACCOUNT_KINDS),
            col(LedgerTransaction.created_at) < moment,
        )
        .group_by(col(LedgerAccount.kind), col(LedgerEntry.asset))
    )
    return {(str(kind), str(asset)): int(total) for kind, asset, total in rows.all()}


def _with_balances(
    figures: Figures,
    opening: dict[tuple[str, str], int],
    closing: dict[tuple[str, str], int],
    currency: str,
) -> None:
    """The balances at the start and at the end of the period (from the entries, not the
    cached balances, so a past period reads as it stood then)."""

    def held(balances: dict[tuple[str, str], int], kinds: tuple[str, ...]) -> int:
        return sum(balances.get((kind, currency), 0) for kind in kinds)

    figures.cash_owed_opening = -held(opening, (ACCOUNT_LEADER_CASH,))
    figures.commission_pending_opening = held(opening, PENDING_KINDS)
    figures.commission_available_opening = held(opening, AVAILABLE_KINDS)
    figures.cash_owed_closing = -held(closing, (ACCOUNT_LEADER_CASH,))
    figures.commission_pending_closing = held(closing, PENDING_KINDS)
    figures.commission_available_closing = held(closing, AVAILABLE_KINDS)


@dataclass(slots=True)
class _Sums:
    """The figures a statement adds up: a total per currency, and a row per group-buy (None:
    the orders outside any group-buy) and currency."""

    totals: dict[str, Figures] = field(default_factory=dict)
    rows: dict[tuple[int | None, str], Figures] = field(default_factory=dict)

    def total(self, currency: str) -> Figures:
        return self.totals.setdefault(currency, _zero_total())

    def row(self, groupbuy_id: int | None, currency: str) -> Figures:
        return self.rows.setdefault((groupbuy_id, currency), Figures())


async def leader_statement(session: AsyncSession, *, leader_id: int, period: Period) -> Statement:
    """The leader's statement for the period: totals per currency and a row per group-buy."""
    sums = _Sums()
    await _add_ledger(session, sums, leader_id, period)
    opening = await _balances_before(session, leader_id, period.start)
    closing = await _balances_before(session, leader_id, period.end)
    for (kind, asset), value in [*opening.items(), *closing.items()]:
        if value and kind != ACCOUNT_COMMISSION_PAID_OUT:
            sums.total(asset)  # a balance without movement in the period still gets its total row
    await _add_orders(session, sums, leader_id, period)
    await _add_opened(session, sums, leader_id, period)
    breakdown = await _breakdown(session, sums, leader_id, period)
    lines = []
    for currency in sorted(sums.totals):
        figures = sums.totals[currency]
        _with_balances(figures, opening, closing, currency)
        lines.append(StatementLine(row=ROW_TOTAL, currency=currency, figures=figures))
    return Statement(leader_id=leader_id, period=period, totals=lines, breakdown=breakdown)


async def _add_ledger(session: AsyncSession, sums: _Sums, leader_id: int, period: Period) -> None:
    """The ledger: the period's entries on the leader's accounts, by group-buy of their order."""
    moved = await session.execute(
        select(
            col(LedgerAccount.kind),
            col(LedgerTransaction.kind),
            col(LedgerEntry.asset),
            col(Order.groupbuy_id),
            col(LedgerTransaction.order_id).is_not(None),
            func.sum(col(LedgerEntry.amount)),
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .outerjoin(Order, col(Order.id) == col(LedgerTransaction.order_id))
        .where(
            col(LedgerAccount.owner_id) == leader_id,
            col(LedgerAccount.kind).in_(ACCOUNT_KINDS),
            _in(LedgerTransaction.created_at, period),
        )
        .group_by(
            col(LedgerAccount.kind),
            col(LedgerTransaction.kind),
            col(LedgerEntry.asset),
            col(Order.groupbuy_id),
            col(LedgerTransaction.order_id).is_not(None),
        )
    )
    for account, tx_kind, asset, groupbuy_id, of_order, amount in moved.all():
        currency, value = str(asset), int(amount)
        _classify(sums.total(currency), str(account), str(tx_kind), value)
        if of_order:
            _classify(sums.row(groupbuy_id, currency), str(account), str(tx_kind), value)


async def _add_orders(session: AsyncSession, sums: _Sums, leader_id: int, period: Period) -> None:
    """The orders the leader runs (their group-buys'): placed, paid, picked up, refunded."""

    def happened(status: str) -> Any:
        return exists().where(
            col(OrderEvent.order_id) == col(Order.id),
            col(OrderEvent.to_status) == status,
            _in(OrderEvent.at, period),
        )

    def count_if(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    placed = _in(Order.created_at, period)
    paid, picked, refunded = (
        happened(ORDER_PAID),
        happened(ORDER_FULFILLED),
        happened(ORDER_REFUNDED),
    )
    any_event = exists().where(
        col(OrderEvent.order_id) == col(Order.id), _in(OrderEvent.at, period)
    )
    orders = await session.execute(
        select(
            col(Order.groupbuy_id),
            col(Order.currency),
            count_if(placed),
            count_if(paid),
            func.sum(case((paid, col(Order.paid_amount)), else_=0)),
            count_if(picked),
            count_if(refunded),
        )
        .where(col(Order.leader_id) == leader_id, or_(placed, any_event))
        .group_by(col(Order.groupbuy_id), col(Order.currency))
    )
    for groupbuy_id, currency, n_placed, n_paid, paid_sum, n_picked, n_refunded in orders.all():
        for figures in (sums.total(str(currency)), sums.row(groupbuy_id, str(currency))):
            figures.orders_placed += int(n_placed or 0)
            figures.orders_paid += int(n_paid or 0)
            figures.paid += int(paid_sum or 0)
            figures.orders_picked_up += int(n_picked or 0)
            figures.orders_refunded += int(n_refunded or 0)


async def _add_opened(session: AsyncSession, sums: _Sums, leader_id: int, period: Period) -> None:
    """The group-buys the leader opened in the period, by how they ended."""
    opened = await session.execute(
        select(col(GroupBuy.currency), col(GroupBuy.status), func.count())
        .where(col(GroupBuy.opened_by) == leader_id, _in(GroupBuy.created_at, period))
        .group_by(col(GroupBuy.currency), col(GroupBuy.status))
    )
    for currency, status, count in opened.all():
        figures = sums.total(str(currency))
        n = int(count)
        figures.groupbuys_run = (figures.groupbuys_run or 0) + n
        if status == GROUPBUY_FORMED:
            figures.groupbuys_formed = (figures.groupbuys_formed or 0) + n
        elif status == GROUPBUY_FAILED:
            figures.groupbuys_failed = (figures.groupbuys_failed or 0) + n
        elif status == GROUPBUY_CANCELLED:
            figures.groupbuys_cancelled = (figures.groupbuys_cancelled or 0) + n


async def _breakdown(
    session: AsyncSession, sums: _Sums, leader_id: int, period: Period
) -> list[StatementLine]:
    """One row per group-buy: opened in the period, or with orders or money in it; then the
    "other" rows."""
    rows = sums.rows
    touched = sorted({g for g, _c in rows if g is not None})
    described = await session.execute(
        select(col(GroupBuy.id), col(GroupBuy.title), col(GroupBuy.status), col(GroupBuy.currency))
        .where(
            or_(
                and_(col(GroupBuy.opened_by) == leader_id, _in(GroupBuy.created_at, period)),
                col(GroupBuy.id).in_(touched),
            )
        )
        .order_by(col(GroupBuy.id))
    )
    breakdown: list[StatementLine] = []
    for groupbuy_id, title, status, gb_currency in described.all():
        assert groupbuy_id is not None
        currencies = sorted(c for g, c in rows if g == groupbuy_id) or [str(gb_currency)]
        for currency in currencies:
            breakdown.append(
                StatementLine(
                    row=ROW_GROUPBUY,
                    currency=currency,
                    figures=sums.row(int(groupbuy_id), currency),
                    groupbuy_id=int(groupbuy_id),
                    title=str(title),
                    status=str(status),
                )
            )
    for (groupbuy_id, currency), figures in sorted(rows.items(), key=lambda item: item[0][1]):
        if groupbuy_id is None:
            breakdown.append(StatementLine(row=ROW_OTHER, currency=currency, figures=figures))
    return breakdown


async def statement_people(
    session: AsyncSession, *, period: Period
) -> list[tuple[int, str, str | None]]:
    """Who has a statement in the period (opened a group-buy in it, or had cash or commission
    move), with their names, by name: the staff's list on the dashboard."""
    moved: Any = (
        select(col(LedgerAccount.owner_id).label("who"))
        .join(LedgerEntry, col(LedgerEntry.account_id) == col(LedgerAccount.id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(
            col(LedgerAccount.kind).in_(ACCOUNT_KINDS),
            _in(LedgerTransaction.created_at, period),
        )
    )
    opened: Any = select(col(GroupBuy.opened_by).label("who")).where(
        _in(GroupBuy.created_at, period)
    )
    people = union(moved, opened).subquery()
    rows = await session.execute(
        select(col(Member.id), col(Member.first_name), col(Member.username))
        .where(col(Member.id).in_(select(people.c.who)))
        .order_by(col(Member.first_name), col(Member.id))
        .limit(MAX_PEOPLE)
    )
    return [(int(i), str(name), username) for i, name, username in rows.all()]


STATEMENT_COLUMNS = (
    "leader_id",
    "period_first",
    "period_last",
    "row",
    "groupbuy_id",
    "title",
    "status",
    "currency",
    *(
        f.name if f.name.startswith(("groupbuys_", "orders_")) else f"{f.name}_minor"
        for f in fields(Figures)
    ),
)


def statement_rows(statement: Statement) -> Iterator[tuple[object, ...]]:
    """The statement's rows with STATEMENT_COLUMNS (blank where a figure does not apply)."""
    first, last = statement.period.first.isoformat(), statement.period.last.isoformat()
    for line in statement.lines:
        yield (
            statement.leader_id,
            first,
            last,
            line.row,
            line.groupbuy_id,
            line.title,
            line.status,
            line.currency,
            *(getattr(line.figures, f.name) for f in fields(Figures)),
        )


def statement_csv(statement: Statement) -> bytes:
    """The statement as one CSV file (the same columns in chat, dashboard and command line)."""
    return csv_header(STATEMENT_COLUMNS) + csv_lines(statement_rows(statement))


def statement_filename(statement: Statement) -> str:
    period = statement.period
    return (
        f"statement_{statement.leader_id}_{period.first.isoformat()}_{period.last.isoformat()}.csv"
    )
