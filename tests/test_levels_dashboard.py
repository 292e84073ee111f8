"""Group levels on the web dashboard: staff set a group's level and who may join it from the
communities page by a same-origin POST (the same parsers and service as /group_level, audited
as group.level_set), and the bot then decides join requests by it. Bad input is refused with
the bot's words and changes nothing; leaders get neither the forms nor the change."""

from __future__ import annotations

import re

import aiohttp

from models.community import JOIN_TIER, LEVEL_OPEN, LEVEL_VIP
from tests.conftest import LEE, MIA, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, settings
from tests.test_delivery_dashboard import signed_in
from tests.test_levels import VIP, ZOE, audited, community, member_status, vip_group

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard test uses


def level_form(page: str, group: int) -> str:
    """The level form of one group on the communities page."""
    found = re.search(
        rf'<form class="filters" method="post" action="group-level">'
        rf'<input type="hidden" name="group" value="{group}">.*?</form>',
        page,
    )
    assert found, page
    return found.group(0)


async def test_staff_make_a_group_vip_for_gold_from_the_page(
    harness: Harness, dashboard: str
) -> None:
    # given Tea VIP, an open group, and Mia at Gold
    await vip_group(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, SAM) as http:
        # when Sam (staff) opens the communities page
        async with http.get(f"{dashboard}/communities?lang=en") as response:
            assert response.status == 200
            page = await response.text()
        # then each group has its level form, Tea VIP open to anyone
        form = level_form(page, VIP)
        assert '<b>Tea VIP</b> <span class="note">open · Anyone may join.</span>' in form
        assert '<option value="open" selected>open</option>' in form
        assert '<option value="gold">Tier Gold and above</option>' in form
        assert '<option value="paid">Paid members of this level</option>' in form
        # when another site posts the change in Sam's browser, nothing changes
        wanted = {"group": str(VIP), "level": "vip", "who": "gold"}
        async with http.post(
            f"{dashboard}/group-level", data=wanted, headers={"Origin": "https://evil.example"}
        ) as response:
            assert response.status == 403
        assert (await community(harness, VIP)).level == LEVEL_OPEN
        # when Sam makes it a VIP group for Gold and above
        async with http.post(
            f"{dashboard}/group-level?lang=en", data=wanted, headers=origin, allow_redirects=False
        ) as response:
            assert response.status == 303
            location = response.headers["Location"]
        assert location == f"/dashboard/communities?level_set={VIP}"
        async with http.get(f"{dashboard.removesuffix('/dashboard')}{location}") as response:
            page = await response.text()
        # then the page says so as the bot does, and the form shows the new level
        assert (
            f"<b>Tea VIP</b> (<code>{VIP}</code>) is now a group of level VIP. Members of tier "
            "Gold and above may join."
        ) in page
        form = level_form(page, VIP)
        assert '<option value="vip" selected>VIP</option>' in form
        assert '<option value="gold" selected>Tier Gold and above</option>' in form
    # and the store holds it, audited as /group_level is
    row = await community(harness, VIP)
    assert (row.level, row.join_rule, row.join_min_rank) == (LEVEL_VIP, JOIN_TIER, 2)
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "group.level_set")] == [
        (SAM, True)
    ]
    # and the bot decides join requests by it: Mia (Gold) is in, Zoe declined
    harness.emulator.request_to_join(VIP, MIA)
    harness.emulator.request_to_join(VIP, ZOE)
    await harness.feed_pending()
    assert member_status(harness, VIP, MIA) == "member"
    assert member_status(harness, VIP, ZOE) == "left"


async def test_bad_levels_are_refused_with_the_bots_words_and_change_nothing(
    harness: Harness, dashboard: str
) -> None:
    await vip_group(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, SAM) as http:
        for form, status, said in (
            (
                {"group": str(VIP), "level": "platinum", "who": "gold"},
                400,
                "“platinum” is not a level: use open, vip or core.",
            ),
            (
                {"group": str(VIP), "level": "vip", "who": "<b>emerald</b>"},
                400,
                "“&lt;b&gt;emerald&lt;/b&gt;” is neither a tier nor a rule: use a tier&#39;s "
                "name (see /tiers), invite or paid.",
            ),
            (
                {"group": "-1009999", "level": "vip", "who": "gold"},
                400,
                "I do not know that group. Send /groups to see the groups and their ids.",
            ),
            (
                {"group": "tea", "level": "vip", "who": "gold"},
                400,
                "I do not know that group. Send /groups to see the groups and their ids.",
            ),
        ):
            async with http.post(
                f"{dashboard}/group-level?lang=en", data=form, headers=origin
            ) as response:
                assert response.status == status, form
                assert said in await response.text(), form
        # in Chinese, the bot's Chinese words
        async with http.post(
            f"{dashboard}/group-level?lang=zh_Hans",
            data={"group": str(VIP), "level": "platinum", "who": "gold"},
            headers=origin,
        ) as response:
            text = await response.text()
        assert response.status == 400 and "“platinum”" in text and "platinum" in text
        assert "is not a level" not in text
        # a hand-edited address of the page is no error
        for asked in ("²", "-99999999999999999999", "tea", "-1009999"):
            async with http.get(f"{dashboard}/communities?level_set={asked}") as response:
                assert response.status == 200, asked
                assert "is now a group of level" not in await response.text()
    row = await community(harness, VIP)
    assert (row.level, row.join_rule) == (LEVEL_OPEN, "")
    assert await audited(harness, "group.level_set") == []


async def test_a_leader_gets_neither_the_level_forms_nor_the_change(
    harness: Harness, dashboard: str
) -> None:
    await vip_group(harness)
    origin = {"Origin": dashboard.removesuffix("/dashboard")}
    async with await signed_in(harness, LEE) as http:
        async with http.get(f"{dashboard}/communities?lang=en") as response:
            assert response.status == 200
            assert 'action="group-level"' not in await response.text()
        async with http.post(
            f"{dashboard}/group-level?lang=en",
            data={"group": str(VIP), "level": "vip", "who": "gold"},
            headers=origin,
        ) as response:
            assert response.status == 403
            assert "Only brand staff set group levels." in await response.text()
    assert (await community(harness, VIP)).level == LEVEL_OPEN
    assert [(a.actor_id, a.allowed) for a in await audited(harness, "group.level_set")] == [
        (LEE, False)
    ]
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.post(
            f"{dashboard}/group-level", data={"group": str(VIP), "level": "vip"}
        ) as response,
    ):
        assert response.status == 401
    assert (await community(harness, VIP)).level == LEVEL_OPEN


async def test_the_level_forms_read_in_chinese(harness: Harness, dashboard: str) -> None:
    await vip_group(harness)
    async with (
        await signed_in(harness, SAM) as http,
        http.get(f"{dashboard}/communities?lang=zh_Hans") as response,
    ):
        page = await response.text()
    assert '<html lang="zh-Hans">' in page and "<h2>群层级</h2>" in page
    form = level_form(page, VIP)
    assert '<span class="note">普通 · 任何人都可以加入。</span>' in form
    assert '<label>层级<select name="level"><option value="open" selected>普通</option>' in form
    assert "<label>谁可以加入（VIP 群和核心群）" in form
    assert '<option value="gold">“黄金会员”及以上等级</option>' in form
    assert "<button>保存</button>" in form
