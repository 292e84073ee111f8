"""Paid membership plans on the web dashboard: staff see each plan's price, grant, active
members, this month's renewals and the Stars booked; they put a plan on sale from the page (the
same parsers and service as /membership_plan_add, audited as membership.plan_add) and switch
one off by a same-origin POST (the same service as /membership_plan_off, audited), and only
once it committed are the renewals cancelled with Telegram and the members told. Leaders get
neither the page nor the buttons."""

from __future__ import annotations

import aiohttp
from sqlmodel import select

from models.membership import CANCELED_BY_BOT, MembershipPlan
from tests.conftest import LEE, MIA, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, settings
from tests.test_delivery_dashboard import signed_in
from tests.test_levels import audited
from tests.test_membership import (
    membership,
    sell_gold,
    subscribe,
    subscription_link,
    texts,
)
from tests.test_order import make_staff

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


async def plan_count(harness: Harness) -> int:
    async with harness.session() as session:
        return len((await session.execute(select(MembershipPlan))).scalars().all())


async def test_staff_put_a_plan_on_sale_from_the_page_and_members_see_it_in_chat(
    harness: Harness, dashboard: str
) -> None:
    # given Sam is staff and Mia started the bot
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, SAM) as http:
        # when Sam opens the memberships page, it has the form with the grants to choose
        async with http.get(f"{dashboard}/memberships?lang=en") as response:
            page = await response.text()
        assert 'action="membership-plan-add"' in page
        assert '<option value="tier=gold">tier Gold</option>' in page
        assert '<option value="level=vip">entry to groups of level VIP</option>' in page
        assert 'value="tier=member"' not in page  # the first tier is no grant
        # when another site posts a plan in Sam's browser, nothing is added
        wanted = {"name": "Gold club", "stars": "300", "grant": "tier=gold"}
        async with http.post(
            f"{dashboard}/membership-plan-add",
            data=wanted,
            headers={"Origin": "https://evil.example"},
        ) as response:
            assert response.status == 403
        assert await plan_count(harness) == 0
        # when Sam puts Gold club on sale from the page
        async with http.post(
            f"{dashboard}/membership-plan-add?lang=en",
            data=wanted,
            headers=origin,
            allow_redirects=False,
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/dashboard/memberships?added=1"
        async with http.get(f"{dashboard}/memberships?added=1&lang=en") as response:
            page = await response.text()
        # then the page says so in the bot's words and lists it for sale
        assert (
            "Membership plan #1 is for sale: <b>Gold club</b>: ⭐ 300 a month, grants tier Gold. "
            "Members buy it with /membership."
        ) in page
        assert (
            "<td>#1</td><td>Gold club</td><td>⭐ 300</td><td>tier Gold</td><td>for sale</td>"
            in (page)
        )
    # and it is audited as /membership_plan_add is
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "membership.plan_add")] == [
        (SAM, True)
    ]
    # and Mia finds it for sale in chat, as staff find it with /membership_plans
    shown = await harness.send(MIA, MIA, "/membership")
    assert "Gold club: ⭐ 300 a month, grants tier Gold" in shown[0]
    listed = await harness.send(SAM, SAM, "/membership_plans")
    assert "#1 Gold club: ⭐ 300 a month, grants tier Gold · for sale · 0 active" in listed[0]


async def test_bad_plans_on_the_page_are_refused_with_the_bots_words(
    harness: Harness, dashboard: str
) -> None:
    await make_staff(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, SAM) as http:
        for form, said in (
            (
                {"name": "Gold", "stars": "lots", "grant": "tier=gold"},
                "The price must be a whole number of Stars from 1 to 10000.",
            ),
            (
                {"name": "Gold", "stars": "20000", "grant": "tier=gold"},
                "The price must be a whole number of Stars from 1 to 10000.",
            ),
            (
                {"name": "Gold", "stars": "0", "grant": "tier=gold"},
                "The price must be a whole number of Stars from 1 to 10000.",
            ),
            (
                {"name": "Gold", "stars": "300", "grant": "tier=Platinum"},
                "“Platinum” is not a tier above the first: see /tiers.",
            ),
            (
                {"name": "Gold", "stars": "300", "grant": "level=open"},
                "“open” is not a level a plan can grant: use vip or core.",
            ),
            (
                {"name": "Gold", "stars": "300", "grant": ""},
                "is not a grant: use tier=NAME or level=vip / level=core.",
            ),
            (
                {"name": "G" * 40, "stars": "300", "grant": "tier=gold"},
                "Give the plan a name of 1 to 32 characters.",
            ),
            ({"stars": "300", "grant": "tier=gold"}, "Give the plan a name of 1 to 32 characters."),
        ):
            async with http.post(
                f"{dashboard}/membership-plan-add?lang=en", data=form, headers=origin
            ) as response:
                assert response.status == 400, form
                assert said in await response.text(), form
        async with http.post(
            f"{dashboard}/membership-plan-add?lang=zh_Hans",
            data={"name": "Gold", "stars": "lots", "grant": "tier=gold"},
            headers=origin,
        ) as response:
            text = await response.text()
        assert response.status == 400 and "The price" not in text and "10000" in text
        for asked in ("²", "99999999999999999999", "7"):
            async with http.get(f"{dashboard}/memberships?added={asked}&off={asked}") as response:
                assert response.status == 200, asked
                assert "is for sale:" not in await response.text()
    assert await plan_count(harness) == 0
    assert await audited(harness, "membership.plan_add") == []


async def test_a_leader_cannot_put_a_plan_on_sale(harness: Harness, dashboard: str) -> None:
    await harness.join_groups()
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with (
        await signed_in(harness, LEE) as http,
        http.post(
            f"{dashboard}/membership-plan-add?lang=en",
            data={"name": "Gold club", "stars": "300", "grant": "tier=gold"},
            headers=origin,
        ) as response,
    ):
        assert response.status == 403
        assert "Only brand staff add membership plans." in await response.text()
    assert await plan_count(harness) == 0
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "membership.plan_add")] == [
        (LEE, False)
    ]
