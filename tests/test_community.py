"""Groups: registration when the bot joins, and /settings for leaders only."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from models.audit import AuditEntry
from models.community import COMMUNITY_ACTIVE, COMMUNITY_LEFT, Community, CommunityMember
from tests.conftest import COFFEE, KAI, LEE, MIA, TEA, Harness


async def test_added_to_a_group_registers_it_with_defaults_and_greets(harness: Harness) -> None:
    # when the bot is added to Tea Lovers
    harness.emulator.add_bot_to_group(TEA, LEE)
    await harness.feed_pending()
    # then the group is registered with the default locale and time zone
    async with harness.session() as session:
        community = await session.get(Community, TEA)
    assert community is not None
    assert (community.title, community.locale, community.timezone) == ("Tea Lovers", "en", "UTC")
    assert community.status == COMMUNITY_ACTIVE
    # and the group is greeted first in the language of Lee, who added the bot (Simplified
    # Chinese), then in the group's (English, until a leader picks another with /settings)
    greeting = harness.emulator.last_bot_message(TEA)
    chinese, english = greeting.text.split("\n\n— — —\n\n")
    assert chinese.startswith("大家好，Tea Lovers！我是社群机器人。")
    assert "管理员请留意" in chinese and "Hello" not in chinese
    assert english.startswith("Hello, Tea Lovers!")
    assert greeting.button_texts == ["🙋 申请当团长"]


async def test_the_greeting_is_in_one_language_when_the_adder_reads_the_groups(
    harness: Harness,
) -> None:
    # when the owner, who reads English as the group does, adds the bot
    await harness.join_groups()
    # then the greeting is said once, in English
    text = harness.emulator.last_bot_message(TEA).text
    assert text.startswith("Hello, Tea Lovers!") and "— — —" not in text


async def test_removed_from_a_group_marks_it_left(harness: Harness) -> None:
    await harness.join_groups()
    harness.emulator.remove_bot_from_group(TEA, LEE)
    await harness.feed_pending()
    async with harness.session() as session:
        community = await session.get(Community, TEA)
    assert community is not None and community.status == COMMUNITY_LEFT


async def test_leader_sees_and_changes_the_settings(harness: Harness) -> None:
    await harness.join_groups()
    # given Lee, the group's Telegram creator, asks for the settings
    card = await harness.send(LEE, TEA, "/settings")
    assert "Settings of Tea Lovers" in card[0]
    assert "Time zone: UTC" in card[0]
    message = harness.emulator.last_bot_message(TEA)
    # when he taps 简体中文 then Asia/Shanghai
    assert await harness.press(LEE, TEA, message.message_id, index=1) == "已保存。"
    await harness.press(LEE, TEA, message.message_id, index=3)
    # then the card is edited in place, in the group's new language
    edited = harness.emulator.messages(TEA)[-1]
    assert edited.message_id == message.message_id
    assert "语言：简体中文" in edited.text
    assert "时区：Asia/Shanghai" in edited.text
    async with harness.session() as session:
        community = await session.get(Community, TEA)
    assert community is not None
    assert (community.locale, community.timezone) == ("zh_Hans", "Asia/Shanghai")
    # and the group now hears the bot in Chinese
    help_text = await harness.send(MIA, TEA, "/help")
    assert help_text[0].startswith("你可以这样使用我：")


async def test_timezone_by_command_accepts_any_case_and_rejects_nonsense(harness: Harness) -> None:
    await harness.join_groups()
    saved = await harness.send(LEE, TEA, "/settings timezone europe/london")
    assert saved[0].startswith("Saved.")
    assert "Time zone: Europe/London" in saved[0]
    bad = await harness.send(LEE, TEA, "/settings timezone <b>Moon/Base</b>")
    assert bad == [
        "<b>Moon/Base</b> is not a time zone I know. Write a city, a country or an offset, "
        "like Singapore, London, Asia/Shanghai or UTC+8."
    ]
    # the HTML the leader typed came back escaped, shown as text
    assert "&lt;b&gt;Moon/Base&lt;/b&gt;" in (harness.emulator.last_bot_message(TEA).html or "")
    unknown = await harness.send(LEE, TEA, "/settings colour blue")
    assert unknown[0].startswith("I did not understand that.")
    async with harness.session() as session:
        community = await session.get(Community, TEA)
    assert community is not None and community.timezone == "Europe/London"


async def test_members_and_leaders_of_other_groups_are_refused_and_audited(
    harness: Harness,
) -> None:
    await harness.join_groups()
    # Mia is a plain member; Kai leads Coffee Club but not Tea Lovers
    assert await harness.send(MIA, TEA, "/settings") == [
        "Sorry, only the leaders of this group can do that."
    ]
    assert await harness.send(KAI, TEA, "/settings") == [
        "Sorry, only the leaders of this group can do that."
    ]
    # Kai is allowed in his own group
    own = await harness.send(KAI, COFFEE, "/settings")
    assert own[0].startswith("Settings of Coffee Club")
    async with harness.session() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
    settings_rows = [
        (r.actor_id, r.chat_id, r.allowed) for r in rows if r.action == "community.settings"
    ]
    assert settings_rows == [(MIA, TEA, False), (KAI, TEA, False), (KAI, COFFEE, True)]


async def test_a_refused_button_press_changes_nothing(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(LEE, TEA, "/settings")
    card = harness.emulator.last_bot_message(TEA)
    answer = await harness.press(MIA, TEA, card.message_id, index=2)
    assert answer == "Sorry, only the leaders of this group can do that."
    async with harness.session() as session:
        community = await session.get(Community, TEA)
    assert community is not None and community.locale == "en"


async def test_sightings_in_a_group_are_stamped_with_the_domain_clock_not_the_real_one(
    harness: Harness,
) -> None:
    # given the bot in both groups, asking for chat_member updates as polling does, and the
    # domain clock three days ahead of the real one
    runtime = harness.runtime
    await runtime.bot.get_updates(allowed_updates=runtime.dp.resolve_used_update_types())
    await harness.join_groups()
    harness.clock.advance(days=3)
    # when Mia writes in Tea Lovers and Kai joins it, then leaves Coffee Club
    await harness.send(MIA, TEA, "Hello tea friends")
    harness.emulator.member_joins(TEA, KAI)
    await harness.feed_pending()
    harness.clock.advance(hours=1)
    harness.emulator.member_leaves(COFFEE, KAI)
    await harness.feed_pending()
    # then the store has them seen (and gone) at the domain's time
    async with harness.session() as session:
        rows = (await session.execute(select(CommunityMember))).scalars().all()
        seen = {(r.community_id, r.member_id): r for r in rows}
    mia, kai = seen[(TEA, MIA)], seen[(TEA, KAI)]
    assert mia.first_seen_at == mia.last_seen_at == harness.clock() - timedelta(hours=1)
    assert kai.first_seen_at == harness.clock() - timedelta(hours=1)
    assert seen[(COFFEE, KAI)].left_at == harness.clock()
