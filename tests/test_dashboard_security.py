"""The dashboard against the browser's attacks (issue #27): a strict Content-Security-Policy
and no banner, no POST from another site, sign-out by POST and sessions the store can end,
Mini App initData used once, sign-in attempts limited per address without a write for a
malformed token, and audit lines no input can add to."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import event, func, select

from bot.web.dashboard_core import COOKIE, PICKUP_TOKEN_SECONDS
from models.audit import AuditEntry
from models.dashboard import DashboardInitData, DashboardLink, DashboardSession
from services.dashboard import use_init_data
from tests.conftest import LEE, OWNER, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, init_data, login_link, settings
from tests.test_analytics_chat import shop
from tests.test_dashboard import client, sign_in
from tests.test_pickup_points import ANN, given_two_points_and_paid_orders, order_row

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below


def sha256_source(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_browser_rules(response: aiohttp.ClientResponse) -> dict[str, list[str]]:
    """The headers every dashboard response carries; returns the CSP's directives."""
    assert "Server" not in response.headers, response.headers.get("Server")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["https://web.telegram.org", "https://*.web.telegram.org"]
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
    return policy


def assert_inline_code_allowed(page: str, policy: dict[str, list[str]]) -> None:
    """Every inline script and style of the page is allowed by its hash, and nothing else
    inline runs (no event handler attributes, no javascript: links)."""
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert styles
    for source in scripts:
        assert sha256_source(source) in policy["script-src"]
    for source in styles:
        assert sha256_source(source) in policy["style-src"]
    assert not re.search(r"\son[a-z]+=|javascript:|<script\s+src=", page)


