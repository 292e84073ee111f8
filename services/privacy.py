"""Privacy: what the store holds about a member (/mydata), erasing it (/forgetme), and the
retention of free texts. Driven by SQLModel.metadata and `models.privacy`, not hand-listed.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, MetaData, Table, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from models.audit import AuditEntry
from models.broadcast import CLAIMABLE, RECIPIENT_PRIVATE, RECIPIENT_SKIPPED, BroadcastRecipient
from models.community import CommunityMember
from models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from models.member import Member
from models.privacy import (
    ACTOR_ID_COLUMNS,
    FREE_TEXTS,
    MEMBER_ID_COLUMNS,
    NOT_EXPORTED,
    NOT_MEMBER_COLUMNS,
    REDACTED_COLUMNS,
    FreeText,
)
from models.referral import ReferralAttempt, ReferralCode, ReferralInviteLink
from models.review import Review, ReviewMedia
from models.segments import MemberSegment
from services.audit import record_action
from services.broadcast import set_consent
from services.db import rowcount
from services.points import GIFT_SIGNED, REASON_GIFT, transaction_kind
from services.referral import new_code
from services.validation import shown

EXPORT_FORMAT = 1  # bumped when the JSON document changes shape
SKIP_FORGOTTEN = "forgotten"  # a broadcast row skipped because its member asked to be forgotten
# rows that hang off a member's own rows without naming the member: exported with them
CHILD_TABLES: dict[str, tuple[str, ...]] = {"orders": ("order_event",)}


@dataclass(frozen=True, slots=True)
class MemberReference:
    """A column that refers to a member; `actor` when the row is about something else."""

    table: str
    column: str
    actor: bool


def member_references() -> dict[str, list[MemberReference]]:
    """Every table that refers to a member, with the columns that do (schema introspection)."""
    found: dict[str, list[MemberReference]] = defaultdict(list)
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            key = f"{table.name}.{column.name}"
            foreign = any(fk.target_fullname == "member.id" for fk in column.foreign_keys)
            if key == "member.id" or foreign or key in MEMBER_ID_COLUMNS:
                found[table.name].append(MemberReference(table.name, column.name, actor=False))
            elif key in ACTOR_ID_COLUMNS:
                found[table.name].append(MemberReference(table.name, column.name, actor=True))
    return dict(found)


def unclassified_columns(metadata: MetaData) -> list[str]:
    """Id-like columns ("id", "*_id", "*_by") that might hold a member's id but are neither a
    foreign key nor classified in models/privacy.py; must stay empty."""
    known = MEMBER_ID_COLUMNS | ACTOR_ID_COLUMNS | set(NOT_MEMBER_COLUMNS)
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            key = f"{table.name}.{column.name}"
            named = column.name == "id" or column.name.endswith(("_id", "_by"))
            if not named or column.foreign_keys or key in known or key == "member.id":
                continue
            if not isinstance(column.type, Integer):
                continue
            # surrogate row keys (BIGINT on PostgreSQL, INTEGER on SQLite) are never members
            if column.primary_key and (
                getattr(column.type, "_variant_mapping", None) or type(column.type) is Integer
            ):
                continue
            found.append(key)
    return sorted(found)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass
class MemberData:
    """Everything the store holds about one member, as JSON-ready rows per table."""

    member_id: int
    generated_at: datetime
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)

    def count(self, table: str) -> int:
        return len(self.tables.get(table, []))

    def first(self, table: str) -> dict[str, Any] | None:
        rows = self.tables.get(table)
        return rows[0] if rows else None

    def document(self) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "member_id": self.member_id,
            "generated_at": self.generated_at.isoformat(),
            "tables": self.tables,
            "ledger_movements": self.ledger,
        }


async def _first_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(col(Member.id), col(Member.first_name)).where(col(Member.id).in_(wanted))
    )
    return {int(member_id): name for member_id, name in rows.all()}


def _primary_key(table: Table, row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, c.name) for c in table.primary_key.columns)


# per table: each row by its primary key, with whether it is the member's whole and, when it
# is not, the column that names their part in it
_RawRows = dict[str, dict[tuple[Any, ...], tuple[Any, bool, str]]]


async def collect_member_data(
    session: AsyncSession, *, member_id: int, now: datetime
) -> MemberData:
    """Every row of every table that refers to the member, other members by first name only.

    A row about the member is exported whole (free of other members' ids, which become first
    names, and of redacted columns); a row they only acted on gives its keys, its times and
    their part in it.
    """
    data = MemberData(member_id=member_id, generated_at=now)
    references = member_references()
    raw = await _rows_of(session, member_id, references)
    # other members named in exported rows: by first name only
    others: set[int] = set()
    for table_name, rows in raw.items():
        for row, whole, _part in rows.values():
            if whole:
                for ref in references.get(table_name, []):
                    value = getattr(row, ref.column)
                    if value is not None and value != member_id:
                        others.add(int(value))
    names = await _first_names(session, others)
    for table_name, rows in sorted(raw.items()):
        columns = {r.column for r in references.get(table_name, [])}
        data.tables[table_name] = [
            _exported(table_name, row, whole, part, columns, member_id, names)
            for row, whole, part in rows.values()
        ]
    data.ledger = await _ledger_movements(session, member_id)
    return data


async def _rows_of(
    session: AsyncSession, member_id: int, references: dict[str, list[MemberReference]]
) -> _RawRows:
    """The rows that refer to the member, and the rows that hang off their own rows."""
    raw: _RawRows = defaultdict(dict)
    for table_name, refs in references.items():
        if table_name in NOT_EXPORTED:
            continue
        table = SQLModel.metadata.tables[table_name]
        own = [r for r in refs if not r.actor]
        acted = [r for r in refs if r.actor]
        if own:
            condition = or_(*(table.c[r.column] == member_id for r in own))
            for row in (await session.execute(select(table).where(condition))).all():
                raw[table_name][_primary_key(table, row)] = (row, True, "")
        for ref in acted:
            query = select(table).where(table.c[ref.column] == member_id)
            for row in (await session.execute(query)).all():
                key = _primary_key(table, row)
                if key not in raw[table_name]:
                    raw[table_name][key] = (row, False, ref.column)
    # rows that hang off the member's own rows (an order's status history)
    for parent, children in CHILD_TABLES.items():
        parent_table = SQLModel.metadata.tables[parent]
        parent_ids = [row.id for row, whole, _part in raw.get(parent, {}).values() if whole]
        for child in children:
            table = SQLModel.metadata.tables[child]
            link = next(
                c for c in table.columns for fk in c.foreign_keys if fk.column.table is parent_table
            )
            if not parent_ids:
                continue
            for row in (await session.execute(select(table).where(link.in_(parent_ids)))).all():
                raw[child][_primary_key(table, row)] = (row, True, "")
    return raw


def _exported(
    table_name: str,
    row: Any,
    whole: bool,
    part: str,
    columns: set[str],
    member_id: int,
    names: dict[int, str],
) -> dict[str, Any]:
    """A row as the export shows it: whole (other members by first name, redacted columns
    left out), or, for a row the member only acted on, its keys, its times and their part."""
    table = SQLModel.metadata.tables[table_name]
    if not whole:
        item = {c.name: _plain(getattr(row, c.name)) for c in table.primary_key.columns}
        item.update(
            {
                c.name: _plain(getattr(row, c.name))
                for c in table.columns
                if isinstance(getattr(row, c.name), datetime)
            }
        )
        item["your_part"] = part
        return item
    item = {}
    for c in table.columns:
        if f"{table_name}.{c.name}" in REDACTED_COLUMNS:
            continue
        value = getattr(row, c.name)
        if c.name in columns and value is not None and value != member_id:
            # another member: their first name, never their id
            item[c.name.removesuffix("_id") + "_first_name"] = names.get(int(value))
            continue
        item[c.name] = _plain(value)
    return item


A_MEMBER = "a member"  # a giver who did not sign their gift, as the recipient's export names them


async def _gift_memos(
    session: AsyncSession, member_id: int, gifts: list[tuple[int, str, int | None]]
) -> dict[int, str]:
    """What the member's export says of each gift (transaction id, memo, giver): "gift from"
    the giver's first name when they signed it, else "a member"; never an id (older memos held
    both members' ids)."""
    givers = {giver for _tx, memo, giver in gifts if memo == GIFT_SIGNED and giver is not None}
    names = await _first_names(session, givers)
    memos = {}
    for tx, memo, giver in gifts:
        if giver == member_id:
            memos[tx] = "gift given"
        elif memo == GIFT_SIGNED and giver is not None:
            memos[tx] = f"gift from {shown(names.get(giver, '')) or A_MEMBER}"
        else:
            memos[tx] = f"gift from {A_MEMBER}"
    return memos


