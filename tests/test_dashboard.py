"""The web dashboard over HTTP: who gets in (one-time links, Mini App initData, signed
sessions), what a leader may read (their groups only), and CSVs with the export's columns."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import col, select

from bot.cli.commands import export_tables
from bot.web.dashboard_core import COOKIE, PREFIX
from models.audit import AuditEntry
from models.community import CommunityMember
from services.dashboard import SessionKey, open_session
from services.period import parse_period
from services.tables import TABLES, Query, csv_chunks
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.dashboard_kit import dashboard, dashboard_port, init_data, login_link, settings
from tests.test_analytics_chat import shop

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below

PAGES = ("", "communities", "groupbuys", "members", "ledger", "broadcasts", "cocreation")


def client() -> aiohttp.ClientSession:
    # a cookie jar that keeps cookies of a bare IP address, as a browser does
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(http: aiohttp.ClientSession, link: str) -> None:
    async with http.get(link, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert response.headers["Location"] == f"{PREFIX}/"


def written(folder: Path, name: str) -> bytes:
    (path,) = folder.glob(f"{name}_*.csv")
    return path.read_bytes()


def rows_of(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


async def test_a_login_link_opens_one_session_once_and_every_page_needs_it(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    # when Sam (staff) asks for the dashboard in private, he gets a link
    link = await login_link(harness, SAM)
    async with client() as anonymous:
        # then nothing answers without a session: pages and CSVs alike
        for page in PAGES:
            async with anonymous.get(f"{dashboard}/{page}") as response:
                assert response.status == 401
                assert "send /dashboard in private" in await response.text()
        async with anonymous.get(f"{dashboard}/csv/ledger") as response:
            assert response.status == 401
    async with client() as http:
        await sign_in(http, link)
        # and with it he reads this month's sales for the whole brand, with definitions
        async with http.get(f"{dashboard}/") as response:
            assert response.status == 200
            page = await response.text()
        assert "GMV" in page and "CN¥300.00; paid orders: 2" in page
        assert "What members paid for orders paid in the period, less refunds." in page
        assert '<rect class="bar"' in page  # the daily chart has bars
        for name in PAGES[1:]:
            async with http.get(f"{dashboard}/{name}") as response:
                assert response.status == 200, name
        async with http.get(f"{dashboard}/communities") as response:
            page = await response.text()
        assert "Tea Lovers" in page and "Coffee Club" in page
    # when the link is used a second time, it is refused
    async with client() as again, again.get(link, allow_redirects=False) as response:
        assert response.status == 403
        assert "Login links work once" in await response.text()
    # and a group never receives a link
    replies = await harness.send(SAM, TEA, "/dashboard")
    assert replies == ["Send /dashboard to me in private for your login link."]


async def test_links_expire_and_members_are_refused(harness: Harness, dashboard: str) -> None:
    await shop(harness)
    link = await login_link(harness, LEE)
    # when the link is opened eleven minutes later, it no longer works
    harness.clock.advance(minutes=11)
    async with client() as http, http.get(link, allow_redirects=False) as response:
        assert response.status == 403
        assert COOKIE not in response.cookies
    # a member who is neither staff nor a leader gets no link
    replies = await harness.send(MIA, MIA, "/dashboard")
    assert replies == ["Sorry, only group leaders and brand staff can do that."]
    # and a session opened for her anyway (or forged) opens nothing
    key = SessionKey.for_token(harness.runtime.bot.token)
    async with harness.session() as session:
        good = await open_session(session, key=key, member_id=MIA, now=harness.clock(), hours=1)
        old = await open_session(
            session, key=key, member_id=SAM, now=harness.clock() - timedelta(hours=13), hours=12
        )
        await session.commit()
    forged = good[:-4] + "0000"
    for cookie, status in ((good, 403), (forged, 401)):
        async with (
            aiohttp.ClientSession(cookies={COOKIE: cookie}) as http,
            http.get(f"{dashboard}/") as response,
        ):
            assert response.status == status
    # and a session past its hours is over
    async with (
        aiohttp.ClientSession(cookies={COOKIE: old}) as http,
        http.get(f"{dashboard}/") as response,
    ):
        assert response.status == 401
    async with harness.session() as session:
        tries = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.allowed).where(
                    AuditEntry.action == "dashboard.link"
                )
            )
        ).all()
    assert sorted(tries) == [(LEE, True), (MIA, False)]


async def test_a_leader_reads_only_the_groups_they_lead(harness: Harness, dashboard: str) -> None:
    await shop(harness)
    async with client() as http:
        await sign_in(http, await login_link(harness, LEE))
        # Lee leads Tea Lovers: he sees its 100, never Coffee Club's 200 or the brand's 300
        async with http.get(f"{dashboard}/?lang=en") as response:
            page = await response.text()
        assert "CN¥100.00; paid orders: 1" in page
        assert "CN¥200.00" not in page and "CN¥300.00" not in page
        async with http.get(f"{dashboard}/communities") as response:
            page = await response.text()
        assert "Tea Lovers" in page and "Coffee Club" not in page
        # asking for Coffee Club by its id is refused, on pages and CSVs
        for path in ("", "members", "csv/orders", "csv/members"):
            async with http.get(f"{dashboard}/{path}?community={COFFEE}") as response:
                assert response.status == 403, path
                assert "You can only see the groups you lead." in await response.text()
        # his CSVs hold Tea Lovers' rows only
        async with http.get(f"{dashboard}/csv/orders") as response:
            orders = rows_of(await response.read())
        header, *body = orders
        assert header == list(TABLES["orders"].columns)
        assert [int(row[header.index("chat_id")]) for row in body] == [TEA]
        async with http.get(f"{dashboard}/csv/members") as response:
            members = rows_of(await response.read())
        seen_in_tea = set()
        async with harness.session() as session:
            seen_in_tea = set(
                (
                    await session.execute(
                        select(col(CommunityMember.member_id)).where(
                            col(CommunityMember.community_id) == TEA
                        )
                    )
                )
                .scalars()
                .all()
            )
        listed = {int(row[0]) for row in members[1:]}
        assert listed and listed <= seen_in_tea
        async with http.get(f"{dashboard}/csv/communities") as response:
            communities = rows_of(await response.read())
        assert [int(row[0]) for row in communities[1:]] == [TEA]
    # Kai, who leads Coffee Club, cannot ask for Tea Lovers either
    async with client() as http:
        await sign_in(http, await login_link(harness, KAI))
        async with http.get(f"{dashboard}/ledger?community={TEA}") as response:
            assert response.status == 403


async def status_of(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url) as response:
        return response.status


async def test_a_leader_loses_the_dashboard_at_once_when_suspended_removed_or_the_bot_leaves(
    harness: Harness, dashboard: str
) -> None:
    # given Lee (Tea Lovers) and Kai (Coffee Club) each signed in while leading their group
    await shop(harness)
    async with client() as lee, client() as kai:
        await sign_in(lee, await login_link(harness, LEE))
        await sign_in(kai, await login_link(harness, KAI))
        pages = [f"{dashboard}/", f"{dashboard}/members", f"{dashboard}/csv/orders"]
        assert [await status_of(lee, url) for url in pages] == [200, 200, 200]
        # when staff suspend Lee, he is signed out: his next request is refused, pages and
        # CSVs alike
        await harness.send(SAM, SAM, "/leader_suspend @lee cash not handed over")
        assert [await status_of(lee, url) for url in pages] == [401, 401, 401]
        # reinstated, he signs in again and is back; removed, he is out again
        await harness.send(SAM, SAM, "/leader_reinstate @lee")
        await sign_in(lee, await login_link(harness, LEE))
        assert await status_of(lee, f"{dashboard}/csv/orders") == 200
        await harness.send(SAM, SAM, "/leader_remove @lee stepped down")
        assert [await status_of(lee, url) for url in pages] == [401, 401, 401]
        # when Coffee Club removes the bot, Kai loses the dashboard too
        assert await status_of(kai, f"{dashboard}/csv/orders") == 200
        harness.emulator.remove_bot_from_group(COFFEE, KAI)
        await harness.feed_pending()
        assert [await status_of(kai, url) for url in pages] == [403, 403, 403]


async def test_members_search_finds_by_name_username_and_id(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    async with client() as http:
        await sign_in(http, await login_link(harness, OWNER))
        for query in ("mia", "@mia", str(MIA)):
            async with http.get(f"{dashboard}/csv/members", params={"q": query}) as response:
                rows = rows_of(await response.read())
            assert [int(row[0]) for row in rows[1:]] == [MIA], query
        async with http.get(f"{dashboard}/members", params={"q": "%"}) as response:
            page = await response.text()
        assert "Nothing in this period." in page  # a % is a character, not a wildcard


async def test_csvs_stream_the_export_columns_and_are_audited(
    harness: Harness, dashboard: str, tmp_path: Path
) -> None:
    await shop(harness)
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        downloads = {}
        for name, table in TABLES.items():
            async with http.get(f"{dashboard}/csv/{name}", params={"period": "7d"}) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/csv")
                assert "attachment" in response.headers["Content-Disposition"]
                # streamed in chunks, not one body of known length
                assert response.headers.get("Transfer-Encoding") == "chunked"
                downloads[name] = await response.read()
            assert rows_of(downloads[name])[0] == list(table.columns)
        async with http.get(f"{dashboard}/csv/nothing") as response:
            assert response.status == 404
    # the command-line export writes the same columns and the same rows
    settings = harness.runtime.settings
    assert await export_tables(settings, ["7d"], tmp_path, ",".join(TABLES)) == 0
    for name in ("ledger", "orders", "groupbuys", "members", "polls", "nps", "broadcasts"):
        assert written(tmp_path, name) == downloads[name], name
    ledger = rows_of(downloads["ledger"])
    assert len(ledger) > 3 and sum(int(row[-1]) for row in ledger[1:]) == 0  # double entry
    # every download was audited with what and for whom
    async with harness.session() as session:
        details = (
            (
                await session.execute(
                    select(AuditEntry.detail).where(
                        AuditEntry.action == "dashboard.export", AuditEntry.actor_id == SAM
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted(d.split()[0] for d in details) == sorted(TABLES)
    assert all(d.endswith("groups=all") for d in details)


async def test_tables_stream_row_by_row(harness: Harness) -> None:
    await shop(harness)
    today = harness.clock().date()
    query = Query(scope=None, period=parse_period("7d", timezone="UTC", today=today))
    async with harness.session() as session:
        chunks = [
            (chunk, rows)
            async for chunk, rows in csv_chunks(session, TABLES["ledger"], query, chunk_rows=1)
        ]
    header, *rest = chunks
    assert header[1] == 0 and len(rest) > 3 and all(rows == 1 for _c, rows in rest)


async def test_the_mini_app_signs_in_with_telegrams_signed_init_data(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    now = harness.clock()
    async with client() as http:
        # the page Telegram opens carries its own script, nothing from the internet
        async with http.get(f"{dashboard}/app") as response:
            page = await response.text()
        assert "tgWebAppData" in page and "http" not in page.split("<script>")[1]
        # Sam's initData, signed with the bot token a minute ago, opens a session
        data = init_data(SAM, "Sam", signed_at=now - timedelta(minutes=1))
        async with http.post(f"{dashboard}/auth", data={"init_data": data}) as response:
            assert response.status == 200
        async with http.get(f"{dashboard}/") as response:
            assert response.status == 200
            assert "CN¥300.00" in await response.text()
    refused = {
        "tampered": init_data(SAM, "Sam", signed_at=now).replace("Sam", "Mia"),
        "another bot": init_data(SAM, "Sam", signed_at=now, token="42:another-bots-token"),
        "too old": init_data(SAM, "Sam", signed_at=now - timedelta(hours=2)),
        "a member": init_data(MIA, "Mia", signed_at=now),
        "empty": "",  # not even the shape of initData: 400, as any malformed one
    }
    for why, data in refused.items():
        async with (
            client() as http,
            http.post(f"{dashboard}/auth", data={"init_data": data}) as response,
        ):
            assert response.status == (400 if why == "empty" else 403), why
            assert COOKIE not in response.cookies, why


@pytest.mark.parametrize("lang", ["zh_Hans", "zh_Hant"])
async def test_pages_speak_chinese(harness: Harness, dashboard: str, lang: str) -> None:
    await shop(harness)
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        async with http.get(f"{dashboard}/ledger", params={"lang": lang}) as response:
            page = await response.text()
        assert ("下载 CSV" if lang == "zh_Hans" else "下載 CSV") in page
        # the choice is remembered
        async with http.get(f"{dashboard}/") as response:
            assert ("总览" if lang == "zh_Hans" else "總覽") in await response.text()


async def test_over_https_staff_get_a_button_that_opens_the_mini_app(harness: Harness) -> None:
    await shop(harness)
    settings = harness.runtime.dp["settings"]
    harness.runtime.dp["settings"] = settings.model_copy(
        update={"dashboard_url": "https://shop.example.com/dashboard"}
    )
    replies = await harness.send(SAM, SAM, "/dashboard")
    assert "https://shop.example.com/dashboard/login?token=" in replies[0]
    message = harness.emulator.last_bot_message(SAM)
    (button,) = [button for row in message.reply_markup["inline_keyboard"] for button in row]
    assert button == {
        "text": "Open dashboard",
        "web_app": {"url": "https://shop.example.com/dashboard/app"},
    }


async def test_group_buys_page_charts_each_group_buy_against_its_minimum(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)  # product 1 is Oolong tea
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=3 stock=10")
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        async with http.get(f"{dashboard}/groupbuys") as response:
            page = await response.text()
        async with http.get(f"{dashboard}/broadcasts") as response:
            assert response.status == 200
            assert "Nothing in this period." in await response.text()
    chart = page.split('id="chart-groupbuys"')[1].split("</section>")[0]
    assert "Oolong tea" in chart and ">0 / 3<" in chart
    # the table names the group it was posted in, and its status and minimum in words
    assert "<td>Tea Lovers</td>" in page and f"<td>{TEA}</td>" not in page
    assert "<td>open</td>" in page and "<td>people</td>" in page


async def test_a_long_export_never_holds_the_bots_write_lock(harness: Harness) -> None:
    await shop(harness)
    today = harness.clock().date()
    query = Query(scope=None, period=parse_period("7d", timezone="UTC", today=today))
    async with harness.runtime.readers() as session:
        # given an export stopped halfway through the ledger (a slow download, say)
        chunks = csv_chunks(session, TABLES["ledger"], query, chunk_rows=1)
        await anext(chunks)
        await anext(chunks)
        # when members keep using the bot meanwhile (their updates are handled in tasks of
        # their own, as the dashboard's download is), they are handled as usual
        replies = await asyncio.create_task(harness.send(MIA, MIA, "/start"))
        assert replies and replies[0].startswith("Hi Mia"), replies
        rest = [chunk async for chunk in chunks]
    assert len(rest) > 2


async def test_a_chinese_page_shows_statuses_in_words_and_groups_by_name(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)  # Mia's orders in Tea Lovers and Coffee Club, paid to their leaders
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=3 stock=10")
    # when Sam reads the dashboard in 简体中文
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        pages = {}
        for name in ("ledger", "groupbuys", "members"):
            async with http.get(f"{dashboard}/{name}", params={"lang": "zh_Hans"}) as response:
                pages[name] = await response.text()
    orders = pages["ledger"].split('id="table-orders"')[1].split("</section>")[0]
    entries = pages["ledger"].split('id="table-ledger"')[1].split("</section>")[0]
    # then orders read their status and payment mode in Chinese, and the group by its name
    assert "<td>已付款</td>" in orders and "<td>取货时付给团长</td>" in orders
    assert "<td>Tea Lovers</td>" in orders and "<td>Coffee Club</td>" in orders
    for raw in ("paid", "offline", str(TEA), str(COFFEE)):
        assert f"<td>{raw}</td>" not in orders
    # and ledger entries name their kind and account in words
    assert "<td>订单已付款</td>" in entries and "<td>order_paid</td>" not in entries
    assert "<td>团长代收现金</td>" in entries and "<td>leader_cash</td>" not in entries
    # and a group-buy reads its status and the group it is posted in
    assert "<td>进行中</td>" in pages["groupbuys"] and "<td>Tea Lovers</td>" in pages["groupbuys"]
    assert "<td>open</td>" not in pages["groupbuys"]
    # and on the members page "Member" the column is 成员, "Member" the tier is 普通会员
    assert "<th>成员</th>" in pages["members"] and "<td>普通会员</td>" in pages["members"]
    assert "<td>简体中文</td>" in pages["members"]  # Lee's language, by its own name
    # while the CSV keeps the values as stored
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        async with http.get(f"{dashboard}/csv/orders") as response:
            exported = rows_of(await response.read())
    assert {"paid", "offline", str(TEA)} <= set(exported[1])