async def test_every_dashboard_response_carries_a_strict_policy_and_no_banner(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    async with client() as http:
        # the Mini App page: its own script and style run by their hashes, Telegram's script
        # is allowed by its address, and only Telegram's web clients may frame it
        async with http.get(f"{dashboard}/app") as response:
            policy = assert_browser_rules(response)
            assert_inline_code_allowed(await response.text(), policy)
        assert "https://telegram.org/js/telegram-web-app.js" in policy["script-src"]
        # and so is the keeper's pickup page
        async with http.get(f"{dashboard}/keeper") as response:
            assert_inline_code_allowed(await response.text(), assert_browser_rules(response))
        # refusals carry them too
        async with http.get(f"{dashboard}/") as response:
            assert response.status == 401
            assert_browser_rules(response)
        await sign_in(http, await login_link(harness, SAM))
        for path in ("", "ledger", "sessions", "csv/orders", "nothing-here"):
            async with http.get(f"{dashboard}/{path}") as response:
                policy = assert_browser_rules(response)
                body = await response.read()
                if response.content_type == "text/html" and response.status == 200:
                    assert_inline_code_allowed(body.decode(), policy)
        # and no response of the bot's web server names its software
        async with http.get(dashboard.replace("/dashboard", "/healthz")) as response:
            assert "Server" not in response.headers


MALFORMED_HTTP = (
    b"GARBAGE\r\n\r\n",  # no request line
    b"GET /dashboard/ HTTP/1.1\r\nHost: a\r\nContent-Length: zz\r\n\r\n",
    b"GET /dashboard/ HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",  # a header too long
    b"GET /\x00 HTTP/1.1\r\n\r\n",  # a control character in the path
)


async def test_malformed_http_is_answered_without_the_server_banner(
    harness: Harness, dashboard: str
) -> None:
    # aiohttp answers malformed HTTP itself, before any route or hook, with a 400 that named
    # it and its version in `Server`
    port = int(dashboard.split(":")[2].split("/")[0])
    for raw in MALFORMED_HTTP:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        await writer.drain()
        head = (await reader.read(4096)).split(b"\r\n\r\n")[0].decode("latin-1")
        writer.close()
        assert head.startswith("HTTP/1.0 400 "), (raw[:40], head)
        assert "server:" not in head.lower(), (raw[:40], head)


async def test_a_post_from_another_site_is_refused(harness: Harness, dashboard: str) -> None:
    await shop(harness)
    now = harness.clock()
    # a page on another site posts Sam's initData (login CSRF): refused, no session
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        data = init_data(SAM, "Sam", signed_at=now - timedelta(seconds=len(headers) + 5))
        async with (
            client() as http,
            http.post(f"{dashboard}/auth", data={"init_data": data}, headers=headers) as response,
        ):
            assert response.status == 403, headers
            assert COOKIE not in response.cookies
    # nor can it confirm a pickup with a keeper's initData
    data = init_data(SAM, "Sam", signed_at=now)
    async with (
        client() as http,
        http.post(
            f"{dashboard}/pickup",
            data={"init_data": data, "code": "ABCD2345"},
            headers={"Sec-Fetch-Site": "cross-site"},
        ) as response,
    ):
        assert response.status == 403
    # the dashboard's own page (same origin) signs in
    origin = dashboard.removesuffix("/dashboard")
    async with client() as http:
        data = init_data(SAM, "Sam", signed_at=now)
        async with http.post(
            f"{dashboard}/auth",
            data={"init_data": data},
            headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
        ) as response:
            assert response.status == 200
        # and another site cannot sign him out either
        async with http.post(
            f"{dashboard}/logout", headers={"Sec-Fetch-Site": "cross-site"}
        ) as response:
            assert response.status == 403
            assert "came from another site" in await response.text()
        async with http.get(f"{dashboard}/") as response:
            assert response.status == 200


async def test_sign_out_is_a_post_and_ends_the_session_in_the_store(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        (cookie,) = [c.value for c in http.cookie_jar if c.key == COOKIE]
        # a GET of the old sign-out address (an image on any page could make one) signs
        # nobody out, and says where the button is
        async with http.get(f"{dashboard}/logout", allow_redirects=False) as response:
            assert response.status == 405
            assert "Sign out button" in await response.text()
        async with http.get(f"{dashboard}/") as response:
            assert response.status == 200
            page = await response.text()
        assert '<form class="inline" method="post" action="logout">' in page
        # the button posts, and the session is over
        async with http.post(f"{dashboard}/logout", allow_redirects=False) as response:
            assert response.status == 303
    # the old cookie, kept by someone, no longer opens anything
    async with (
        aiohttp.ClientSession(cookies={COOKIE: cookie}) as stolen,
        stolen.get(f"{dashboard}/") as response,
    ):
        assert response.status == 401


async def test_sign_out_everywhere_and_staff_sign_a_member_out(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    async with client() as phone, client() as laptop, client() as staff:
        await sign_in(phone, await login_link(harness, LEE))
        await sign_in(laptop, await login_link(harness, LEE))
        # Lee signs out everywhere from his phone: his laptop is signed out too
        async with phone.post(f"{dashboard}/logout", data={"everywhere": "1"}) as response:
            assert response.status == 200  # followed to the Mini App page
        async with laptop.get(f"{dashboard}/") as response:
            assert response.status == 401
        # signed in again, Lee may not sign others out
        await sign_in(laptop, await login_link(harness, LEE))
        async with laptop.post(f"{dashboard}/sessions", data={"member": "@sam"}) as response:
            assert response.status == 403
        # Sam (staff) sees who is signed in, and signs Lee out
        await sign_in(staff, await login_link(harness, SAM))
        async with staff.get(f"{dashboard}/sessions") as response:
            page = await response.text()
        assert f"<code>{LEE}</code>" in page and f"<code>{SAM}</code>" in page
        async with staff.post(f"{dashboard}/sessions", data={"member": "@lee"}) as response:
            assert response.status == 200
            assert f"<code>{LEE}</code>" not in await response.text()
        async with laptop.get(f"{dashboard}/") as response:
            assert response.status == 401
        async with staff.post(f"{dashboard}/sessions", data={"member": "@nobody"}) as response:
            assert response.status == 400
            assert "I do not know that member" in await response.text()
        # when the owner takes Sam's staff role away, his session ends at once
        await harness.send(OWNER, OWNER, "/revoke_staff @sam")
        async with staff.get(f"{dashboard}/") as response:
            assert response.status == 401
    async with harness.session() as session:
        details = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.detail).where(
                    AuditEntry.action == "dashboard.sign_out"
                )
            )
        ).all()
    assert (LEE, "everywhere") in details and (SAM, f"member {LEE}: 1") in details


