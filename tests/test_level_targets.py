"""Drops, polls and pre-sales that target one level of groups (open, VIP, core): only the
groups of that level receive them; and an early-access window for a level: until it ends, only
members joining from the groups of that level or above may join. Tea Lovers stays open, Matcha
Club becomes a VIP group and Coffee Club a core group."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from models.groupbuy import GroupBuyJoin, GroupBuyPost
from models.poll import Poll
from tests.conftest import COFFEE, KAI, MIA, SAM, TEA, Harness
from tests.test_poll_chat import MATCHA, given_staff, last_text, poll_ids, say, tap, vote


async def given_layers(harness: Harness) -> None:
    """Three groups with the bot; Sam makes Matcha Club VIP and Coffee Club core, and sells a
    tea."""
    await given_staff(harness)
    assert (await say(harness, f"/group_level {MATCHA} vip")).startswith("Matcha Club")
    assert (await say(harness, f"/group_level {COFFEE} core")).startswith("Coffee Club")
    await say(harness, "/product_add Jasmine tea | 39.90 CNY | stock 100")


async def card_chats(harness: Harness, groupbuy_id: int) -> set[int]:
    async with harness.session() as session:
        rows = await session.execute(
            select(GroupBuyPost.chat_id).where(GroupBuyPost.groupbuy_id == groupbuy_id)
        )
        return set(rows.scalars())


async def test_a_drop_to_a_level_reaches_only_the_groups_of_that_level(harness: Harness) -> None:
    await given_layers(harness)
    # when Sam drops to the VIP groups (English key), then to the core groups (Chinese key)
    assert await say(harness, "/drop 1 3d level=vip min=2 stock=10") == (
        "Group-buy #1 posted in 1 group."
    )
    assert await say(harness, "/drop 1 3d 等级＝核心 stock=10") == "Group-buy #2 posted in 1 group."
    # then each reached its level's group only
    assert await card_chats(harness, 1) == {MATCHA}
    assert await card_chats(harness, 2) == {COFFEE}
    # and level and to= narrow each other: Tea Lovers is open, not VIP
    assert await say(harness, f"/drop 1 3d to={TEA} level=vip") == (
        "No open group matches: nothing was posted."
    )
    # and a word that is no level is refused, naming it
    assert await say(harness, "/drop 1 3d level=gold") == (
        "I could not read the level: gold. Write level=open, level=vip or level=core "
        "(等级=普通, 等级=VIP, 等级=核心)."
    )
    assert await card_chats(harness, 3) == set()


async def test_the_drop_wizard_goes_to_the_core_groups_by_its_button(harness: Harness) -> None:
    await given_layers(harness)
    # when Sam walks the drop wizard and picks "Core groups" at the groups step
    await say(harness, "/drop")
    await tap(harness, "#1 Jasmine tea · CN¥39.90")
    for answer in ("3d", "/skip", "10", "/skip", "/skip", "/skip", "/skip"):
        await say(harness, answer)
    await tap(harness, "Core groups")
    await say(harness, "/skip")  # no pickup text of a group's own
    preview = await say(harness, "/skip")  # delivered as the product is
    # then the last look names the level and its one group, and Confirm posts only there
    assert "Groups of level core\nRecipients: 1 group\n• Coffee Club: now" in preview
    await tap(harness, "✅ Confirm")
    assert last_text(harness) == "Group-buy #1 posted in 1 group."
    assert await card_chats(harness, 1) == {COFFEE}


async def test_a_poll_to_the_vip_groups_and_a_pre_sale_to_one_level(harness: Harness) -> None:
    await given_layers(harness)
    # when Sam walks the poll wizard and picks "VIP groups"
    await say(harness, "/poll_new")
    await say(harness, "Which flavour next?")
    await say(harness, "Jasmine | Osmanthus")
    await tap(harness, "One option")
    await tap(harness, "Not anonymous")
    await say(harness, "3d")
    await say(harness, "0")
    await tap(harness, "One member, one vote")
    await tap(harness, "VIP groups")
    summary = last_text(harness)
    assert "Matcha Club" in summary and "Tea Lovers" not in summary
    await tap(harness, "✅ Post the poll")
    # then only Matcha Club has the poll
    async with harness.session() as session:
        vip_poll = (await session.execute(select(Poll))).scalar_one()
    assert vip_poll.id is not None
    assert set(await poll_ids(harness, vip_poll.id)) == {MATCHA}
    # and a pre-sale of its winner to the core groups finds none of the poll's groups
    copies = await poll_ids(harness, vip_poll.id)
    await vote(harness, SAM, copies[MATCHA], [0])
    await harness.send(SAM, SAM, f"/poll_close {vip_poll.id}")
    assert await say(harness, f"/poll_presale {vip_poll.id} 1 7d level=core") == (
        "No open group matches: nothing was posted."
    )
    assert await say(harness, f"/poll_presale {vip_poll.id} 1 7d level=premium") == (
        "I could not read the level: premium. Write level=open, level=vip or level=core "
        "(等级=普通, 等级=VIP, 等级=核心)."
    )
    # while the VIP level opens it in Matcha Club
    assert await say(harness, f"/poll_presale {vip_poll.id} 1 7d min=5 等级=VIP") == (
        "Pre-sale group-buy #1 of Jasmine opened in 1 group."
    )
    assert await card_chats(harness, 1) == {MATCHA}


async def test_an_early_access_window_for_the_vip_groups(harness: Harness) -> None:
    await given_layers(harness)
    harness.clock.now = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    # a level that is open to all makes no window
    assert await say(harness, "/drop 1 24h stock=10 vip=2h:open") == (
        "Write the VIP window as vip=2h for the VIP tiers, vip=2h:gold for Gold and above "
        "(see /tiers), or vip=2h:vip / vip=2h:core for the members of the VIP or core groups."
    )
    # when Sam drops to every group with two hours for the VIP groups first (Chinese key)
    assert await say(harness, "/drop 1 24h stock=10 优先=2h:VIP") == (
        "Group-buy #1 posted in 3 groups."
    )
    async with harness.session() as session:
        posts = {
            p.chat_id: p.message_id for p in (await session.execute(select(GroupBuyPost))).scalars()
        }
    tea = harness.emulator.last_bot_message(TEA)
    assert "👑 Early access for groups of level VIP until 11-21 06:00" in (tea.text or "")
    # then Mia may not join from Tea Lovers (open) yet, and is told until when
    assert await harness.press(MIA, TEA, posts[TEA], index=0) == (
        "Early access is for members of the groups of level VIP until 06:00; everyone can "
        "join after that."
    )
    # while she joins from Matcha Club (VIP), and Kai from Coffee Club (core, above VIP)
    assert await harness.press(MIA, MATCHA, posts[MATCHA], index=0) == "You are #1, quantity 1."
    await harness.press(KAI, COFFEE, posts[COFFEE], index=0)
    # and once the window ends, Sam joins from Tea Lovers
    harness.clock.advance(hours=2)
    await harness.press(SAM, TEA, posts[TEA], index=0)
    async with harness.session() as session:
        joins = {
            (j.member_id, j.chat_id)
            for j in (await session.execute(select(GroupBuyJoin))).scalars()
        }
    assert joins == {(MIA, MATCHA), (KAI, COFFEE), (SAM, TEA)}
