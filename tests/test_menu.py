"""The main menu in private: every screen opens in place from a button and has ⬅️ Back, shows
what its command shows, and needs no typed command; unknown private text gets a hint with the
menu, while wizards and groups keep their text."""

from __future__ import annotations

import copy

from sqlmodel import col, func, select

from models.loyalty import CheckIn
from models.rewards import Redemption
from services import broadcast as outbox
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness
from tgemu import StoredMessage

MENU = [
    "📦 My orders",
    "✅ Check in",
    "⭐ Points and perks",
    "🤝 Invite friends",
    "🎟 Coupons",
    "🔔 Offers",
    "❓ Help",
    "🌐 Language",
]
HINT = "I didn't understand that. Here is what I can do:"


def message(harness: Harness, chat: int, message_id: int) -> StoredMessage:
    """The message as it reads now (a copy: a later edit does not change it)."""
    found = next(m for m in harness.emulator.bot_messages(chat) if m.message_id == message_id)
    return copy.deepcopy(found)


async def tap(harness: Harness, user: int, message_id: int, label: str) -> StoredMessage:
    """The user taps the labelled button of that message; the message as it is then."""
    shown = message(harness, user, message_id)
    assert label in shown.button_texts, (label, shown.button_texts)
    await harness.press(user, user, message_id, index=shown.button_texts.index(label))
    return message(harness, user, message_id)


async def open_menu(harness: Harness, user: int) -> int:
    await harness.send(user, user, "/start")
    return harness.emulator.last_bot_message(user).message_id


async def command_screen(harness: Harness, user: int, command: str) -> StoredMessage:
    """What the command shows (its first reply)."""
    before = len(harness.emulator.bot_messages(user))
    await harness.send(user, user, command)
    return harness.emulator.bot_messages(user)[before]


async def test_every_screen_opens_in_place_with_back_as_its_command_shows_it(
    harness: Harness,
) -> None:
    # given Mia opens the menu
    menu = await open_menu(harness, MIA)
    assert message(harness, MIA, menu).button_texts == MENU
    sent = len(harness.emulator.bot_messages(MIA))
    # when she taps each top screen, then Back
    screens = [
        ("📦 My orders", "/orders", "You have no orders yet.", ["⬅️ Back"]),
        ("🎟 Coupons", "/coupons", "Your coupons\nYou have no coupons right now.", ["⬅️ Back"]),
        ("❓ Help", "/help", "Here is what you can do:", ["⬅️ Back"]),
        ("🌐 Language", "/language", "Choose your language:", None),
    ]
    for label, command, starts, buttons in screens:
        shown = await tap(harness, MIA, menu, label)
        # then the menu message itself is the screen, with Back under it
        assert (shown.text or "").startswith(starts), label
        assert shown.button_texts[-1] == "⬅️ Back", label
        if buttons is not None:
            assert shown.button_texts == buttons, label
        assert (await tap(harness, MIA, menu, "⬅️ Back")).text.startswith("Hi Mia!")
        assert message(harness, MIA, menu).button_texts == MENU
        # and the command shows the very same screen
        typed = await command_screen(harness, MIA, command)
        assert (typed.text, typed.button_texts) == (shown.text, shown.button_texts), command
    # and no screen sent a message of its own (the commands did)
    assert len(harness.emulator.bot_messages(MIA)) == sent + len(screens)