async def test_mini_app_init_data_signs_in_once(harness: Harness, dashboard: str) -> None:
    await shop(harness)
    data = init_data(SAM, "Sam", signed_at=harness.clock() - timedelta(minutes=1))
    async with (
        client() as http,
        http.post(f"{dashboard}/auth", data={"init_data": data}) as response,
    ):
        assert response.status == 200
    # the same initData again (copied from a log, a proxy, a shared screen) is refused
    async with (
        client() as thief,
        thief.post(f"{dashboard}/auth", data={"init_data": data}) as response,
    ):
        assert response.status == 403
        assert COOKIE not in response.cookies
    # a fresh one signs in
    fresh = init_data(SAM, "Sam", signed_at=harness.clock())
    async with (
        client() as http,
        http.post(f"{dashboard}/auth", data={"init_data": fresh}) as response,
    ):
        assert response.status == 200


async def test_the_keeper_page_sends_its_init_data_once_then_a_token_naming_the_keeper(
    harness: Harness, dashboard: str
) -> None:
    await given_two_points_and_paid_orders(harness)
    code = (await order_row(harness, 1)).pickup_code
    assert code is not None
    signed = init_data(ANN, "Ann", signed_at=harness.clock() - timedelta(minutes=1))
    async with client() as http:

        async def post(form: dict[str, str]) -> tuple[int, dict[str, Any]]:
            async with http.post(f"{dashboard}/pickup", data=form) as response:
                return response.status, await response.json()

        # Ann's page posts its initData with a mistyped code: refused, and a token given back
        status, first = await post({"init_data": signed, "code": "ABCD2345"})
        assert status == 200 and first["ok"] is False
        token = str(first["token"])
        # the same initData again (captured from that post, a log, a proxy) confirms nothing
        assert await post({"init_data": signed, "code": code}) == (
            403,
            {"ok": False, "error": "initData used already"},
        )
        # a token changed to name another keeper, or a made-up one, is refused
        for forged in (token.replace(f"{ANN}.", f"{LEE}.", 1), "1.2.3", "x" * 300):
            assert (await post({"token": forged, "code": code}))[0] == 403
        # the page's token confirms the code, and each answer renews it
        status, body = await post({"token": token, "code": code})
        assert status == 200 and body["ok"] is True, body
        # a page left idle longer than the token lasts must be opened again from the bot
        harness.clock.advance(seconds=PICKUP_TOKEN_SECONDS + 1)
        assert (await post({"token": str(body["token"]), "code": code}))[0] == 403
    assert (await order_row(harness, 1)).picked_up_by == ANN


async def dashboard_rows(harness: Harness) -> dict[str, int]:
    async with harness.session() as session:
        return {
            table: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for table, model in (
                ("links", DashboardLink),
                ("sessions", DashboardSession),
                ("init_data", DashboardInitData),
            )
        }


