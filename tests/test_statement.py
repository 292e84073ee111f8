"""A leader's statement (对账单): in chat with its CSV, on the dashboard and from the command
line, equal to the ledger's movements on the leader's accounts to the cent."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlmodel import col, select

from bot.cli.commands import export_tables
from models.audit import AuditEntry
from services.ledger import AccountRef, balance, reconcile
from services.period import parse_period
from services.statement import STATEMENT_COLUMNS, leader_statement
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_payout import last_card, leader_sells_a_group_buy

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below

CNY = "CNY"
LEADER_ACCOUNTS = (
    "leader_cash",
    "leader_commission_pending",
    "leader_commission",
    "commission_paid_out",
)


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def last_document(harness: Harness, chat_id: int) -> tuple[str, list[dict[str, str]]]:
    message = harness.emulator.bot_messages(chat_id)[-1]
    assert message.kind == "document"
    document = message.raw["document"]
    return document["file_name"], rows_of(harness.emulator.file_bytes(document["file_id"]))


def written(folder: Path) -> dict[str, bytes]:
    """The statements written to a folder, by file name."""
    return {path.name: path.read_bytes() for path in sorted(folder.glob("statement_*.csv"))}


def minor(row: dict[str, str], column: str) -> int:
    return int(row[f"{column}_minor"] or 0)


async def balances_of_lee(harness: Harness) -> dict[str, int]:
    async with harness.session() as session:
        return {k: await balance(session, AccountRef(k, LEE), CNY) for k in LEADER_ACCOUNTS}


async def the_money_story(harness: Harness) -> None:
    """test_payout's story: Lee collects ¥1,000.00 in cash, hands over ¥400.00, his ¥50.00
    commission is released and paid out netted against his cash, and he hands over the rest."""
    await leader_sells_a_group_buy(harness)
    await harness.send(LEE, LEE, "/handover 400.00")
    card_id, _buttons, _text = last_card(harness, SAM)
    assert await harness.press(SAM, SAM, card_id, index=0) == "Confirmed received."
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    await harness.send(LEE, LEE, "/payout")
    card_id, _buttons, _text = last_card(harness, SAM)
    assert await harness.press(SAM, SAM, card_id, index=0) == (
        "Paid: CN¥0.00 to hand over, CN¥50.00 kept against cash owed."
    )
    await harness.send(LEE, LEE, "/handover 300")
    card_id, _buttons, _text = last_card(harness, SAM)
    assert await harness.press(SAM, SAM, card_id, index=0) == "Confirmed received."


async def test_a_leaders_statement_in_chat_adds_up_to_the_ledger_to_the_cent(
    harness: Harness,
) -> None:
    # given Lee's cash and commission story, after which he still owes ¥250.00
    await the_money_story(harness)
    # when Lee asks for his statement (he reads Chinese)
    replies = await harness.send(LEE, LEE, "/statement")
    # then he reads the figures, in his language
    text = replies[0]
    assert text.startswith("Lee的对账单（"), text
    assert "拼团：发起 1 个，成团 1 个，未成团或取消 0 个" in text, text
    assert "订单：下单 1 笔，付款 1 笔（¥1,000.00），取货 0 笔" in text, text
    assert "现金：收取 ¥1,000.00，已交接 ¥700.00，从提现中抵扣 ¥50.00" in text, text
    assert "期初欠 ¥0.00，期末欠 ¥250.00" in text, text
    assert "佣金：获得 ¥50.00，因退款扣回 ¥0.00，已发放 ¥50.00，已提现 ¥50.00" in text, text
    # and the CSV attached: its total row equals the ledger's balances of his accounts
    name, rows = last_document(harness, LEE)
    assert name.startswith(f"statement_{LEE}_") and name.endswith(".csv")
    assert list(rows[0]) == list(STATEMENT_COLUMNS)
    (total,) = [r for r in rows if r["row"] == "total"]
    ledger = await balances_of_lee(harness)
    assert minor(total, "cash_owed_closing") == -ledger["leader_cash"] == 25_000
    assert minor(total, "commission_pending_closing") == ledger["leader_commission_pending"] == 0
    assert minor(total, "commission_available_closing") == ledger["leader_commission"] == 0
    assert minor(total, "commission_paid_out") == ledger["commission_paid_out"] == 5_000
    assert (
        minor(total, "cash_collected"),
        minor(total, "cash_handed_over"),
        minor(total, "cash_netted"),
        minor(total, "commission_earned"),
        minor(total, "commission_released"),
    ) == (100_000, 70_000, 5_000, 5_000, 5_000)
    # and it adds up: what was owed, plus collected, less what went out, is what is owed
    assert minor(total, "cash_owed_opening") + minor(total, "cash_collected") - minor(
        total, "cash_handed_over"
    ) - minor(total, "cash_netted") == minor(total, "cash_owed_closing")
    # and the group-buy row carries the order, its cash and its commission
    (kettle,) = [r for r in rows if r["row"] == "groupbuy"]
    assert (kettle["groupbuy_id"], kettle["title"], kettle["status"]) == (
        "1",
        "Iron kettle",
        "formed",
    )
    assert (kettle["orders_paid"], minor(kettle, "paid"), minor(kettle, "cash_collected")) == (
        "1",
        100_000,
        100_000,
    )
    assert kettle["cash_handed_over_minor"] == ""  # a hand-over belongs to no group-buy
    # and it was audited
    async with harness.session() as session:
        audited = (
            (
                await session.execute(
                    select(AuditEntry.allowed).where(
                        AuditEntry.action == "statement.view", AuditEntry.actor_id == LEE
                    )
                )
            )
            .scalars()
            .all()
        )
        assert (await reconcile(session)).ok
    assert audited == [True]


def span(harness: Harness, days_back: int, days_ahead: int = 0) -> str:
    today = harness.clock().date()
    return f"{today - timedelta(days=days_back)} {today + timedelta(days=days_ahead)}"


async def test_a_statement_counts_only_its_period(harness: Harness) -> None:
    # given Lee sold a kettle for cash today
    await leader_sells_a_group_buy(harness)
    sale_day = harness.clock().date().isoformat()
    # and forty days later he hands ¥400.00 of it over, and Sam confirms
    harness.clock.advance(days=40)
    await harness.send(LEE, LEE, "/handover 400")
    card_id, _buttons, _text = last_card(harness, SAM)
    assert await harness.press(SAM, SAM, card_id, index=0) == "Confirmed received."
    ledger = await balances_of_lee(harness)
    # when Lee asks for the last 30 days
    await harness.send(LEE, LEE, "/statement 30d")
    _name, rows = last_document(harness, LEE)
    (total,) = [r for r in rows if r["row"] == "total"]
    # then the sale before the period is not counted: its cash is what he owed at the start
    assert (total["groupbuys_run"], total["orders_placed"], total["orders_paid"]) == ("0", "0", "0")
    assert [r for r in rows if r["row"] == "groupbuy"] == []
    assert minor(total, "cash_owed_opening") == 100_000
    assert (minor(total, "cash_collected"), minor(total, "cash_handed_over")) == (0, 40_000)
    assert minor(total, "cash_owed_closing") == -ledger["leader_cash"] == 60_000
    assert minor(total, "commission_earned") == 0
    assert minor(total, "commission_pending_opening") == ledger["leader_commission_pending"]
    # when he asks for the day of the sale
    replies = await harness.send(LEE, LEE, f"/statement {sale_day}")
    _name, rows = last_document(harness, LEE)
    (total,) = [r for r in rows if r["row"] == "total"]
    # then only the sale is there, not the later hand-over
    assert "订单：下单 1 笔，付款 1 笔（¥1,000.00）" in replies[0]
    assert [r["groupbuy_id"] for r in rows if r["row"] == "groupbuy"] == ["1"]
    assert (minor(total, "cash_owed_opening"), minor(total, "cash_collected")) == (0, 100_000)
    assert (minor(total, "cash_handed_over"), minor(total, "cash_owed_closing")) == (0, 100_000)
    assert minor(total, "commission_earned") == 5_000
    # and a day with nothing in it says so
    empty_day = (harness.clock() - timedelta(days=100)).date().isoformat()
    replies = await harness.send(LEE, LEE, f"/statement {empty_day}")
    assert "本期没有拼团、订单、现金或佣金往来。" in replies[0]


async def test_only_leaders_and_staff_get_statements_and_each_ask_is_audited(
    harness: Harness,
) -> None:
    # given Lee sold a kettle for cash
    await leader_sells_a_group_buy(harness)
    # when Mia, a member, asks: she is refused politely, with nothing attached
    assert await harness.send(MIA, MIA, "/statement") == [
        "Sorry, only group leaders and brand staff can do that."
    ]
    assert await harness.send(MIA, MIA, "/statement @lee") == [
        "Sorry, only group leaders and brand staff can do that."
    ]
    assert all(m.kind != "document" for m in harness.emulator.bot_messages(MIA))
    # and Lee asks for Sam's: he may see his own only
    assert await harness.send(LEE, LEE, f"/statement {SAM}") == [
        "你只能查看自己的对账单：发送 /statement 即可。"
    ]
    # when Sam (staff) asks for Lee's, in English
    replies = await harness.send(SAM, SAM, "/statement @lee 7d")
    # then he reads it, with the CSV
    assert replies[0].startswith("Statement of Lee, ")
    assert "Cash: CN¥1,000.00 collected, CN¥0.00 handed over" in replies[0]
    assert replies[1].startswith("Statement of Lee, ") and replies[1].endswith("(CSV).")
    name, rows = last_document(harness, SAM)
    assert name.startswith(f"statement_{LEE}_")
    assert [minor(r, "cash_collected") for r in rows if r["row"] == "total"] == [100_000]
    # and bad input is explained
    assert (await harness.send(SAM, SAM, "/statement @nobody"))[0].startswith(
        "I do not know that member."
    )
    assert (await harness.send(SAM, SAM, "/statement @lee someday"))[0].startswith(
        "I could not read that period."
    )
    # and in a group nobody's figures are posted: Lee is sent to the private chat
    assert await harness.send(LEE, TEA, "/statement") == [
        "Send /statement to me in private: a statement is yours alone."
    ]
    assert all(m.kind != "document" for m in harness.emulator.bot_messages(TEA))
    # and the owner may too
    assert (await harness.send(OWNER, OWNER, f"/statement {LEE}"))[0].startswith(
        "Statement of Lee, "
    )
    async with harness.session() as session:
        audited = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.allowed)
                .where(AuditEntry.action == "statement.view")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    assert [tuple(a) for a in audited] == [
        (MIA, False),
        (MIA, False),
        (LEE, False),
        (SAM, True),
        (SAM, True),
        (SAM, True),
        (OWNER, True),
    ]


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(http: aiohttp.ClientSession, link: str) -> None:
    async with http.get(link, allow_redirects=False) as response:
        assert response.status == 303, await response.text()


async def test_the_dashboard_shows_a_leader_their_statement_and_staff_anyones(
    harness: Harness, dashboard: str, tmp_path: Path
) -> None:
    # given the money story, and the period from ten days ago to the domain's tomorrow
    await the_money_story(harness)
    period = span(harness, 10, 1)
    await harness.send(LEE, LEE, f"/statement {period}")
    _name, in_chat = last_document(harness, LEE)
    async with client() as http:
        # when Lee opens his statement page
        await sign_in(http, await login_link(harness, LEE))
        async with http.get(f"{dashboard}/statement", params={"period": period}) as response:
            assert response.status == 200
            page = await response.text()
        # then he reads his figures, escaped, in his language, with the CSV link
        assert "Lee的对账单" in page and "期末欠 ¥250.00" in page
        assert "下载 CSV" in page and "csv/statement?" in page
        async with http.get(f"{dashboard}/csv/statement", params={"period": period}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/csv")
            downloaded = rows_of(await response.read())
        # and the CSV is the one the chat attached
        assert downloaded == in_chat
        # and anyone else's is refused, on the page and as CSV
        for path in ("statement", "csv/statement"):
            async with http.get(f"{dashboard}/{path}", params={"leader": str(KAI)}) as response:
                assert response.status == 403, path
                assert "你只能查看自己的对账单。" in await response.text()
    async with client() as http:
        # when Sam (staff) opens the page, he is offered the leaders of the period
        await sign_in(http, await login_link(harness, SAM))
        async with http.get(f"{dashboard}/statement", params={"period": period}) as response:
            page = await response.text()
        assert f"leader={LEE}" in page and "Lee" in page
        # and picks Lee by his @username
        async with http.get(
            f"{dashboard}/statement", params={"period": period, "leader": "@lee"}
        ) as response:
            page = await response.text()
        assert (
            "Statement of Lee" in page and "owed CN¥0.00 at the start, CN¥250.00 at the end" in page
        )
        async with http.get(
            f"{dashboard}/csv/statement", params={"period": period, "leader": str(LEE)}
        ) as response:
            assert response.status == 200
            assert rows_of(await response.read()) == in_chat
        async with http.get(
            f"{dashboard}/statement", params={"leader": "<b>nobody</b>"}
        ) as response:
            page = await response.text()
        assert "I do not know that member." in page and "<b>nobody</b>" not in page
    # and the downloads were audited like the other exports
    async with harness.session() as session:
        details = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.detail).where(
                    AuditEntry.action == "dashboard.export"
                )
            )
        ).all()
    assert sorted((actor, detail.split()[0], detail.split()[-1]) for actor, detail in details) == [
        (SAM, "statement", f"leader={LEE}"),
        (LEE, "statement", f"leader={LEE}"),
    ]
    # when the operator exports Lee's statement from the command line
    settings = harness.runtime.settings
    assert await export_tables(settings, period.split(), tmp_path, "", statements="@lee") == 0
    ((name, data),) = written(tmp_path).items()
    # then it is the same file
    assert name.startswith(f"statement_{LEE}_") and rows_of(data) == in_chat
    # and 'all' writes everyone with a statement in the period, and an unknown name fails
    assert (
        await export_tables(settings, period.split(), tmp_path / "all", "", statements="all") == 0
    )
    assert [p.name.split("_")[1] for p in (tmp_path / "all").glob("statement_*.csv")] == [str(LEE)]
    assert await export_tables(settings, period.split(), tmp_path, "", statements="@nobody") == 1
    async with harness.session() as session:
        operator = (
            (
                await session.execute(
                    select(AuditEntry.detail).where(AuditEntry.action == "statement.export")
                )
            )
            .scalars()
            .all()
        )
    assert len(operator) == 2 and all(d.endswith(f"leader={LEE}") for d in operator)


ORDER_FIGURES = (
    "orders_placed",
    "orders_paid",
    "orders_picked_up",
    "orders_refunded",
    "paid_minor",
    "cash_collected_minor",
    "commission_earned_minor",
    "commission_reversed_minor",
    "commission_released_minor",
)


async def test_a_refund_takes_the_commission_back_and_every_row_adds_up(harness: Harness) -> None:
    # given Lee collected a kettle's cash, and Sam then refunded the order in full
    await leader_sells_a_group_buy(harness)
    replies = await harness.send(SAM, SAM, "/refund 1")
    assert not any("Sorry" in r for r in replies), replies
    ledger = await balances_of_lee(harness)
    # when Sam reads Lee's statement
    await harness.send(SAM, SAM, f"/statement @lee {span(harness, 3, 1)}")
    _name, rows = last_document(harness, SAM)
    (total,) = [r for r in rows if r["row"] == "total"]
    # then the commission earned was taken back, and nothing is pending any more
    assert (minor(total, "commission_earned"), minor(total, "commission_reversed")) == (
        5_000,
        5_000,
    )
    assert minor(total, "commission_pending_closing") == ledger["leader_commission_pending"] == 0
    assert total["orders_refunded"] == "1"
    # and the cash Lee took is still his to hand over (the member's refund is the brand's)
    assert minor(total, "cash_owed_closing") == -ledger["leader_cash"] == 100_000
    # and the total row is the sum of the group-buy rows and the rest, figure by figure
    for column in ORDER_FIGURES:
        parts = sum(int(r[column] or 0) for r in rows if r["row"] != "total")
        assert int(total[column] or 0) == parts, column


async def test_adjacent_periods_chain_and_add_up_to_the_whole(harness: Harness) -> None:
    # given the whole money story, spread over eight days of the domain's clock
    await the_money_story(harness)
    today = harness.clock().date()
    first, middle, last = today - timedelta(days=20), today - timedelta(days=4), today
    async with harness.session() as session:
        zone = harness.runtime.settings.default_timezone
        whole, before, after = [
            await leader_statement(
                session,
                leader_id=LEE,
                period=parse_period(f"{a} {b}", timezone=zone, today=today),
            )
            for a, b in (
                (first, last),
                (first, middle),
                (middle + timedelta(days=1), last),
            )
        ]
    # then what one period ends with, the next begins with
    end, start = before.total(CNY), after.total(CNY)
    assert end.cash_owed_closing == start.cash_owed_opening
    assert end.commission_pending_closing == start.commission_pending_opening
    assert end.commission_available_closing == start.commission_available_opening
    # and the two periods' movements are the whole period's, to the cent
    for name in (
        "cash_collected",
        "cash_handed_over",
        "cash_netted",
        "commission_earned",
        "commission_released",
        "commission_paid_out",
        "orders_paid",
    ):
        assert (getattr(end, name) or 0) + (getattr(start, name) or 0) == (
            getattr(whole.total(CNY), name) or 0
        ), name
    # and the whole period ends where the ledger stands
    ledger = await balances_of_lee(harness)
    assert whole.total(CNY).cash_owed_closing == -ledger["leader_cash"]
    assert whole.total(CNY).commission_paid_out == ledger["commission_paid_out"]