async def _ledger_movements(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    """Every entry on the member's own ledger accounts, oldest first."""
    rows = await session.execute(
        select(
            col(LedgerTransaction.actor_id),
            col(LedgerTransaction.created_at),
            col(LedgerAccount.kind),
            col(LedgerEntry.asset),
            col(LedgerEntry.amount),
            col(LedgerTransaction.kind),
            col(LedgerTransaction.memo),
            col(LedgerTransaction.order_id),
            col(LedgerTransaction.id),
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(col(LedgerAccount.owner_id) == member_id)
        .order_by(col(LedgerEntry.id))
    )
    found = rows.all()
    gift_kind = transaction_kind(REASON_GIFT)
    gifts = await _gift_memos(
        session,
        member_id,
        [(row[8] or 0, row[6], row[0]) for row in found if row[5] == gift_kind],
    )
    return [
        {
            "at": _plain(at),
            "account": account,
            "asset": asset,
            "amount": int(amount),
            "transaction": kind,
            "memo": gifts.get(transaction_id or 0, memo),
            "order_id": order_id,
            "transaction_id": transaction_id,
        }
        for _actor, at, account, asset, amount, kind, memo, order_id, transaction_id in found
    ]


# ---------------------------------------------------------------- erasure ------------------


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What /forgetme did: the pseudonym the member's rows now carry."""

    member_id: int
    pseudonym: str


def pseudonym() -> str:
    """A name that says nothing about the member: random, so it cannot be traced back."""
    return f"Member #{secrets.token_hex(3)}"


async def forget_member(
    session: AsyncSession,
    *,
    member_id: int,
    now: datetime,
    wording_version: str,
    default_locale: str,
    actor_id: int | None = None,
    chat_id: int | None = None,
) -> Forgotten | None:
    """Erase the member's personal fields and everything only their person explains.

    Orders, the ledger and the counts derived from them stay, keyed by the member id under
    a pseudonym, so balances and `reconcile` hold. Returns None for an unknown member.
    """
    name = pseudonym()
    person = await session.get(Member, member_id)
    terms = _naming_terms(person) if person is not None else []
    erased = await session.execute(
        update(Member)
        .where(col(Member.id) == member_id)
        .values(
            first_name=name,
            last_name=None,
            username=None,
            language_code=None,
            locale=default_locale,
            locale_chosen=False,
            started=False,
            timezone=None,
            birthday_month=None,
            birthday_day=None,
            birthday_gift_year=None,
            forgotten_at=now,
            updated_at=now,
        )
    )
    if rowcount(erased) != 1:
        return None
    await _retire_referral_code(session, member_id)
    await _stop_promotions(session, member_id, wording_version, now)
    await _erase_traces(session, member_id)
    await _scrub_audit(session, terms, name)
    await record_action(
        session,
        actor_id=actor_id if actor_id is not None else member_id,
        chat_id=chat_id,
        action="privacy.forget",
        allowed=True,
        now=now,
        detail=f"member {member_id}",
    )
    return Forgotten(member_id=member_id, pseudonym=name)


async def _retire_referral_code(session: AsyncSession, member_id: int) -> None:
    """The old referral link stops attributing: the code becomes a fresh one nobody has."""
    for _attempt in range(10):
        code = (
            await session.execute(
                select(col(ReferralCode.id)).where(col(ReferralCode.member_id) == member_id)
            )
        ).scalar_one_or_none()
        if code is None:
            break
        fresh = new_code()
        taken = (
            await session.execute(
                select(col(ReferralCode.id)).where(col(ReferralCode.code) == fresh)
            )
        ).scalar_one_or_none()
        if taken is None:
            await session.execute(
                update(ReferralCode)
                .where(col(ReferralCode.id) == code)
                .values(code=fresh, show_on_leaderboard=False)
            )
            break
    # and so do the invite links into groups made for the member's code
    await session.execute(
        delete(ReferralInviteLink).where(
            col(ReferralInviteLink.code_id).in_(
                select(col(ReferralCode.id)).where(col(ReferralCode.member_id) == member_id)
            )
        )
    )
    await session.execute(
        delete(ReferralAttempt).where(col(ReferralAttempt.member_id) == member_id)
    )


async def _stop_promotions(
    session: AsyncSession, member_id: int, wording_version: str, now: datetime
) -> None:
    """Consent withdrawn (and recorded as withdrawn); promotions already planned are skipped."""
    await set_consent(
        session, member_id=member_id, opted_in=False, wording_version=wording_version, now=now
    )
    await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.chat_id) == member_id,
            col(BroadcastRecipient.kind) == RECIPIENT_PRIVATE,
            col(BroadcastRecipient.status).in_(CLAIMABLE),
        )
        .values(status=RECIPIENT_SKIPPED, reason=SKIP_FORGOTTEN)
    )
    await session.execute(delete(MemberSegment).where(col(MemberSegment.member_id) == member_id))


