"""Ledger accounts: each one's id, created on first use, and remembered per database once
committed, so a known account costs no statement.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from models.base import utcnow
from models.ledger import NON_NEGATIVE_KINDS, LedgerAccount
from services.db import execute_rows, insert_in, prepared, table_of
from services.ledger._common import AccountRef

# The ids of accounts known to be committed, per database (engine). An account is never
# deleted or renumbered, so once committed its id is good for the life of the process. An id
# read back from a row this session did not create is remembered at once: such a row was
# committed by someone (a SELECT sees no other transaction's uncommitted rows). An account
# this session created is remembered only when the session's transaction commits: until then
# it may still vanish with a rollback of the transaction or of a savepoint (then it is
# forgotten, and looked up again when next used).
_ACCOUNT_IDS: WeakKeyDictionary[Engine, dict[AccountRef, int]] = WeakKeyDictionary()
_CREATED_HERE = "ledger.accounts_created"  # session.info: accounts this transaction inserted
_EVER_CREATED = "ledger.accounts_ever_created"  # session.info: ... even if a savepoint undid it


def _known_ids(engine: Engine) -> dict[AccountRef, int]:
    known = _ACCOUNT_IDS.get(engine)
    if known is None:
        known = _ACCOUNT_IDS[engine] = {}
    return known


def _committed_ids(session: AsyncSession) -> dict[AccountRef, int]:
    return _known_ids(session.get_bind().engine)


@event.listens_for(Session, "after_commit")
def _remember_created(session: Session) -> None:
    """The accounts a committed transaction created are committed: remember their ids."""
    if session.in_nested_transaction():  # a savepoint released: the transaction goes on
        return
    created: dict[AccountRef, int] | None = session.info.pop(_CREATED_HERE, None)
    session.info.pop(_EVER_CREATED, None)
    if created:
        _known_ids(session.get_bind().engine).update(created)


@event.listens_for(Session, "after_soft_rollback")
def _forget_created(session: Session, previous: Any) -> None:
    """A rollback (of the transaction or of a savepoint) may have taken created accounts back."""
    session.info.pop(_CREATED_HERE, None)
    if not previous.nested:
        session.info.pop(_EVER_CREATED, None)


async def account_id(session: AsyncSession, account: AccountRef) -> int:
    """The id of the account, creating it on first use; no statement once it is known."""
    known = _committed_ids(session)
    ident = known.get(account)
    if ident is not None:
        return ident
    created: dict[AccountRef, int] = session.info.setdefault(_CREATED_HERE, {})
    ident = created.get(account)
    if ident is not None:
        return ident
    # insert first: an account not yet known is most often a new one (a new member's points)
    inserted = await execute_rows(
        session,
        _CREATE_ACCOUNT(session),
        {
            "kind": account.kind,
            "owner_id": account.owner_id,
            "non_negative": account.kind in NON_NEGATIVE_KINDS,
            "created_at": utcnow(),
        },
    )
    ident = inserted.scalar_one_or_none()
    if ident is not None:
        created[account] = ident
        session.info.setdefault(_EVER_CREATED, set()).add(account)
        return ident
    ident = (
        await execute_rows(
            session, _ACCOUNT_ID(session), {"kind": account.kind, "owner_id": account.owner_id}
        )
    ).scalar_one()
    assert ident is not None
    if account not in session.info.get(_EVER_CREATED, ()):  # else it may be this one's own row
        known[account] = ident
    return ident


_CREATE_ACCOUNT = prepared(
    lambda dialect: (
        insert_in(dialect, table_of(LedgerAccount))
        .on_conflict_do_nothing(index_elements=["kind", "owner_id"])
        .returning(col(LedgerAccount.id))
    )
)
_ACCOUNT_ID = prepared(
    lambda _dialect: select(col(LedgerAccount.id)).where(
        col(LedgerAccount.kind) == bindparam("kind"),
        col(LedgerAccount.owner_id) == bindparam("owner_id"),
    )
)
