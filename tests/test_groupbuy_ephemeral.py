"""A join confirmation reaches every member: in private for members who started the bot, and as
an ephemeral message in the group (Bot API 10.2, seen by that member alone) with a button
that opens the bot for members who never did."""

from __future__ import annotations

import asyncio

from bot.config import Settings
from tests.conftest import LEE, MIA, TEA, Harness
from tests.test_broadcast_outbox import make_harness
from tests.test_groupbuy_chat import open_drop
from tests.test_groupbuy_prepay import complete, open_stars_groupbuy, orders
from tgemu import Emulator

NORA = 2001  # a member of Tea Lovers who never wrote to the bot, app in English


async def test_a_member_who_never_started_the_bot_gets_an_ephemeral_confirmation(
    harness: Harness,
) -> None:
    # given a drop's card in Tea Lovers, and Nora, who never started the bot, is in the group
    tea_card, _coffee = await open_drop(harness)
    harness.emulator.add_user(NORA, "Nora", language_code="en")
    harness.emulator.set_member_status(TEA, NORA, "member")
    # when she taps Join ×2
    assert await harness.press(NORA, TEA, tea_card, index=1) == "You are #1, quantity 2."
    # then a confirmation appears in the group that only she sees, with a way into the bot
    [note] = harness.emulator.ephemeral_messages(TEA, NORA)
    assert note.text == (
        "Nora, you joined Oolong tea: quantity 2, you are #1. Only you see this message. "
        "Open the bot to get your confirmations, reminders and pickup details in private."
    )
    assert note.buttons == [
        [{"text": "Open the bot", "url": "https://t.me/community_bot?start=gb-1"}]
    ]
    assert note.raw["receiver_user"]["id"] == NORA
    # tied to her tap, as Telegram asks
    [sent] = [c for c in harness.emulator.calls_of("sendMessage") if c["chat_id"] == TEA][-1:]
    assert sent["ephemeral_message_parameters"]["receiver_user_id"] == NORA
    assert sent["ephemeral_message_parameters"]["callback_query_id"]
    # nobody else sees it: not Mia, not the group's shared history
    assert note not in harness.emulator.messages(TEA, viewer=MIA)
    assert note not in harness.emulator.bot_messages(TEA)
    assert harness.emulator.messages(NORA) == []  # and nothing could be sent to her in private
    # when she follows the button, the bot opens on her place in the group-buy
    harness.emulator.open_url(NORA, note.buttons[0][0]["url"])
    await harness.feed_pending()
    replies = [m.text for m in harness.emulator.bot_messages(NORA)]
    assert replies[-1] == (
        "You joined Oolong tea: quantity 2, you are #1.\n"
        "From now on I send your confirmations and pickup details here."
    )
    # and from then on she is confirmed in private, with no more group message
    assert await harness.press(NORA, TEA, tea_card, index=0) == "You are #1, quantity 3."
    assert harness.emulator.last_bot_message(NORA).text == (
        "You joined Oolong tea: quantity 3, you are #1."
    )
    assert len(harness.emulator.ephemeral_messages(TEA, NORA)) == 1


async def test_the_ephemeral_confirmation_is_in_the_members_language(harness: Harness) -> None:
    # given Lee, whose app is in 简体中文 and who never started the bot, and Mia, who did
    tea_card, _coffee = await open_drop(harness)
    await harness.send(MIA, MIA, "/start")
    # when both join in the English-speaking group
    assert await harness.press(LEE, TEA, tea_card, index=0) == "你是第 1 位，数量 1。"
    assert await harness.press(MIA, TEA, tea_card, index=0) == "You are #2, quantity 1."
    # then Lee reads his own confirmation in Chinese, in the group, alone
    [note] = harness.emulator.ephemeral_messages(TEA, LEE)
    assert note.text == (
        "Lee，你已参加Oolong tea：数量 1，你是第 1 位。这条消息只有你能看到。"
        "打开机器人，即可在私聊中收到确认、提醒和取货信息。"
    )
    assert note.button_texts == ["打开机器人"]
    # and Mia keeps her private message, with nothing in the group for her
    assert harness.emulator.last_bot_message(MIA).text == (
        "You joined Oolong tea: quantity 1, you are #2."
    )
    assert harness.emulator.ephemeral_messages(TEA, MIA) == []
    # Lee opens the bot: his place, in his language
    harness.emulator.open_url(LEE, note.buttons[0][0]["url"])
    await harness.feed_pending()
    assert harness.emulator.last_bot_message(LEE).text == (
        "你已参加Oolong tea：数量 1，你是第 1 位。\n从现在起，确认消息和取货信息都会发到这里。"
    )