async def test_the_retention_job_deletes_expired_links_sessions_and_used_init_data(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    now = harness.clock()
    # given a link Sam never opened, one he signed in with, and initData used once (kept in the
    # database when there is no Redis: recorded here through the store's own function)
    await login_link(harness, SAM)
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
    async with harness.session() as session:
        assert await use_init_data(
            session, digest="ab" * 32, until=now + timedelta(hours=1), now=now
        )
        await session.commit()
    assert await dashboard_rows(harness) == {"links": 2, "sessions": 1, "init_data": 1}
    # while they are all valid (the links expire first, after 10 minutes) nothing goes
    harness.clock.advance(minutes=5)
    await harness.runtime.retention.run()
    assert await dashboard_rows(harness) == {"links": 2, "sessions": 1, "init_data": 1}
    # past the links' and the initData's time they go; the session (12 hours) stays
    harness.clock.advance(hours=2)
    await harness.runtime.retention.run()
    assert await dashboard_rows(harness) == {"links": 0, "sessions": 1, "init_data": 0}
    # and once the session has expired too, it goes, while a newer one stays
    harness.clock.advance(hours=10)
    async with client() as http:
        await sign_in(http, await login_link(harness, LEE))
    harness.clock.advance(minutes=11)
    await harness.runtime.retention.run()
    assert await dashboard_rows(harness) == {"links": 0, "sessions": 1, "init_data": 0}
    async with harness.session() as session:
        left = (await session.execute(select(DashboardSession.member_id))).scalars().all()
    assert left == [LEE]


@contextmanager
def statements(harness: Harness) -> Iterator[list[str]]:
    """The SQL statements the runtime's engines send while the block runs."""
    seen: list[str] = []
    engines = [harness.runtime.engine]
    if harness.runtime.reader_engine is not None:
        engines.append(harness.runtime.reader_engine)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


async def test_sign_in_attempts_are_limited_per_address_and_bad_tokens_cost_no_write(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    async with client() as http:
        # malformed tokens are refused without a word to the store
        with statements(harness) as seen:
            for token in ("abc", "x" * 100, "é" * 32, "' OR 1=1 --"):
                async with http.get(f"{dashboard}/login", params={"token": token}) as response:
                    assert response.status == 403
                    assert "This link no longer works" in await response.text()
        assert seen == []
        # a well-formed but unknown token is read, never written
        with statements(harness) as seen:
            async with http.get(f"{dashboard}/login", params={"token": "A" * 32}) as response:
                assert response.status == 403
        assert seen and writes(seen) == []
        # five more attempts reach the limit of ten a minute; the eleventh is answered 429
        # before the store is asked, even with a good link
        for _ in range(5):
            async with http.get(f"{dashboard}/login", params={"token": "b"}) as response:
                assert response.status == 403
        link = await login_link(harness, SAM)
        with statements(harness) as seen:
            async with http.get(link, allow_redirects=False) as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "60"
                assert "Too many sign-in attempts" in await response.text()
            async with http.post(f"{dashboard}/auth", data={"init_data": ""}) as response:
                assert response.status == 429
        assert seen == []
        # another client behind the same proxy (its own X-Forwarded-For) is not held up
        async with http.get(
            link, allow_redirects=False, headers={"X-Forwarded-For": "203.0.113.7"}
        ) as response:
            assert response.status == 303


async def test_a_search_term_cannot_forge_a_line_of_the_audit_log(
    harness: Harness, dashboard: str
) -> None:
    await shop(harness)
    forged = "✅ 2030-01-01 00:00 UTC <code>1001</code> staff.granted 1003"
    async with client() as http:
        await sign_in(http, await login_link(harness, LEE))
        # Lee puts a line break and a fake audit line in the members search box, and exports
        async with http.get(
            f"{dashboard}/csv/members", params={"q": f"mia\n{forged}\u202e"}
        ) as response:
            assert response.status == 200
    async with harness.session() as session:
        (detail,) = (
            await session.execute(
                select(AuditEntry.detail).where(
                    AuditEntry.action == "dashboard.export", AuditEntry.actor_id == LEE
                )
            )
        ).scalars()
    # the term is stored on one line, its controls written as escapes
    assert "\n" not in detail and "\u202e" not in detail
    assert "q=mia\\n✅ 2030-01-01" in detail and detail.endswith("\\u202e")
    # and the owner's /audit shows it inside Lee's line, never as a line of its own
    (text,) = await harness.send(OWNER, OWNER, "/audit")
    lines = text.split("\n")
    assert not any(line.startswith("✅ 2030-01-01") for line in lines)
    (export,) = [line for line in lines if "Export a table from the dashboard" in line]
    assert f"UTC Lee ({LEE}) Export a table from the dashboard" in export
    assert "search:mia\\n✅ 2030-01-01" in export


async def test_a_hand_edited_address_never_fails_a_page(harness: Harness, dashboard: str) -> None:
    # given Sam (staff) signed in
    await shop(harness)
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        # when the number a page's address carries after an action is edited by hand into a
        # digit look-alike or a number too large for the store
        for path, key in (
            ("delivery", "shipped"),
            ("reviews", "approve"),
            ("reviews", "reject"),
            ("trials", "invited"),
            ("memberships", "off"),
        ):
            for asked in ("²", "99999999999999999999"):
                async with http.get(f"{dashboard}/{path}?{key}={asked}") as response:
                    # then the page shows, without the confirmation of an action
                    assert response.status == 200, (path, key, asked)
                    page = await response.text()
                    assert "The member was told" not in page, (path, key, asked)
                    assert "invited in private" not in page, (path, key, asked)
        # and a trial's CSV asked for by such a number is simply not found
        async with http.get(f"{dashboard}/csv/trial?trial=²") as response:
            assert response.status == 404
