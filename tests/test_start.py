"""Members in private chat: /start, /help, /language, and what the store records of them."""

from __future__ import annotations

from sqlmodel import select

from models.member import Member
from tests.conftest import KAI, LEE, MIA, OWNER, Harness


async def test_start_greets_in_the_members_language_with_a_menu(harness: Harness) -> None:
    # given Mia (English) and Lee (zh-hans) and Kai (zh-hant) open the bot
    english = await harness.send(MIA, MIA, "/start")
    simplified = await harness.send(LEE, LEE, "/start")
    traditional = await harness.send(KAI, KAI, "/start")
    # then each is greeted by name in their own language
    assert english[0].startswith("Hi Mia!")
    assert simplified[0].startswith("你好，Lee！")
    assert traditional[0].startswith("你好，Kai！")
    assert "团购" in simplified[0] and "團購" in traditional[0]
    # and the greeting carries the menu
    menu = harness.emulator.last_bot_message(MIA)
    assert menu.button_texts == [
        "📦 My orders",
        "✅ Check in",
        "⭐ Points and perks",
        "🤝 Invite friends",
        "🎟 Coupons",
        "🔔 Offers",
        "❓ Help",
        "🌐 Language",
    ]


async def test_every_update_records_the_member(harness: Harness) -> None:
    await harness.send(MIA, MIA, "/start")
    async with harness.session() as session:
        member = (await session.execute(select(Member).where(Member.id == MIA))).scalar_one()
    assert member.first_name == "Mia"
    assert member.username == "mia"
    assert member.language_code == "en"
    assert member.locale == "en"
    assert member.started is True


async def test_help_lists_only_what_the_caller_may_use(harness: Harness) -> None:
    member_help = (await harness.send(MIA, MIA, "/help"))[0]
    # the owner's list is longer than one message: it comes in several, each within the limit
    owner_pages = await harness.send(OWNER, OWNER, "/help")
    assert len(owner_pages) >= 2 and all(len(page) <= 4096 for page in owner_pages)
    owner_help = "\n".join(owner_pages)
    assert "/language" in member_help
    assert "/grant_staff" not in member_help and "/staff" not in member_help
    assert "/grant_staff" in owner_help and "/audit" in owner_help and "/staff" in owner_help


async def test_language_switch_changes_replies_and_survives_telegram_language(
    harness: Harness,
) -> None:
    # given Mia asks for the language picker
    await harness.send(MIA, MIA, "/language")
    picker = harness.emulator.last_bot_message(MIA)
    assert picker.button_texts == ["English", "简体中文", "繁體中文", "⬅️ Back"]
    # when she taps 繁體中文
    await harness.press(MIA, MIA, picker.message_id, index=2)
    # then the picker turns into a confirmation in Traditional Chinese
    confirmed = harness.emulator.messages(MIA)[-1]
    assert confirmed.message_id == picker.message_id
    assert confirmed.text == "好的：我會用繁體中文和你交談。"
    assert confirmed.button_texts == ["⬅️ 返回"]  # back to the menu, now in her language
    # and her next replies stay in Traditional Chinese although her app says English
    reply = await harness.send(MIA, MIA, "/start")
    assert reply[0].startswith("你好，Mia！")
    async with harness.session() as session:
        member = await session.get(Member, MIA)
        assert member is not None and member.locale == "zh_Hant" and member.locale_chosen
    # and her own command menu is now in Traditional Chinese
    menu = harness.emulator.commands[(f'{{"chat_id": {MIA}, "type": "chat"}}', "")]
    assert {"command": "language", "description": "選擇語言"} in menu


async def test_language_in_a_group_points_to_the_private_chat(harness: Harness) -> None:
    await harness.join_groups()
    from tests.conftest import TEA

    replies = await harness.send(MIA, TEA, "/language")
    assert "private chat" in replies[0]


async def test_menu_buttons_open_help_and_the_language_picker(harness: Harness) -> None:
    await harness.send(MIA, MIA, "/start")
    menu = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, menu.message_id, index=menu.button_texts.index("❓ Help"))
    helped = harness.emulator.last_bot_message(MIA)
    assert helped.message_id == menu.message_id  # the menu turned into the help, in place
    assert helped.text.startswith("Here is what you can do:")
    assert helped.button_texts == ["⬅️ Back"]
    await harness.press(MIA, MIA, menu.message_id, index=0)  # Back: the menu again
    menu = harness.emulator.last_bot_message(MIA)
    assert menu.text.startswith("Hi Mia!") and "🌐 Language" in menu.button_texts
    await harness.press(MIA, MIA, menu.message_id, index=menu.button_texts.index("🌐 Language"))
    assert harness.emulator.last_bot_message(MIA).button_texts == [
        "English",
        "简体中文",
        "繁體中文",
        "⬅️ Back",
    ]


async def test_cancel_with_nothing_to_cancel(harness: Harness) -> None:
    assert await harness.send(MIA, MIA, "/cancel") == ["There is nothing to cancel."]


async def test_commands_are_recognised_in_every_form_telegram_sends(harness: Harness) -> None:
    # the dispatcher refuses other commands' filters by name before parsing (bot/app.py): a
    # command addressed to the bot, led by spaces, or in capitals where the filter ignores case
    # still reaches its handler, and text that only looks like a command reaches none
    help_text = (await harness.send(MIA, MIA, "/help"))[0]
    assert (await harness.send(MIA, MIA, "/help@community_bot"))[0] == help_text
    assert (await harness.send(MIA, MIA, "   /help"))[0] == help_text
    assert (await harness.send(MIA, MIA, "/start"))[0].startswith("Hi Mia!")
    assert (await harness.send(MIA, MIA, "/help me please"))[0] == help_text
    unknown = await harness.send(MIA, MIA, "/helpme")
    assert help_text not in unknown
    assert unknown == ["I didn't understand that. Here is what I can do:"]