async def _erase_traces(session: AsyncSession, member_id: int) -> None:
    """What only the member's person explains: the groups they were seen in, their review
    media, and the free texts they wrote."""
    # which groups they were seen in says who they are with: gone whole
    await session.execute(
        delete(CommunityMember).where(col(CommunityMember.member_id) == member_id)
    )
    # their review photos and video (晒单) show what they hold, maybe their face: gone whole
    await session.execute(delete(ReviewMedia).where(col(ReviewMedia.member_id) == member_id))
    await session.execute(
        update(Review).where(col(Review.member_id) == member_id).values(photos=0, videos=0)
    )
    for text in FREE_TEXTS:
        table = SQLModel.metadata.tables[text.table]
        await session.execute(
            update(table)
            .where(table.c[text.member_column] == member_id, table.c[text.column] != "")
            .values({text.column: ""})
        )


def _naming_terms(person: Member) -> list[str]:
    """What staff may have typed to find the member: @username, username, full name, first and
    last name (two characters at least: a one-letter name would scrub unrelated words)."""
    first, last = person.first_name.strip(), (person.last_name or "").strip()
    terms = [f"{first} {last}".strip(), first, last]
    if person.username:
        terms += [f"@{person.username}", person.username]
    return sorted({t for t in terms if len(t) >= 2}, key=len, reverse=True)


