"""The double-entry ledger: accounts, transactions, entries, and cached balances.

Entries are only ever inserted; a correction is a new transaction that reverses an old one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# LedgerAccount.kind values; owner_id says whose account it is (0 for the brand's own)
ACCOUNT_MEMBER_POINTS = "member_points"  # a member's points; never below zero
ACCOUNT_MEMBER_COMMISSION = "member_commission"  # referral commission a member earned
# referral commission on orders still inside the refund window: released to member_commission
ACCOUNT_MEMBER_COMMISSION_PENDING = "member_commission_pending"
ACCOUNT_LEADER_COMMISSION = "leader_commission"  # commission a group leader earned
# commission on orders still inside the refund window: released to leader_commission after it
ACCOUNT_LEADER_COMMISSION_PENDING = "leader_commission_pending"
ACCOUNT_BRAND_REVENUE = "brand_revenue"  # what members paid the brand for orders
ACCOUNT_BRAND_SHIPPING = "brand_shipping"  # what members paid the brand for delivery
ACCOUNT_BRAND_REFUNDS = "brand_refunds"  # refunds granted: revenue stays gross beside it
ACCOUNT_BRAND_COMMISSION_EXPENSE = "brand_commission_expense"  # commission the brand owes out
ACCOUNT_POINTS_ISSUED = "points_issued"  # the source of every point (goes negative)
ACCOUNT_POINTS_REDEEMED = "points_redeemed"  # where spent points go
ACCOUNT_CHARITY_POOL = "charity_pool"  # points members donated
ACCOUNT_CUSTOMER_RECEIVABLE = "customer_receivable"  # what a member owes for an order
ACCOUNT_CUSTOMER_PAYABLE = "customer_payable"  # what the brand owes a member (refund due)
# cash a leader (or staff member) collected for offline orders and has not yet handed over to
# the brand: negative while they owe it; a hand-over or a netted payout brings it back to zero
ACCOUNT_LEADER_CASH = "leader_cash"
ACCOUNT_BRAND_CASH = "brand_cash"  # cash handed over to the brand (negative: the brand holds it)
# released commission paid out to its earner (leader or referrer), in cash or netted
ACCOUNT_COMMISSION_PAID_OUT = "commission_paid_out"
# what the brand spends on marketing in goods: the value of products given free (trials)
ACCOUNT_BRAND_MARKETING_EXPENSE = "brand_marketing_expense"
# the retail value of the goods given free, its counterpart (the brand's stock given out)
ACCOUNT_BRAND_GOODS_GIVEN = "brand_goods_given"

ACCOUNT_KINDS = (
    ACCOUNT_MEMBER_POINTS,
    ACCOUNT_MEMBER_COMMISSION,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    ACCOUNT_BRAND_REVENUE,
    ACCOUNT_BRAND_SHIPPING,
    ACCOUNT_BRAND_REFUNDS,
    ACCOUNT_BRAND_COMMISSION_EXPENSE,
    ACCOUNT_POINTS_ISSUED,
    ACCOUNT_POINTS_REDEEMED,
    ACCOUNT_CHARITY_POOL,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_CUSTOMER_PAYABLE,
    ACCOUNT_LEADER_CASH,
    ACCOUNT_BRAND_CASH,
    ACCOUNT_COMMISSION_PAID_OUT,
    ACCOUNT_BRAND_MARKETING_EXPENSE,
    ACCOUNT_BRAND_GOODS_GIVEN,
)

# accounts whose balance may never go below zero, whatever the asset
NON_NEGATIVE_KINDS = (ACCOUNT_MEMBER_POINTS, ACCOUNT_CHARITY_POOL)

# accounts with no cached balance (no ledger_balance row): their balance is the sum of their
# entries, read when asked. Every points award moves `points_issued`: one cached row would be
# locked by each award from its posting until its COMMIT, so concurrent check-ins, votes and
# orders would queue on it. Nothing on a member's path reads its balance.
UNCACHED_KINDS = (ACCOUNT_POINTS_ISSUED,)

POINTS = "PTS"  # the asset code of loyalty points


class LedgerAccount(SQLModel, table=True):
    """One account of the chart: a kind and an owner (a member or group id, 0 for the brand)."""

    __tablename__ = "ledger_account"
    __table_args__ = (UniqueConstraint("kind", "owner_id", name="uq_ledger_account"),)

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    kind: str = Field(max_length=32)
    owner_id: int = Field(default=0, sa_type=TelegramId, nullable=False)
    # True for accounts that may never go below zero (member points, charity pool)
    non_negative: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class LedgerTransaction(SQLModel, table=True):
    """A set of entries that sum to zero per asset, posted once under its idempotency key."""

    __tablename__ = "ledger_transaction"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    idempotency_key: str = Field(max_length=128, unique=True)
    # what happened, e.g. order_paid, order_refund, points_award, reversal
    kind: str = Field(max_length=32, index=True)
    memo: str = Field(default="", max_length=255)
    # the transaction this one reverses (a transaction is reversed at most once)
    reverses_id: int | None = Field(
        default=None,
        sa_column=Column(SurrogateKey, ForeignKey("ledger_transaction.id"), unique=True),
    )
    # who caused it (a member or staff id), when a person did
    actor_id: int | None = Field(default=None, sa_type=TelegramId)
    # the order it belongs to, when it belongs to one
    order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class LedgerEntry(SQLModel, table=True):
    """One signed amount of one asset on one account; inserted, never changed."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="ck_ledger_entry_nonzero"),
        Index("ix_ledger_entry_account_asset", "account_id", "asset"),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    transaction_id: int = Field(
        sa_column=Column(
            SurrogateKey, ForeignKey("ledger_transaction.id"), nullable=False, index=True
        )
    )
    account_id: int = Field(
        sa_column=Column(SurrogateKey, ForeignKey("ledger_account.id"), nullable=False)
    )
    # ISO 4217 code in minor units, XTR for Telegram Stars, or PTS for points
    asset: str = Field(max_length=8)
    amount: int = Field(sa_type=BigInteger)  # signed, in minor units


class LedgerBalance(SQLModel, table=True):
    """The cached balance of one account in one asset, kept in step with its entries."""

    __tablename__ = "ledger_balance"

    account_id: int = Field(
        sa_column=Column(
            SurrogateKey, ForeignKey("ledger_account.id"), primary_key=True, autoincrement=False
        )
    )
    asset: str = Field(max_length=8, primary_key=True)
    balance: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
