"""The promotions calendar on the web dashboard: per group, the week's promotions that went out
and those scheduled (with the ones held by quiet hours), the cap use, week by week, in the
reader's language and with group names. Tea Lovers is in Asia/Shanghai, Coffee Club in
Europe/London; Monday 2026-11-23."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest

from services.broadcast import Draft, create_broadcast
from tests.conftest import COFFEE, SAM, TEA, Harness
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_drop_targets import given_two_zones, say

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below

pytestmark = pytest.mark.pacing


async def a_week_of_promotions(harness: Harness) -> None:
    """Monday 10:00 UTC a drop goes to Coffee Club; at 15:00 UTC (23:00 in Shanghai) a
    broadcast to both groups: Coffee Club gets it now, Tea Lovers after its quiet hours."""
    await given_two_zones(harness)
    assert await say(harness, f"/drop 1 3d to={COFFEE} stock=10") == (
        "Group-buy #1 posted in 1 group."
    )
    harness.clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    settings = harness.runtime.settings
    async with harness.session() as session, session.begin():
        await create_broadcast(
            session,
            draft=Draft(
                text="New harvest, ¥39.90 until Sunday",
                targets="groups",
                scheduled_at=harness.clock.now,
                created_by=SAM,
            ),
            rules=settings.pacing_rules(),
            default_timezone=settings.default_timezone,
        )


async def page_of(harness: Harness, dashboard: str, **params: str) -> str:
    link = await login_link(harness, SAM)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(link, allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/promotions", params=params) as response:
            assert response.status == 200
            return await response.text()


def block(page: str, chat_id: int) -> str:
    """One group's section of the page."""
    start = page.index(f'id="promotions-{chat_id}"')
    return page[start : page.index("</section>", start)]


async def test_the_calendar_shows_each_groups_week_in_english(
    harness: Harness, dashboard: str
) -> None:
    await a_week_of_promotions(harness)
    page = await page_of(harness, dashboard, lang="en")
    assert "Week from 2026-11-23 to 2026-11-29 (UTC)" in page
    assert "← Previous week" in page and "week=2026-11-30" in page
    coffee, tea = block(page, COFFEE), block(page, TEA)
    assert "<h2>Coffee Club</h2>" in coffee and "<h2>Tea Lovers</h2>" in tea
    assert "2 of 3 promotions this week" in coffee
    assert "<td>2026-11-23 10:00</td><td>drop, group-buy #1</td><td>sent</td>" in coffee
    assert "<td>2026-11-23 15:00</td><td>broadcast #1</td><td>scheduled</td>" in coffee
    assert "1 of 3 promotions this week" in tea
    assert (
        "<td>2026-11-24 00:00</td><td>broadcast #1</td><td>scheduled, held by quiet hours</td>"
        in tea
    )
    # the week before shows nothing
    before = await page_of(harness, dashboard, lang="en", week="2026-11-16")
    assert "Week from 2026-11-16 to 2026-11-22 (UTC)" in before
    assert "0 of 3 promotions this week" in block(before, COFFEE)
    assert "Nothing this week." in block(before, COFFEE)


async def test_the_calendar_speaks_simplified_chinese(harness: Harness, dashboard: str) -> None:
    await a_week_of_promotions(harness)
    page = await page_of(harness, dashboard, lang="zh_Hans")
    coffee = block(page, COFFEE)
    assert "促销日历" in page
    assert "<h2>Coffee Club</h2>" in coffee
    assert "本周促销 2 / 3 次" in coffee
    assert "<td>2026-11-23 10:00</td><td>全群团购，团购 #1</td><td>已发送</td>" in coffee
    # and a week with nothing says so in Chinese too (the label was once left untranslated)
    before = await page_of(harness, dashboard, lang="zh_Hans", week="2026-11-16")
    assert "本周没有记录。" in block(before, COFFEE)
