"""Targeted drops (services/drop.py): a drop goes to every group, to the groups with a tag or
to chosen groups, each group with its own pickup text (or its pickup point), and the wizard's
last look names the recipients, the first and last delivery times under the promotion policy
and each group's weekly cap use. Tea Lovers is in Asia/Shanghai, Coffee Club in
Europe/London."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models.groupbuy import GroupBuyPost
from tests.conftest import COFFEE, KAI, LEE, OWNER, SAM, TEA, Harness

# the promotion policy's default caps, gap and quiet hours
pytestmark = pytest.mark.pacing

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai, 10:00 in London


async def given_two_zones(harness: Harness) -> None:
    """Both groups have the bot, each in its zone; Sam is staff and sells a tea."""
    harness.clock.now = MONDAY
    await harness.join_groups()
    await harness.send(LEE, TEA, "/settings timezone Asia/Shanghai")
    await harness.send(KAI, COFFEE, "/settings timezone Europe/London")
    for uid in (SAM, LEE, KAI):
        await harness.send(uid, uid, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Jasmine tea | 39.90 CNY | stock 100")


async def say(harness: Harness, text: str) -> str:
    replies = await harness.send(SAM, SAM, text)
    assert len(replies) == 1, (text, replies)
    return replies[0]


async def tap(harness: Harness, label: str) -> None:
    last = harness.emulator.last_bot_message(SAM)
    assert label in last.button_texts, (label, last.button_texts)
    await harness.press(SAM, SAM, last.message_id, index=last.button_texts.index(label))


def last_text(harness: Harness, chat: int) -> str:
    return harness.emulator.last_bot_message(chat).text or ""


def cards_in(harness: Harness, chat: int) -> list[str]:
    """The group-buy cards the group shows."""
    return [m.text or "" for m in harness.emulator.bot_messages(chat) if "🛒" in (m.text or "")]


async def posts(harness: Harness) -> dict[int, str]:
    """Each group's card of group-buy #1, with its own pickup text."""
    async with harness.session() as session:
        rows = (await session.execute(select(GroupBuyPost))).scalars()
        return {row.chat_id: row.pickup for row in rows}


async def test_a_drop_to_a_tag_reaches_only_the_tagged_groups(harness: Harness) -> None:
    # given Coffee Club tagged "coffee", Tea Lovers not
    await given_two_zones(harness)
    await harness.send(SAM, COFFEE, "/tag coffee")
    # when Sam drops to the tag in one line (the English option)
    reply = await say(harness, "/drop 1 3d to=#coffee min=2 stock=10")
    # then only Coffee Club shows the card
    assert reply == "Group-buy #1 posted in 1 group."
    assert len(cards_in(harness, COFFEE)) == 1
    assert cards_in(harness, TEA) == []
    assert set(await posts(harness)) == {COFFEE}
    # and the Chinese option to chosen groups by id reaches Tea Lovers only
    reply = await say(harness, f"/drop 1 3d 发往={TEA} stock=10")
    assert reply == "Group-buy #2 posted in 1 group."
    assert len(cards_in(harness, TEA)) == 1
    assert len(cards_in(harness, COFFEE)) == 1


async def test_a_bad_target_or_an_empty_tag_posts_nothing(harness: Harness) -> None:
    await given_two_zones(harness)
    assert await say(harness, "/drop 1 3d to=somewhere") == (
        "I could not read where the drop goes: somewhere. Write to=all, to=#tag or group "
        "ids like to=-1001234567890,-1009876543210."
    )
    assert await say(harness, "/drop 1 3d to=#nobody") == (
        "No open group matches: nothing was posted."
    )
    assert await posts(harness) == {}


