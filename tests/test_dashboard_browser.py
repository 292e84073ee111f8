"""The dashboard in a real headless Chromium (Debian's), driven by Playwright: sign in with a
one-time link and through the Mini App page, see the charts drawn, download a CSV, and be
refused with an expired link and on another leader's group. No request leaves localhost."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, Request, async_playwright

from services.tables import TABLES
from tests.conftest import CHROMIUM, COFFEE, LEE, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, init_data, login_link, settings
from tests.test_analytics_chat import shop
from tests.test_pickup_points import ANN, given_two_points_and_paid_orders, order_row

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below

pytestmark = pytest.mark.needs_browser

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_page(browser: Browser, outside: list[str]) -> Page:
    """A fresh browser profile whose requests beyond localhost are recorded and blocked."""
    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()

    async def guard(route: object, request: Request) -> None:
        if request.url.startswith("http://127.0.0.1:"):
            await route.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(request.url)
            await route.abort()  # type: ignore[attr-defined]

    await page.route("**/*", guard)
    return page


async def chart_drawn(page: Page, selector: str) -> bool:
    """Whether the chart under the selector has bars with a visible size on screen."""
    return bool(
        await page.evaluate(
            """(selector) => {
                const bars = [...document.querySelectorAll(selector + ' rect.bar')];
                const drawn = bars.filter((bar) => {
                    const box = bar.getBoundingClientRect();
                    return box.width > 0 && box.height > 0;
                });
                return drawn.length > 0;
            }""",
            selector,
        )
    )


async def test_staff_sign_in_see_charts_and_download_a_csv(
    harness: Harness, dashboard: str, browser: Browser, tmp_path: Path
) -> None:
    await shop(harness)
    outside: list[str] = []
    page = await open_page(browser, outside)
    # when Sam opens the link the bot gave him
    response = await page.goto(await login_link(harness, SAM))
    assert response is not None and response.status == 200
    # then he lands on the overview with this month's sales and the daily charts drawn
    assert page.url.endswith("/dashboard/")
    assert await page.locator("h2").first.inner_text() == "Overview"
    assert "CN¥300.00" in await page.locator(".cards").inner_text()
    assert await chart_drawn(page, "#chart-days")
    assert await page.locator("#chart-funnel svg").is_visible()  # no group-buy cards: no bars
    # when he goes to the ledger and downloads the orders table
    await page.get_by_role("link", name="Ledger").click()
    await page.wait_for_url("**/dashboard/ledger*")
    async with page.expect_download() as download_info:
        await page.locator("#table-orders a.csv").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    # then the file holds the export's columns and both paid orders
    rows = list(csv.reader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    assert rows[0] == list(TABLES["orders"].columns)
    assert sorted(row[rows[0].index("status")] for row in rows[1:]) == ["paid", "paid"]
    assert download.suggested_filename.startswith("orders_")
    # and nothing was fetched from the internet
    assert outside == []


async def test_the_mini_app_page_signs_in_with_init_data(
    harness: Harness, dashboard: str, browser: Browser
) -> None:
    await shop(harness)
    outside: list[str] = []
    page = await open_page(browser, outside)
    # Telegram opens the Mini App with the signed initData in the address's fragment
    data = init_data(SAM, "Sam", signed_at=harness.clock() - timedelta(seconds=30))
    await page.goto(f"{dashboard}/app#tgWebAppData={quote(data, safe='')}&tgWebAppVersion=8.0")
    await page.wait_for_url("**/dashboard/")
    assert "CN¥300.00" in await page.locator(".cards").inner_text()
    assert await chart_drawn(page, "#chart-days")
    # opened outside Telegram, the page says where to go instead
    stranger = await open_page(browser, outside)
    await stranger.goto(f"{dashboard}/app")
    await stranger.wait_for_function("!document.getElementById('status').textContent.includes('…')")
    assert "send /dashboard" in await stranger.locator("#status").inner_text()
    assert outside == []


async def test_expired_links_and_other_groups_are_refused(
    harness: Harness, dashboard: str, browser: Browser
) -> None:
    await shop(harness)
    outside: list[str] = []
    # a link opened after its minutes is refused
    late = await login_link(harness, SAM)
    harness.clock.advance(minutes=11)
    page = await open_page(browser, outside)
    response = await page.goto(late)
    assert response is not None and response.status == 403
    assert "This link no longer works" in await page.locator("h2").inner_text()
    # Lee, who leads Tea Lovers, signs in and sees his group, but not Coffee Club's figures
    leader = await open_page(browser, outside)
    await leader.goto(await login_link(harness, LEE))
    await leader.wait_for_url("**/dashboard/")
    await leader.goto(f"{dashboard}/?lang=en")  # Lee reads Chinese in chat; English here
    response = await leader.goto(f"{dashboard}/communities?community={COFFEE}")
    assert response is not None and response.status == 403
    assert "You can only see the groups you lead." in await leader.locator("body").inner_text()
    response = await leader.goto(f"{dashboard}/communities")
    assert response is not None and response.status == 200
    text = await leader.locator("body").inner_text()
    assert "Tea Lovers" in text and "Coffee Club" not in text
    assert outside == []


async def test_pages_run_under_their_policy_and_sign_out_is_a_button(
    harness: Harness, dashboard: str, browser: Browser
) -> None:
    await shop(harness)
    outside: list[str] = []
    page = await open_page(browser, outside)
    refused: list[str] = []  # what the browser blocked by the Content-Security-Policy
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # Sam signs in through the Mini App page (its script runs by its hash) and reads the
    # overview (its style applies by its hash: the header has its border)
    data = init_data(SAM, "Sam", signed_at=harness.clock() - timedelta(seconds=30))
    await page.goto(f"{dashboard}/app#tgWebAppData={quote(data, safe='')}&tgWebAppVersion=8.0")
    await page.wait_for_url("**/dashboard/")
    border = await page.evaluate(
        "getComputedStyle(document.querySelector('header')).borderBottomStyle"
    )
    assert border == "solid"
    # when he taps Sign out (a form that posts), the browser's request passes the same-origin
    # check and his session is over
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await page.wait_for_url("**/dashboard/app")
    response = await page.goto(f"{dashboard}/")
    assert response is not None and response.status == 401
    assert refused == [] and outside == []


async def test_the_keeper_page_sends_its_init_data_once_and_confirms_codes_with_its_token(
    harness: Harness, dashboard: str, browser: Browser
) -> None:
    await given_two_points_and_paid_orders(harness)
    code = (await order_row(harness, 1)).pickup_code
    assert code is not None
    outside: list[str] = []
    page = await open_page(browser, outside)
    posted: list[str] = []
    page.on(
        "request",
        lambda request: (
            posted.append(request.post_data or "") if request.url.endswith("/pickup") else None
        ),
    )
    # Ann opens the keeper's page from the bot (the signed initData in the fragment)
    data = init_data(ANN, "Ann", signed_at=harness.clock() - timedelta(seconds=30))
    fragment = f"#tgWebAppData={quote(data, safe='')}&tgWebAppVersion=8.0"
    await page.goto(f"{dashboard}/keeper?lang=en{fragment}")
    # she mistypes a code, then types Mia's: both from the one page
    await page.fill("#code", "ABCD2345")
    await page.click("#typed button[type=submit]")
    await page.locator("#result.bad").wait_for()  # no string predicate: the policy has no eval
    await page.fill("#code", code)
    await page.click("#typed button[type=submit]")
    await page.locator("#result.ok").wait_for()
    assert "Picked up: order #1" in await page.locator("#result").inner_text()
    # the initData went with the first post only; the second carried the token it got back
    assert [body.split("=", 1)[0] for body in posted] == ["init_data", "token"]
    assert outside == []
