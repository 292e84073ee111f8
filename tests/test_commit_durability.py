"""Which commits wait for the disk (PostgreSQL): an update that only recorded who and where it
came from commits without waiting (`synchronous_commit` off, bot.db); any other write waits as
before, a check-in's points and a group-buy join included."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from bot.db import DURABLE_COMMIT
from services.db import BOOKKEEPING, RELAXES_COMMIT
from tests.conftest import MIA, TEA, Harness
from tests.test_groupbuy_chat import open_drop

# the rows an update's context records: its claim, the member, the group, the sighting
BOOKKEEPING_TABLES = {"processed_update", "member", "community", "community_member"}
# a table named after INSERT INTO, UPDATE or DELETE FROM (not ON CONFLICT's DO UPDATE, nor a
# SELECT's FOR UPDATE)
WRITE = re.compile(r'(?<!DO )(?<!FOR )(?<!KEY )\b(?:INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)')


@dataclass
class Commit:
    tables: set[str]  # what the transaction wrote
    synchronous: str  # synchronous_commit for its COMMIT


@dataclass
class Commits:
    """Every COMMIT of the bot's engine, with what its transaction wrote and the
    `synchronous_commit` it committed with: as set before the COMMIT, or turned on in the
    COMMIT's own message (bot.db.DURABLE_COMMIT)."""

    done: list[Commit] = field(default_factory=list)
    _writing: dict[int, set[str]] = field(default_factory=dict)  # per SQLAlchemy connection
    _committing: dict[int, set[str]] = field(default_factory=dict)  # per asyncpg connection

    def statement(self, conn: Any, _c: Any, statement: str, *_rest: Any) -> None:
        self._writing.setdefault(id(conn), set()).update(WRITE.findall(statement))

    def commit(self, conn: Any) -> None:
        # SQLAlchemy is about to commit: the driver's COMMIT comes next
        driver = conn.connection.driver_connection
        self._committing[id(driver)] = self._writing.pop(id(conn), set())

    def rollback(self, conn: Any) -> None:
        self._writing.pop(id(conn), None)

    async def sent(self, driver: Any, query: str) -> None:
        """What asyncpg sends: a COMMIT, alone or after turning synchronous_commit on."""
        if query not in ("COMMIT;", DURABLE_COMMIT):
            return
        setting = "on"
        if query == "COMMIT;":
            setting = await asyncpg.Connection.fetchval(driver, "SHOW synchronous_commit")
        self.done.append(Commit(self._committing.pop(id(driver), set()), setting))

    def take(self) -> list[Commit]:
        done, self.done = self.done, []
        return done


@contextmanager
def watched(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Commits]:
    engine = harness.runtime.engine.sync_engine
    commits = Commits()
    listeners = (
        ("before_cursor_execute", commits.statement),
        ("commit", commits.commit),
        ("rollback", commits.rollback),
    )
    execute = asyncpg.Connection.execute

    async def watching(driver: Any, query: str, *args: Any, **options: Any) -> str:
        await commits.sent(driver, query)
        result: str = await execute(driver, query, *args, **options)
        return result

    monkeypatch.setattr(asyncpg.Connection, "execute", watching)
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield commits
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
        monkeypatch.undo()


async def test_only_bookkeeping_commits_without_waiting_for_the_disk(
    harness: Harness, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.is_sqlite:
        pytest.skip("PostgreSQL's synchronous_commit (SQLite commits in its own file)")
    tea_card, _coffee_card = await open_drop(harness)
    await harness.send(MIA, MIA, "/start")
    with watched(harness, monkeypatch) as commits:
        # a member who is known asks for help: only the update's claim is written
        assert (await harness.send(MIA, MIA, "/help"))[0]
        helped = commits.take()
        # she checks in (points on the ledger) and joins the group-buy
        assert await harness.send(MIA, TEA, "/checkin")
        checked_in = commits.take()
        assert (await harness.press(MIA, TEA, tea_card, index=0) or "").startswith("You are #1")
        joined = commits.take()
    # the help's one writing transaction wrote bookkeeping only, and did not wait for the disk
    writing = [c for c in helped if c.tables]
    assert [c.tables for c in writing] == [{"processed_update"}]
    assert [c.synchronous for c in writing] == ["off"]
    # the check-in and the join wrote more, and waited
    for what, commits_of in (("check-in", checked_in), ("join", joined)):
        durable = [c for c in commits_of if c.tables - BOOKKEEPING_TABLES]
        assert durable, f"the {what} wrote nothing but bookkeeping: {commits_of}"
        assert {c.synchronous for c in durable} == {"on"}, what


async def test_every_write_beyond_bookkeeping_waits_for_the_disk(
    harness: Harness, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.is_sqlite:
        pytest.skip("PostgreSQL's synchronous_commit (SQLite commits in its own file)")
    with watched(harness, monkeypatch) as commits:
        # a whole morning: the groups approved, a drop opened and joined, check-ins, points
        tea_card, _coffee_card = await open_drop(harness)
        await harness.send(MIA, MIA, "/start")
        await harness.send(MIA, TEA, "/checkin")
        await harness.press(MIA, TEA, tea_card, index=0)
        await harness.send(MIA, MIA, "/points")
        await harness.send(MIA, MIA, "/help")
        done = commits.take()
    relaxed = [c for c in done if c.synchronous == "off"]
    assert relaxed, "no update committed without waiting for the disk"
    assert all(c.tables <= BOOKKEEPING_TABLES for c in relaxed), [
        c.tables for c in relaxed if c.tables - BOOKKEEPING_TABLES
    ]


async def test_a_failed_transaction_still_ends_at_its_commit(
    harness: Harness, settings: Settings
) -> None:
    """A COMMIT marked to wait for the disk, of a transaction in which a statement failed,
    rolls back as PostgreSQL's COMMIT alone does, and leaves the connection usable (the SET in
    front of it fails in a failed transaction, and must not leave the transaction open)."""
    if settings.is_sqlite:
        pytest.skip("PostgreSQL's synchronous_commit (SQLite commits in its own file)")
    relax = select(func.set_config("synchronous_commit", "off", True)).execution_options(
        **{BOOKKEEPING: True, RELAXES_COMMIT: True}
    )
    async with harness.runtime.engine.connect() as conn:
        await conn.execute(relax)
        await conn.execute(text("CREATE TEMP TABLE kept (x integer)"))  # more than bookkeeping
        with pytest.raises(DBAPIError):
            await conn.execute(text("SELECT 1 / 0"))
        await conn.commit()
        assert not conn.in_transaction()
        # rolled back: the table is gone, and the connection works
        assert (await conn.execute(text("SELECT to_regclass('pg_temp.kept')"))).scalar() is None
        await conn.commit()