async def test_check_in_points_history_tiers_and_rewards_from_buttons_alone(
    harness: Harness,
) -> None:
    # given staff offer a reward of 5 points, and Mia opens the menu
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/reward_add Tea cup | 5 | 3")
    menu = await open_menu(harness, MIA)
    # when she checks in from the menu
    shown = await tap(harness, MIA, menu, "✅ Check in")
    assert shown.text == "Mia checked in: +5 points. Streak: 1 day."
    assert shown.button_texts == ["⬅️ Back"]
    # and a second tap the same day (from the menu again) is refused, in place
    await tap(harness, MIA, menu, "⬅️ Back")
    again = await tap(harness, MIA, menu, "✅ Check in")
    assert again.text == "Mia, you have already checked in today. Streak: 1 day."
    async with harness.session() as session:
        checkins = await session.scalar(
            select(func.count()).select_from(CheckIn).where(col(CheckIn.member_id) == MIA)
        )
    assert checkins == 1
    # when she opens Points and perks
    await tap(harness, MIA, menu, "⬅️ Back")
    points = await tap(harness, MIA, menu, "⭐ Points and perks")
    assert "Points: 5" in (points.text or "")
    assert points.button_texts == ["🎁 Rewards", "📜 Points history", "🏅 Tiers", "⬅️ Back"]
    assert (await command_screen(harness, MIA, "/me")).text == points.text
    # then the history, the tiers and the rewards open in place, each with Back to it
    history = await tap(harness, MIA, menu, "📜 Points history")
    assert (history.text or "").startswith("Your points: 5")
    assert "Daily check-in" in (history.text or "")
    assert history.button_texts == ["📄 Every movement as a file", "⬅️ Back"]
    files = len(harness.emulator.bot_messages(MIA))
    await tap(harness, MIA, menu, "📄 Every movement as a file")
    document = harness.emulator.bot_messages(MIA)[files]
    assert document.kind == "document"
    assert (await tap(harness, MIA, menu, "⬅️ Back")).text == points.text
    tiers = await tap(harness, MIA, menu, "🏅 Tiers")
    assert (tiers.text or "").startswith("Membership tiers")
    assert (await tap(harness, MIA, menu, "⬅️ Back")).text == points.text
    rewards = await tap(harness, MIA, menu, "🎁 Rewards")
    assert rewards.button_texts == ["Redeem Tea cup", "⬅️ Back"]
    # and redeeming asks first, then redeems once
    await tap(harness, MIA, menu, "Redeem Tea cup")
    question = harness.emulator.last_bot_message(MIA)
    assert question.text == "Redeem “Tea cup” for 5 points? You will have 0 points left."
    assert await harness.press(MIA, MIA, question.message_id, index=0) == "Redeemed."
    async with harness.session() as session:
        redeemed = await session.scalar(select(func.count()).select_from(Redemption))
    assert redeemed == 1
    # and Back under the rewards leads to Points and perks, then to the menu
    await tap(harness, MIA, menu, "⬅️ Back")
    assert (await tap(harness, MIA, menu, "⬅️ Back")).button_texts == MENU


async def test_invite_and_referrals_and_offers_from_buttons(harness: Harness) -> None:
    menu = await open_menu(harness, MIA)
    before = len(harness.emulator.bot_messages(MIA))
    # when Mia taps Invite friends, the menu becomes her link and the invitation follows
    invite = await tap(harness, MIA, menu, "🤝 Invite friends")
    assert (invite.text or "").startswith("Invite friends\nYour code: ")
    assert invite.button_texts == ["👥 My referrals", "⬅️ Back"]
    following = harness.emulator.bot_messages(MIA)[before:]
    assert [m.kind for m in following] == ["text", "photo"]
    assert (following[0].text or "").startswith("Mia invites you to our member community")
    referrals = await tap(harness, MIA, menu, "👥 My referrals")
    assert referrals.text == "You have not invited anyone yet. Send /invite to get your link."
    assert (await tap(harness, MIA, menu, "⬅️ Back")).text == invite.text
    await tap(harness, MIA, menu, "⬅️ Back")
    # when she opens Offers and says yes, the screen turns into the way to stop them
    offers = await tap(harness, MIA, menu, "🔔 Offers")
    assert offers.button_texts == ["✅ Yes, send me offers", "⬅️ Back"]
    answered = await harness.press(MIA, MIA, menu, index=0)
    assert answered == "Done: you will get our offers. Send /stop to end them."
    async with harness.session() as session:
        assert await outbox.is_opted_in(session, member_id=MIA)
    stop = message(harness, MIA, menu)
    assert (stop.text or "").startswith("You get our offers and new drops in this chat")
    assert stop.button_texts == ["🔕 Stop the offers", "⬅️ Back"]
    # and stopping needs no command either
    assert await harness.press(MIA, MIA, menu, index=0) == (
        "Done: no more offers from us in this chat."
    )
    async with harness.session() as session:
        assert not await outbox.is_opted_in(session, member_id=MIA)
    assert message(harness, MIA, menu).button_texts == ["✅ Yes, send me offers", "⬅️ Back"]


