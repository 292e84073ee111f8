"""What the ledger's verbs share: assets and bounds, errors, accounts, postings and
transactions as values, and checking that postings balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from babel.numbers import list_currencies

from models.ledger import ACCOUNT_KINDS, POINTS
from services.errors import Refused

STARS = "XTR"  # Telegram Stars, whole units
MAX_KEY_LENGTH = 128
# bounds that keep every sum inside a signed 64-bit column: an entry is at most 10^15 minor
# units (ten trillion yuan), a cached balance at most 4 * 10^18
MAX_AMOUNT = 10**15


class LedgerError(Refused):
    """A posting the ledger refuses; `reason` is a stable code handlers can translate."""


class InsufficientBalance(LedgerError):
    """The posting would take a non-negative account (e.g. member points) below zero."""


@dataclass(frozen=True, slots=True, order=True)
class AccountRef:
    """An account by its kind and owner (a member or group id; 0 for the brand's own)."""

    kind: str
    owner_id: int = 0


@dataclass(frozen=True, slots=True)
class Posting:
    """One leg of a transaction: a signed amount of an asset on an account."""

    account: AccountRef
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class TransactionView:
    """A posted transaction as plain values."""

    id: int
    idempotency_key: str
    kind: str
    memo: str
    created_at: datetime
    reverses_id: int | None
    order_id: int | None
    postings: tuple[Posting, ...]
    created: bool  # False when the key had been posted before and nothing changed


_CURRENCIES: frozenset[str] | None = None


def known_asset(asset: str) -> bool:
    """True for points, Telegram Stars and ISO 4217 currency codes."""
    global _CURRENCIES
    if _CURRENCIES is None:
        _CURRENCIES = frozenset(list_currencies())
    return asset in (POINTS, STARS) or asset in _CURRENCIES


def validate_postings(postings: Sequence[Posting]) -> None:
    """Raise LedgerError unless the postings form a valid, balanced transaction."""
    if len(postings) < 2:
        raise LedgerError("too_few_postings", "a transaction needs at least two entries")
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        if type(posting.amount) is not int:
            raise LedgerError("not_an_integer", f"{posting.amount!r} is not an integer amount")
        if posting.amount == 0:
            raise LedgerError("zero_amount", "an entry cannot be zero")
        if abs(posting.amount) > MAX_AMOUNT:
            raise LedgerError("amount_too_large", f"{posting.amount} exceeds {MAX_AMOUNT}")
        if not known_asset(posting.asset):
            raise LedgerError("unknown_asset", posting.asset)
        if posting.account.kind not in ACCOUNT_KINDS:
            raise LedgerError("unknown_account", posting.account.kind)
        totals[posting.asset] += posting.amount
    unbalanced = {asset: total for asset, total in totals.items() if total != 0}
    if unbalanced:
        raise LedgerError("unbalanced", ", ".join(f"{a} {t:+d}" for a, t in unbalanced.items()))
