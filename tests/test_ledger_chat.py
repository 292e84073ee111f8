"""The ledger as people meet it: /wallet, /export, and the reconcile and export commands."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import create_engine, create_session_factory
from models.ledger import (
    ACCOUNT_BRAND_REVENUE,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_MEMBER_POINTS,
    ACCOUNT_POINTS_ISSUED,
    POINTS,
)
from services.ledger import AccountRef, Posting, post
from services.period import InvalidPeriod, parse_period
from tests.conftest import LEE, MIA, OWNER, SAM, Harness, make_settings
from tests.test_config import run_cli


def award(member_id: int, points: int) -> list[Posting]:
    return [
        Posting(AccountRef(ACCOUNT_POINTS_ISSUED), POINTS, -points),
        Posting(AccountRef(ACCOUNT_MEMBER_POINTS, member_id), POINTS, points),
    ]


async def seed(url: str) -> None:
    """Mia earns 1,250 points and pays a ¥35.90 order, of which Lee earns ¥12.50 commission."""
    engine = create_engine(make_settings(database_url=url))
    async with create_session_factory(engine)() as session, session.begin():
        await post(session, key="seed-award-1", kind="points_checkin", postings=award(MIA, 1000))
        await post(session, key="seed-award-2", kind="points_checkin", postings=award(MIA, 250))
        await post(
            session,
            key="seed-order-1",
            kind="order_paid",
            memo='=HYPERLINK("http://evil")',
            postings=[
                Posting(AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, MIA), "CNY", -3590),
                Posting(AccountRef(ACCOUNT_BRAND_REVENUE), "CNY", 2340),
                Posting(AccountRef(ACCOUNT_LEADER_COMMISSION, LEE), "CNY", 1250),
            ],
        )
    await engine.dispose()


async def test_wallet_shows_points_and_movements_in_the_members_locale(
    harness: Harness, database_url: str
) -> None:
    # given Mia has earned points
    await seed(database_url)
    # when she opens her wallet
    reply = (await harness.send(MIA, MIA, "/wallet"))[0]
    # then she sees her balance and movements, newest first, in English number format
    lines = reply.splitlines()
    assert lines[0] == "Your wallet"
    assert lines[1] == "Points: 1,250"
    assert lines[3] == "Recent movements:"
    assert lines[4].endswith("−CN¥35.90  Order paid")
    assert lines[5].endswith("+250 points  Daily check-in")
    assert lines[6].endswith("+1,000 points  Daily check-in")


async def test_wallet_shows_the_ten_newest_movements_and_says_where_the_rest_are(
    harness: Harness, database_url: str
) -> None:
    # given Mia has twelve movements: the seed's three and nine more grants
    await seed(database_url)
    engine = create_engine(make_settings(database_url=database_url))
    async with create_session_factory(engine)() as session, session.begin():
        for n in range(9):
            await post(session, key=f"more-{n}", kind="points_checkin", postings=award(MIA, 1))
    await engine.dispose()
    # when she opens her wallet
    lines = (await harness.send(MIA, MIA, "/wallet"))[0].splitlines()
    # then ten movements are listed, and a line says they are the newest and where the rest are
    listed = lines[lines.index("Recent movements:") + 1 :]
    assert len(listed) == 11
    assert listed[-1] == (
        "These are the 10 newest. Every points movement: /points all; "
        "a leader's commission and cash: /statement."
    )
    # with ten or fewer, there is no such line
    lee = (await harness.send(LEE, LEE, "/wallet"))[0]
    assert "/points all" not in lee


async def test_wallet_shows_leader_commission_in_chinese(
    harness: Harness, database_url: str
) -> None:
    await seed(database_url)
    reply = (await harness.send(LEE, LEE, "/wallet"))[0]
    assert reply.splitlines()[:3] == ["你的钱包", "积分：0", "已赚佣金：¥12.50"]
    assert "+¥12.50  订单已付款" in reply


async def test_an_empty_wallet_says_how_to_earn(harness: Harness) -> None:
    reply = (await harness.send(MIA, MIA, "/wallet"))[0]
    assert reply.endswith("No movements yet. Join a group-buy or check in to earn points.")


async def test_staff_export_the_ledger_as_csv(harness: Harness, database_url: str) -> None:
    await seed(database_url)
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    # a member is refused
    assert await harness.send(MIA, MIA, "/export") == ["Sorry, only brand staff can do that."]
    # a bad range is explained
    bad = await harness.send(SAM, SAM, "/export someday")
    assert bad[0].startswith("I could not read that date range.")
    # staff get two documents: the ledger entries and the orders
    captions = await harness.send(SAM, SAM, "/export 7d")
    assert captions[0].startswith("Ledger entries from ") and captions[0].endswith(": 7 rows.")
    assert captions[1].startswith("Orders from ") and captions[1].endswith(": 0 rows.")
    document = harness.emulator.bot_messages(SAM)[-2]
    assert document.kind == "document"
    assert document.raw["document"]["file_name"].startswith("ledger_")
    data = harness.emulator.file_bytes(document.raw["document"]["file_id"]).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == 7
    order_rows = [r for r in rows if r["kind"] == "order_paid"]
    assert sorted(int(r["amount_minor"]) for r in order_rows) == [-3590, 1250, 2340]
    # a memo that looks like a formula is neutralised for spreadsheets
    assert order_rows[0]["memo"].startswith("'=HYPERLINK")


async def test_reconcile_command_passes_then_reports_tampering(
    database_url: str, tmp_path: Path
) -> None:
    await seed(database_url)
    env = {"DATABASE_URL": database_url}
    ok = run_cli("reconcile", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == "reconcile: OK"
    assert "checked 3 transactions, 7 entries" in ok.stdout
    # when someone edits a cached balance behind the ledger's back
    engine = create_engine(make_settings(database_url=database_url))
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE ledger_balance SET balance = balance + 5 "
                "WHERE asset = 'PTS' AND balance > 0"
            )
        )
    bad = run_cli("reconcile", env=env)
    assert bad.returncode == 1
    assert f"MISMATCH member_points/{MIA} PTS: cached 1255, entries say 1250" in bad.stdout
    assert bad.stdout.strip().splitlines()[-1] == "reconcile: FAILED"
    # put it back, so the test leaves a reconciled ledger
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE ledger_balance SET balance = balance - 5 "
                "WHERE asset = 'PTS' AND balance > 0"
            )
        )
    await engine.dispose()


async def test_export_command_writes_the_csv(database_url: str, tmp_path: Path) -> None:
    await seed(database_url)
    today = datetime.now(UTC).date().isoformat()
    result = run_cli(
        "export", today, today, "--out", str(tmp_path), env={"DATABASE_URL": database_url}
    )
    assert result.returncode == 0, result.stderr
    target = tmp_path / f"ledger_{today}_{today}.csv"
    orders = tmp_path / f"orders_{today}_{today}.csv"
    assert result.stdout.strip().splitlines() == [
        f"wrote 7 rows of ledger to {target}",
        f"wrote 0 rows of orders to {orders}",
    ]
    assert target.read_bytes().startswith(b"\xef\xbb\xbftransaction_id,created_at_utc")
    assert orders.read_bytes().startswith(b"\xef\xbb\xbforder_id,created_at_utc")
    bad = run_cli("export", "yesterday-ish", env={"DATABASE_URL": database_url})
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_periods_are_whole_local_days() -> None:
    today = date(2026, 11, 21)
    week = parse_period("7d", timezone="Asia/Shanghai", today=today)
    assert (week.first, week.last) == (date(2026, 11, 15), today)
    # local midnight in Shanghai is 16:00 UTC the day before
    assert week.start == datetime(2026, 11, 14, 16, tzinfo=UTC)
    assert week.end == datetime(2026, 11, 21, 16, tzinfo=UTC)
    assert parse_period("", timezone="UTC", today=today).first == date(2026, 10, 23)
    two = parse_period("2026-11-01 2026-11-30", timezone="UTC", today=today)
    assert (two.first, two.last) == (date(2026, 11, 1), date(2026, 11, 30))
    assert parse_period("2026-11-01..2026-11-30", timezone="UTC", today=today) == two
    for bad in (
        "0d",
        "99999d",
        "2026-11-30 2026-11-01",
        "2026-11-30..2026-11-01",
        "2026-11-01..",
        "soon",
        "a b c",
        "2026-13-01",
    ):
        with pytest.raises(InvalidPeriod):
            parse_period(bad, timezone="UTC", today=today)