async def test_zh_the_menu_and_its_screens_speak_simplified_chinese(harness: Harness) -> None:
    # given Lee, whose app is in Simplified Chinese, opens the menu
    menu = await open_menu(harness, LEE)
    assert message(harness, LEE, menu).button_texts == [
        "📦 我的订单",
        "✅ 签到",
        "⭐ 积分与权益",
        "🤝 邀请好友",
        "🎟 优惠券",
        "🔔 优惠",
        "❓ 帮助",
        "🌐 语言",
    ]
    points = await tap(harness, LEE, menu, "⭐ 积分与权益")
    assert points.button_texts == ["🎁 兑换奖品", "📜 积分明细", "🏅 会员等级", "⬅️ 返回"]
    rewards = await tap(harness, LEE, menu, "🎁 兑换奖品")
    assert rewards.button_texts == ["⬅️ 返回"]
    await tap(harness, LEE, menu, "⬅️ 返回")
    back = await tap(harness, LEE, menu, "⬅️ 返回")
    assert (back.text or "").startswith("你好，Lee！")
    # and text the bot does not understand gets the hint in Chinese, with the menu
    assert await harness.send(LEE, LEE, "你好") == ["我没看懂这句话。我能帮你做这些："]
    assert harness.emulator.last_bot_message(LEE).button_texts[0] == "📦 我的订单"


async def test_unknown_private_text_gets_a_hint_with_the_menu(harness: Harness) -> None:
    # when Mia writes something no command or step takes, or an unknown command
    for text in ("hello", "你好", "/frobnicate", "/start_over please"):
        assert await harness.send(MIA, MIA, text) == [HINT], text
        assert harness.emulator.last_bot_message(MIA).button_texts == MENU
    # a known command refused by its role is answered once, by the refusal only
    assert await harness.send(MIA, MIA, "/product_new") == ["Sorry, only brand staff can do that."]
    # a tap on a menu button from a newer menu (or forged) shows the menu again
    menu = await open_menu(harness, MIA)
    await harness.press(MIA, MIA, menu, callback_data="menu:nonsense", force=True)
    assert message(harness, MIA, menu).button_texts == MENU
    # a tap whose data no button reads (an action no version had, or no button at all) is
    # answered, so Mia's spinner stops; the menu is left as it was
    # (a language the bot does not speak, too: "lang:fr")
    for forged in ("my:frobnicate:1:0", "zz:1", "nothing", "lang:fr"):
        answer = await harness.press(MIA, MIA, menu, callback_data=forged, force=True)
        assert answer == "This button does not work any more.", forged
    assert message(harness, MIA, menu).button_texts == MENU


async def test_groups_and_wizard_steps_keep_their_text(harness: Harness) -> None:
    await harness.join_groups()
    # in a group, unknown text and unknown commands get no answer
    assert await harness.send(MIA, TEA, "hello everyone") == []
    assert await harness.send(MIA, TEA, "/frobnicate") == []
    # a wizard's step takes the text as its answer: no hint
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_new")
    assert await harness.send(SAM, SAM, "hello") == [
        "A short description? (send /skip to leave it out, /cancel to stop)"
    ]
    # and a photo step given text asks for the photo again, not the hint
    assert await harness.send(SAM, SAM, "Spring harvest") == [
        "Send a photo of it. (send /skip to leave it out, /cancel to stop)"
    ]
    assert await harness.send(SAM, SAM, "no photo, sorry") == [
        "Send a photo of it. (send /skip to leave it out, /cancel to stop)"
    ]
    assert await harness.send(SAM, SAM, "/cancel") == ["Cancelled. Nothing was changed."]
    assert await harness.send(SAM, SAM, "hello") == [HINT]