async def test_a_start_link_for_a_group_buy_one_did_not_join(harness: Harness) -> None:
    # given a drop Mia never joined
    await open_drop(harness)
    # when she opens the bot with its link
    replies = await harness.send(MIA, MIA, "/start gb-1")
    # then she is welcomed and told she is not in it; no invitation-link complaint
    assert replies[-1] == "You have not joined this group-buy."
    assert await harness.send(MIA, MIA, "/start gb-99999999999") == [
        replies[0],
        "You have not joined this group-buy.",
    ]


async def test_opening_the_bot_from_a_prepaid_group_buy_brings_the_invoice(
    harness: Harness,
) -> None:
    # given a Stars group-buy, and Nora, who never started the bot, joins it from the card
    card = await open_stars_groupbuy(harness, "min=2 stock=10 limit=3")
    harness.emulator.add_user(NORA, "Nora", language_code="en")
    harness.emulator.set_member_status(TEA, NORA, "member")
    await harness.press(NORA, TEA, card, index=0)
    # no invoice could reach her; the confirmation only she sees leads to the bot
    [note] = harness.emulator.ephemeral_messages(TEA, NORA)
    # when she opens the bot from it
    harness.emulator.open_url(NORA, note.buttons[0][0]["url"])
    await harness.feed_pending()
    # then she reads her place and gets the invoice for it, which she can pay
    messages = harness.emulator.bot_messages(NORA)
    assert messages[1].text == (
        "You joined Moon cake: quantity 1, you are #1.\n"
        "From now on I send your confirmations and pickup details here."
    )
    [invoice] = [m for m in messages if m.kind == "invoice"]
    assert invoice.raw["invoice"]["total_amount"] == 30
    await complete(harness, NORA, invoice.raw)
    assert [o.status for o in await orders(harness)] == ["paid"]


async def test_a_join_does_not_wait_for_the_groups_pace(
    emulator: Emulator, settings: Settings
) -> None:
    # given the bot keeps Telegram's pace, and Tea Lovers' minute of messages is used up
    harness = await make_harness(emulator, settings, pace_messages=True)
    runtime = harness.runtime
    try:
        tea_card, _coffee = await open_drop(harness)
        emulator.add_user(NORA, "Nora", language_code="en")
        emulator.set_member_status(TEA, NORA, "member")
        while True:  # book the group's window full, as a burst of group messages would
            try:
                await asyncio.wait_for(runtime.paced.pace.acquire(TEA), timeout=0.5)
            except TimeoutError:
                break
        # when Nora, who never started the bot, taps Join ×1
        tap = emulator.press_button(NORA, TEA, tea_card, index=0)
        await asyncio.wait_for(runtime.dp.feed_raw_update(runtime.bot, tap), timeout=10)
        # then her tap is answered at once: the update does not wait a minute for the group's
        # pace (in the webhook inbox, the taps behind it in the group would wait with it)
        query_id = tap["callback_query"]["id"]
        assert emulator.callback_answers[query_id]["text"] == "You are #1, quantity 1."
        # and her confirmation in the group is still queued, to go out when the pace allows
        assert emulator.ephemeral_messages(TEA, NORA) == []
    finally:
        await runtime.close()
