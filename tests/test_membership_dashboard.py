"""Paid membership plans on the web dashboard: staff see each plan's price, grant, active
members, this month's renewals and the Stars booked; they switch a plan off from the page by a
same-origin POST (the same service as /membership_plan_off, audited), and only once it
committed are the renewals cancelled with Telegram and the members told. Leaders get neither
the page nor the button."""

from __future__ import annotations

import aiohttp

from models.membership import CANCELED_BY_BOT, MembershipPlan
from tests.conftest import LEE, MIA, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, settings
from tests.test_delivery_dashboard import signed_in
from tests.test_levels import audited
from tests.test_membership import membership, sell_gold, subscribe, subscription_link, texts

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard test uses


async def plan_active(harness: Harness, plan_id: int = 1) -> bool:
    async with harness.session() as session:
        plan = await session.get(MembershipPlan, plan_id)
    assert plan is not None
    return plan.active


async def test_staff_read_the_plans_and_switch_one_off(harness: Harness, dashboard: str) -> None:
    # given Mia subscribed to Gold club (300 Stars) and Telegram renewed it a month later
    harness.clock.now = harness.clock.now.replace(day=1, hour=12)
    await sell_gold(harness)
    first = await subscribe(harness, await subscription_link(harness))
    charge = str(first["telegram_payment_charge_id"])
    harness.clock.advance(days=31)
    harness.emulator.renew_subscription(charge)
    await harness.feed_pending()
    texts(harness, MIA)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, SAM) as http:
        # when Sam opens the memberships page
        async with http.get(f"{dashboard}/memberships?lang=en") as response:
            assert response.status == 200
            page = await response.text()
        # then the plan shows its price, grant, members, this month's renewal and Stars
        assert (
            "<td>#1</td><td>Gold club</td><td>⭐ 300</td><td>tier Gold</td><td>for sale</td>"
            "<td>1</td><td>1</td><td>300</td>"
        ) in page
        assert 'action="membership-plan-off"' in page
        # when another site posts the switch-off in Sam's browser, nothing changes
        form = {"plan": "1"}
        async with http.post(
            f"{dashboard}/membership-plan-off",
            data=form,
            headers={"Origin": "https://evil.example"},
        ) as response:
            assert response.status == 403
        assert await plan_active(harness)
        # when Sam switches it off from the page
        async with http.post(
            f"{dashboard}/membership-plan-off?lang=en",
            data=form,
            headers=origin,
            allow_redirects=False,
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/dashboard/memberships?off=1"
        async with http.get(f"{dashboard}/memberships?off=1&lang=en") as response:
            page = await response.text()
        assert (
            "Plan #1 <b>Gold club</b> is switched off: no longer sold, and renewals stop; its 1 "
            "active member keeps it until the paid month ends and is told."
        ) in page
        assert "<td>switched off</td>" in page and 'action="membership-plan-off"' not in page
        # and switching it off again is refused with the bot's words
        async with http.post(
            f"{dashboard}/membership-plan-off?lang=en", data=form, headers=origin
        ) as response:
            assert response.status == 400
            assert "Plan #1 is switched off already." in await response.text()
    # then the plan is off, Mia's renewals are cancelled with Telegram and she is told
    assert not await plan_active(harness)
    assert (await membership(harness)).canceled_by == CANCELED_BY_BOT
    assert harness.emulator.calls_of("editUserStarSubscription") == [
        {"user_id": MIA, "telegram_payment_charge_id": charge, "is_canceled": True}
    ]
    await harness.runtime.notifier.drain()
    told = texts(harness, MIA)
    assert len(told) == 1 and told[0].startswith(
        "The membership Gold club is no longer sold, so it will not renew"
    )
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "membership.plan_off")] == [
        (SAM, True)
    ]


async def test_a_leader_gets_neither_the_plans_nor_the_switch(
    harness: Harness, dashboard: str
) -> None:
    await sell_gold(harness)
    await harness.join_groups()
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, LEE) as http:
        async with http.get(f"{dashboard}/memberships?lang=en") as response:
            page = await response.text()
        assert "Membership plans are run by brand staff." in page and "Gold club" not in page
        async with http.post(
            f"{dashboard}/membership-plan-off?lang=en", data={"plan": "1"}, headers=origin
        ) as response:
            assert response.status == 403
    assert await plan_active(harness)
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "membership.plan_off")] == [
        (LEE, False)
    ]
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{dashboard}/memberships") as response,
    ):
        assert response.status == 401
