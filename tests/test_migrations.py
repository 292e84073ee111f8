"""Migrations: the first run creates the store; models and migrations never drift apart."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot.db import create_database, create_engine, create_session_factory, drop_database
from bot.migrate import alembic_config, current_revision, drift, upgrade
from models.ledger import ACCOUNT_MEMBER_POINTS, ACCOUNT_POINTS_ISSUED, POINTS
from services.ledger import AccountRef, Posting, balance, post, reconcile
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.test_config import run_cli


@asynccontextmanager
async def scratch_engine(tmp_path: Path, label: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a new, empty store of the backend under test (a database of its own on
    PostgreSQL, a file on SQLite), disposed and dropped afterwards."""
    if TEST_DATABASE_URL:
        server = TEST_DATABASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
        name = f"ccbot_{label}_{uuid.uuid4().hex[:8]}"
        url = await create_database(server, name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / f'{label}.sqlite3'}"
    engine = create_engine(make_settings(database_url=url))
    try:
        yield engine
    finally:
        await engine.dispose()
        if TEST_DATABASE_URL:
            await drop_database(server, name)


def downgrade_to(revision: str) -> Callable[[Connection], None]:
    """Alembic's downgrade to `revision`, to run on a connection (`run_sync`)."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    return run


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(make_settings(database_url=database_url))
    try:
        assert await drift(engine) == []
        assert await current_revision(engine) is not None
        assert set(SQLModel.metadata.tables) <= await table_names(engine)
    finally:
        await engine.dispose()


def test_migrate_command_creates_the_sqlite_file_and_reports_no_drift(tmp_path: Path) -> None:
    # given no database file yet, under a folder that does not exist either
    target = tmp_path / "fresh" / "bot.sqlite3"
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{target}"}
    # when the operator migrates
    result = run_cli("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "newest schema" in result.stdout
    # then the file holds every table, in WAL mode
    with sqlite3.connect(target) as conn:
        names = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(SQLModel.metadata.tables) <= names
    check = run_cli("migrate", "--check", env=env)
    assert check.returncode == 0 and "models and migrations agree" in check.stdout


async def test_downgrade_to_nothing_and_back_up(tmp_path: Path) -> None:
    """Every revision can be undone and redone on the backend under test."""
    async with scratch_engine(tmp_path, "roundtrip") as engine:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.run_sync(downgrade_to("base"))
        assert await table_names(engine) <= {"alembic_version"}
        await upgrade(engine)
        assert await drift(engine) == []


APPOINTMENTS = "400014c820ac"  # the revision that made leaders appointed


async def test_the_cached_admins_who_acted_as_leaders_are_appointed(tmp_path: Path) -> None:
    """Leaders were every cached Telegram admin; the migration to appointed leaders appoints
    those who acted as leader of their group, so a running brand's leaders keep working."""
    now = datetime.now(UTC)

    def before_appointments(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        # the revision just before appointments, wherever merges chain it
        before = ScriptDirectory.from_config(config).get_revision(APPOINTMENTS).down_revision
        command.upgrade(config, str(before))
        member = sa.table(
            "member",
            *(sa.column(c) for c in ("id", "first_name", "locale", "created_at", "updated_at")),
            *(sa.column(c, sa.Boolean) for c in ("locale_chosen", "is_bot", "started")),
        )
        for uid in (1, 2, 3, 4):
            connection.execute(
                member.insert().values(
                    id=uid,
                    first_name=f"u{uid}",
                    locale="en",
                    locale_chosen=False,
                    is_bot=False,
                    started=True,
                    created_at=now,
                    updated_at=now,
                )
            )
        community = sa.table(
            "community",
            *(sa.column(c) for c in ("id", "title", "chat_type", "locale", "timezone")),
            *(sa.column(c) for c in ("status", "approval", "created_at", "updated_at")),
        )
        for gid, status in ((-10, "active"), (-20, "left")):
            connection.execute(
                community.insert().values(
                    id=gid,
                    title="g",
                    chat_type="supergroup",
                    locale="en",
                    timezone="UTC",
                    status=status,
                    approval="approved",
                    created_at=now,
                    updated_at=now,
                )
            )
        admin = sa.table(
            "chat_admin", *(sa.column(c) for c in ("community_id", "member_id", "status"))
        )
        for gid, uid in ((-10, 2), (-10, 3), (-10, 4), (-20, 2)):
            connection.execute(
                admin.insert().values(community_id=gid, member_id=uid, status="administrator")
            )
        audit = sa.table(
            "audit_log",
            *(sa.column(c) for c in ("at", "actor_id", "chat_id", "action", "required_role")),
            sa.column("detail"),
            sa.column("allowed", sa.Boolean),
        )
        for uid, gid, allowed in ((2, -10, True), (3, -10, False), (2, -20, True), (4, 4, True)):
            connection.execute(
                audit.insert().values(
                    at=now,
                    actor_id=uid,
                    chat_id=gid,
                    action="groupbuy.open",
                    required_role="leader",
                    allowed=allowed,
                    detail="",
                )
            )
        designation = sa.table(
            "leader_designation",
            *(sa.column(c) for c in ("community_id", "member_id", "designated_by")),
            sa.column("designated_at"),
        )
        connection.execute(
            designation.insert().values(
                community_id=-10, member_id=1, designated_by=1, designated_at=now
            )
        )

    async with scratch_engine(tmp_path, "leaders") as engine:
        async with engine.begin() as conn:
            await conn.run_sync(before_appointments)
        # when the bot is migrated to appointed leaders
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT community_id, member_id, status, source FROM leader_designation "
                        "ORDER BY community_id, member_id"
                    )
                )
            ).all()
        # then the staff designation stays, and only the admin who acted as leader of his
        # (still served) group is appointed: not the refused one, not a mere moderator, not
        # one of a group the bot left, not one who acted only in private
        assert [tuple(r) for r in rows] == [
            (-10, 1, "active", "staff"),
            (-10, 2, "active", "migrated"),
        ]