async def test_each_group_shows_its_own_pickup_or_its_pickup_point(harness: Harness) -> None:
    # given Tea Lovers has a pickup point, Coffee Club none
    await given_two_zones(harness)
    await harness.send(SAM, TEA, "/pickup_point_add Shop A | 12 Main St | daily 9:00-18:00")
    # when Sam drops to every group with a general pickup text
    await say(harness, "/drop 1 3d min=1 pickup=Brand store, Sat 10:00")
    # then Tea Lovers' card names its pickup point, Coffee Club's the drop's text
    [tea] = cards_in(harness, TEA)
    [coffee] = cards_in(harness, COFFEE)
    assert "Pickup: Shop A, 12 Main St, daily 9:00-18:00" in tea
    assert "Brand store" not in tea
    assert "Pickup: Brand store, Sat 10:00" in coffee
    assert await posts(harness) == {TEA: "Shop A, 12 Main St, daily 9:00-18:00", COFFEE: ""}
    # and when it forms, a member who joined in Tea Lovers is told that group's pickup
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(LEE, TEA, card.message_id, index=card.button_texts.index("Join ×2"))
    harness.new_bot_messages(LEE)
    await harness.send(SAM, TEA, "/gb_close 1")
    # (Lee reads in 简体中文: "取货：" is "Pickup:")
    told = harness.emulator.last_bot_message(LEE).text or ""
    assert "成团啦" in told
    assert told.endswith("Shop A, 12 Main St, daily 9:00-18:00")
    assert "Brand store" not in told


async def test_the_wizard_previews_recipients_times_and_cap_use(harness: Harness) -> None:
    # given a drop already went to Coffee Club this morning, and it is now 15:00 UTC:
    # 23:00 in Shanghai (quiet hours), 15:00 in London
    await given_two_zones(harness)
    await say(harness, f"/drop 1 3d to={COFFEE} stock=10")
    harness.clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    # when Sam walks the wizard, chooses both groups and gives Coffee Club its own pickup
    await say(harness, "/drop")
    await tap(harness, "#1 Jasmine tea · CN¥39.90")
    for answer in ("3d", "/skip", "/skip", "/skip", "/skip", "Brand store", "/skip"):
        await say(harness, answer)
    assert last_text(harness, SAM) == "Which groups does the drop go to?"
    await tap(harness, "Choose groups…")
    await tap(harness, "▫️ Tea Lovers")
    await tap(harness, "▫️ Coffee Club")
    await tap(harness, "Done: 2 groups")
    await say(harness, "Coffee Club: Bean bar, Sun 9:00")
    preview = await say(harness, "/skip")  # delivered as the product is
    # then the last look names both groups, when each card may go and the cap use
    assert "Chosen groups: 2\nRecipients: 2 groups\n" in preview
    assert "• Tea Lovers: from 2026-11-24 00:00 UTC, quiet hours there · 0/3 this week" in preview
    assert "• Coffee Club: now · 1/3 this week\n  Pickup: Bean bar, Sun 9:00" in preview
    assert "First delivery 2026-11-23 15:00 UTC, last delivery 2026-11-24 00:00 UTC." in preview
    # and on Confirm the card goes where the policy lets it now, with that group's pickup
    await tap(harness, "✅ Confirm")
    coffee = cards_in(harness, COFFEE)
    assert len(coffee) == 2
    assert "Pickup: Bean bar, Sun 9:00" in coffee[-1]
    assert "Brand store" not in coffee[-1]
    assert len(cards_in(harness, TEA)) == 0


async def test_the_wizard_drops_to_a_tag_by_its_button(harness: Harness) -> None:
    # given Tea Lovers tagged "tea"
    await given_two_zones(harness)
    await harness.send(SAM, TEA, "/tag tea")
    # when Sam picks the tag among the buttons of the wizard's groups step
    await say(harness, "/drop")
    await tap(harness, "#1 Jasmine tea · CN¥39.90")
    for answer in ("3d", "/skip", "10", "/skip", "/skip", "/skip", "/skip"):
        await say(harness, answer)
    await tap(harness, "Groups with a tag…")
    assert last_text(harness, SAM).startswith("Which tag?")
    await tap(harness, "#tea")
    await say(harness, "/skip")  # no pickup text of a group's own
    preview = await say(harness, "/skip")  # delivered as the product is
    # then the last look names the tag and its one group, and Confirm posts only there
    assert "Groups with a tag: #tea\nRecipients: 1 group\n• Tea Lovers: now · 0/3 this week" in (
        preview
    )
    await tap(harness, "✅ Confirm")
    assert last_text(harness, SAM) == "Group-buy #1 posted in 1 group."
    assert len(cards_in(harness, TEA)) == 1
    assert cards_in(harness, COFFEE) == []