async def _scrub_audit(session: AsyncSession, terms: list[str], pseudonym: str) -> None:
    """Replace the member's names in audit details (search terms staff typed: a dashboard
    member search, /statement @name, a /sheet look-up) with their pseudonym. The rows stay:
    who did what and when is the audit; the actor ids are kept as everywhere else."""
    if not terms:
        return
    pattern = re.compile(
        "|".join(rf"(?<!\w){re.escape(term)}(?!\w)" for term in terms), re.IGNORECASE
    )
    detail = func.lower(col(AuditEntry.detail))
    rows = await session.execute(
        select(col(AuditEntry.id), col(AuditEntry.detail)).where(
            or_(*(detail.contains(term.lower(), autoescape=True) for term in terms))
        )
    )
    for entry_id, text in rows.all():
        scrubbed = pattern.sub(pseudonym, text)
        if scrubbed != text:
            await session.execute(
                update(AuditEntry)
                .where(col(AuditEntry.id) == entry_id)
                .values(detail=scrubbed[:512])
            )


# ---------------------------------------------------------------- retention ----------------


def retention_days(overrides: dict[str, int]) -> dict[str, int]:
    """Each free text's retention in days: its default, or what the configuration says."""
    return {text.key: overrides.get(text.key, text.default_days) for text in FREE_TEXTS}


async def erase_expired_text(
    session: AsyncSession, *, text: FreeText, days: int, now: datetime
) -> int:
    """Erase the text of rows older than `days`; a row already erased is left alone, so two
    runs (or two workers) erase each text once. Returns how many were erased."""
    table = SQLModel.metadata.tables[text.table]
    result = await session.execute(
        update(table)
        .where(
            and_(
                table.c[text.time_column] < now - timedelta(days=days),
                table.c[text.column] != "",
            )
        )
        .values({text.column: ""})
    )
    return rowcount(result)