REWARD_KINDS = "0dd45bf8ae69"  # the revision that gave rewards a kind and fulfilment tasks


async def test_existing_rewards_get_their_kind_and_what_is_owed_a_task(tmp_path: Path) -> None:
    """A reward with a coupon becomes a coupon reward, every other one a physical reward, and
    each of those redemptions not yet delivered gets an open task in /fulfil; the way back
    works with the rows in place."""
    now = datetime.now(UTC)

    def before_kinds(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        before = ScriptDirectory.from_config(config).get_revision(REWARD_KINDS).down_revision
        command.upgrade(config, str(before))
        rows = [
            "INSERT INTO member (id, first_name, locale, locale_chosen, is_bot, started, "
            "created_at, updated_at) VALUES (5, 'Mia', 'en', false, false, true, :now, :now)",
            "INSERT INTO coupon_template (id, code, kind, value, currency, min_spend, "
            "per_member_limit, min_rank, active, created_by, created_at) VALUES "
            "(1, 'SAVE10', 'percent', 1000, 'CNY', 0, 1, 0, true, 1, :now)",
            "INSERT INTO reward (id, title, cost, active, created_by, created_at) VALUES "
            "(1, 'Cup', 5, true, 1, :now)",
            "INSERT INTO reward (id, title, cost, active, created_by, created_at, "
            "coupon_template_id) VALUES (2, 'Ten off', 5, true, 1, :now, 1)",
            "INSERT INTO redemption (id, reward_id, member_id, cost, delivered, created_at) "
            "VALUES (1, 1, 5, 5, false, :now), (2, 2, 5, 5, false, :now), "
            "(3, 1, 5, 5, true, :now)",
        ]
        for row in rows:
            connection.execute(sa.text(row), {"now": now})

    def back(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        before = ScriptDirectory.from_config(config).get_revision(REWARD_KINDS).down_revision
        command.downgrade(config, str(before))

    async with scratch_engine(tmp_path, "rewards") as engine:
        async with engine.begin() as conn:
            await conn.run_sync(before_kinds)
        # when the bot is migrated to reward kinds
        await upgrade(engine)
        async with engine.connect() as conn:
            kinds = (await conn.execute(sa.text("SELECT id, kind FROM reward ORDER BY id"))).all()
            tasks = (
                await conn.execute(
                    sa.text("SELECT redemption_id, member_id, title, status FROM fulfilment")
                )
            ).all()
        # then the coupon reward is a coupon, the cup physical, and the cup Mia still waits
        # for (not the one delivered) is an open task
        assert [tuple(k) for k in kinds] == [(1, "physical"), (2, "coupon")]
        assert [tuple(t) for t in tasks] == [(1, 5, "Cup", "open")]
        # and the way back keeps the redemptions
        async with engine.begin() as conn:
            await conn.run_sync(back)
        async with engine.connect() as conn:
            left = (await conn.execute(sa.text("SELECT count(*) FROM redemption"))).scalar_one()
        assert left == 3
        assert "fulfilment" not in await table_names(engine)


UNCACHED_ISSUED = "b41e2f0c9d57"  # the revision from which points_issued keeps no cached row


async def test_points_issued_drops_its_cached_row_and_gets_it_back_going_down(
    tmp_path: Path,
) -> None:
    """Going up, the cached balance of `points_issued` (which stopped moving) is dropped and
    the ledger still reconciles; going down, it is rebuilt from the entries."""
    cached_issued = sa.text(
        "SELECT b.balance FROM ledger_balance b JOIN ledger_account a ON a.id = b.account_id "
        "WHERE a.kind = 'points_issued'"
    )

    async with scratch_engine(tmp_path, "issued") as engine:
        sessions = create_session_factory(engine)
        await upgrade(engine)
        # given two members were awarded points, 30 and 12
        async with sessions() as session, session.begin():
            for member, points in ((1, 30), (2, 12)):
                await post(
                    session,
                    key=f"award-{member}",
                    kind="points_award",
                    postings=[
                        Posting(AccountRef(ACCOUNT_POINTS_ISSUED), POINTS, -points),
                        Posting(AccountRef(ACCOUNT_MEMBER_POINTS, member), POINTS, points),
                    ],
                )
        async with engine.connect() as conn:
            assert (await conn.execute(cached_issued)).all() == []
        # when the store goes down past the revision, the cached row is rebuilt
        before = ScriptDirectory.from_config(alembic_config()).get_revision(UNCACHED_ISSUED)
        async with engine.begin() as conn:
            await conn.run_sync(downgrade_to(str(before.down_revision)))
        async with engine.connect() as conn:
            assert (await conn.execute(cached_issued)).scalars().all() == [-42]
        # and when it comes up again, it is dropped, and the ledger reconciles
        await upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(cached_issued)).all() == []
        async with sessions() as session, session.begin():
            assert (await reconcile(session)).ok
            assert await balance(session, AccountRef(ACCOUNT_POINTS_ISSUED), POINTS) == -42
