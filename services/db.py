"""Small SQL helpers shared by services; they never commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Result, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util.typing import TupleAny, Unpack
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class (SQLModel does not type `__table__`)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def rowcount(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE wrote, as the driver reports it.

    `session.execute` is typed to return `Result`, but for those statements it is a
    `CursorResult`, which carries the count (aiosqlite and asyncpg always report one)."""
    return cast("CursorResult[Any]", result).rowcount


def dialect_name(session: AsyncSession) -> str:
    """The backend behind the session: sqlite or postgresql."""
    bind = session.get_bind()
    return bind.dialect.name


def insert_for(session: AsyncSession, table: Any) -> Any:
    """An INSERT for the session's dialect, which supports ON CONFLICT on both backends."""
    return insert_in(dialect_name(session), table)


def insert_in(dialect: str, table: Any) -> Any:
    """An INSERT for the named dialect (sqlite or postgresql), with ON CONFLICT."""
    if dialect == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


Statement = TypeVar("Statement")

# The execution option that marks a statement as bookkeeping: it only records who and where an
# update came from (its claim, the member's and the group's rows, a sighting), which the next
# update from them records again. A transaction whose only writes are bookkeeping may commit
# without waiting for the disk (bot.db).
BOOKKEEPING = "bookkeeping"


# The execution option of a bookkeeping statement that turns `synchronous_commit` off for its
# transaction (PostgreSQL: the update's context read); bot.db turns it on again before the
# transaction's first write beyond bookkeeping.
RELAXES_COMMIT = "relaxes_commit"


def bookkeeping(statement: Statement) -> Statement:
    """`statement` marked as bookkeeping (see BOOKKEEPING)."""
    marked: Statement = statement.execution_options(**{BOOKKEEPING: True})  # type: ignore[attr-defined]
    return marked


def prepared(build: Callable[[str], Statement]) -> Callable[[AsyncSession], Statement]:
    """A statement built once per dialect, for the paths every update takes.

    Building a statement (its clauses, then its cache key) cost about as much as running it,
    each time. A prepared statement takes its values as bound parameters at execution
    (`session.execute(statement, {...})`), so one object serves every call and SQLAlchemy
    reuses its compiled form. `build` gets the dialect name."""
    built: dict[str, Statement] = {}

    def for_session(session: AsyncSession) -> Statement:
        dialect = dialect_name(session)
        statement = built.get(dialect)
        if statement is None:
            statement = built[dialect] = build(dialect)
        return statement

    return for_session


async def execute_rows(
    session: AsyncSession,
    statement: Any,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> Result[Unpack[TupleAny]]:
    """`session.execute(statement, params)` for a statement that returns plain rows (columns,
    never ORM objects), run on the session's connection: the ORM's own execution path costs
    about 50 µs more per statement, which on the statements every update or every join runs is
    a good part of the bot's time. The session's pending objects are flushed first, as
    `session.execute` would. A list of parameter sets is an executemany.

    An UPDATE or DELETE run so does not touch the objects the session holds: use it only on
    tables whose rows the transaction does not hold as objects."""
    sync = session.sync_session
    if sync.new or sync.dirty or sync.deleted:
        await session.flush()
    connection = await session.connection()
    return await connection.execute(statement, params)


def upsert(
    session: AsyncSession,
    model: type[SQLModel],
    values: Mapping[str, Any],
    *,
    keys: Iterable[str],
    update: Mapping[str, Any] | None = None,
) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update (or DO NOTHING when update is empty)."""
    statement = insert_for(session, table_of(model)).values(**values)
    if not update:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.on_conflict_do_update(index_elements=list(keys), set_=dict(update))
