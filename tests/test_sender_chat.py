"""Messages sent "as a chat": a channel writing in a group, or a group's anonymous admins.

Telegram sends all of them from one stand-in user (Channel_Bot, GroupAnonymousBot) with the chat
in `sender_chat`, so the bot cannot tell who typed them: a commercial action asked that way is
refused with a message that says to write as oneself, and the throttle counts the sender chat.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.app import build_runtime, prepare
from bot.config import Settings
from models.loyalty import CheckIn
from models.order import ORDER_RESERVED, Order
from models.suggestion import Suggestion
from services.points import points_balance
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness
from tgemu import CHANNEL_BOT, EMULATOR_TOKEN, GROUP_ANONYMOUS_BOT, Emulator

CHANNEL = -1002000000001  # "Mia's Tea Notes", a channel Mia and Kai run
AS_YOURSELF = (
    "You are writing as a channel or as an anonymous admin, so I cannot tell who you are: "
    "group-buys, orders, check-ins, points, gifts, invitations and suggestions belong to a "
    "person. Write as yourself and send it again."
)


@pytest.fixture
async def shop(harness: Harness) -> Harness:
    """Both groups approved, a product and an open group-buy in Tea Lovers, a channel."""
    await harness.join_groups()
    for user in (OWNER, SAM, LEE, MIA):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10")
    harness.emulator.add_channel(CHANNEL, "Mia's Tea Notes", admins=[MIA])
    return harness


def test_the_emulator_sends_a_message_as_a_channel_or_as_an_anonymous_admin() -> None:
    emulator = Emulator()
    emulator.add_user(LEE, "Lee")
    emulator.add_user(MIA, "Mia")
    emulator.add_group(TEA, "Tea Lovers", creator=LEE, members=[MIA])
    emulator.add_channel(CHANNEL, "Mia's Tea Notes", admins=[MIA])
    # the group's creator writes anonymously: from GroupAnonymousBot, as the group itself
    anonymous = emulator.send_message(LEE, TEA, "/checkin", as_chat=TEA)["message"]
    assert anonymous["from"] == GROUP_ANONYMOUS_BOT
    assert anonymous["sender_chat"] == {"id": TEA, "type": "supergroup", "title": "Tea Lovers"}
    # Mia writes as her channel: from Channel_Bot, as the channel
    channel = emulator.send_message(MIA, TEA, "/checkin", as_chat=CHANNEL)["message"]
    assert channel["from"] == CHANNEL_BOT
    assert channel["sender_chat"] == {"id": CHANNEL, "type": "channel", "title": "Mia's Tea Notes"}
    # neither is a message of the bot
    assert emulator.bot_messages(TEA) == []
    # only admins write anonymously, and only a channel's admins as the channel
    with pytest.raises(ValueError, match="no admin"):
        emulator.send_message(MIA, TEA, "hi", as_chat=TEA)
    with pytest.raises(ValueError, match="no admin"):
        emulator.send_message(LEE, TEA, "hi", as_chat=CHANNEL)


@pytest.mark.parametrize("as_chat", ["channel", "anonymous admin"])
async def test_commerce_sent_as_a_chat_is_refused_and_nothing_is_booked(
    shop: Harness, as_chat: str
) -> None:
    # given Lee (Tea Lovers' creator, so one of its admins) and Mia, who runs a channel
    user, chat = (MIA, CHANNEL) if as_chat == "channel" else (LEE, TEA)
    stand_in = CHANNEL_BOT if as_chat == "channel" else GROUP_ANONYMOUS_BOT
    # when they check in, order, gift, invite, suggest and list reservations as the chat
    for text in (
        "/checkin",
        "/buy 1",
        "/gift @sam 5",
        "/invite",
        "/suggest More oolong please",
        "/reservations",
    ):
        replies = await shop.send(user, TEA, text, as_chat=chat)
        # then each is refused, saying to write as oneself
        assert replies == [AS_YOURSELF], text
    # and the stand-in user, whom every such sender shares, holds nothing
    async with shop.session() as session:
        assert await points_balance(session, stand_in["id"]) == 0
        assert (await session.execute(select(CheckIn))).scalars().all() == []
        orders = (await session.execute(select(Order))).scalars().all()
        assert [o for o in orders if o.member_id == stand_in["id"]] == []
        assert (await session.execute(select(Suggestion))).scalars().all() == []
    # while the same people, writing as themselves, are served
    assert (await shop.send(user, TEA, "/checkin"))[0].endswith("Streak: 1 day.")


async def test_points_earned_through_a_channel_cannot_be_gifted_by_another_of_its_senders(
    shop: Harness,
) -> None:
    # given a channel that Mia and Lee both write as
    shop.emulator.add_channel(CHANNEL - 1, "Shared Notes", admins=[MIA, LEE])
    # when Mia checks in as the channel, and Lee then gifts as the channel
    earned = await shop.send(MIA, TEA, "/checkin", as_chat=CHANNEL - 1)
    gifted = await shop.send(LEE, TEA, "/gift @sam 5", as_chat=CHANNEL - 1)
    # then neither happened: no points to share, nobody's points moved
    assert earned == gifted == [AS_YOURSELF]
    async with shop.session() as session:
        assert await points_balance(session, CHANNEL_BOT["id"]) == 0
        assert await points_balance(session, SAM) == 0


async def test_a_leader_writing_anonymously_is_told_to_write_as_themselves(shop: Harness) -> None:
    # given Mia's order in Lee's group
    await shop.send(MIA, TEA, "/buy 1")
    # when Lee, its leader, marks it paid as the group's anonymous admin
    replies = await shop.send(LEE, TEA, "/paid @mia", as_chat=TEA)
    # then he is told to act as himself, and the order is still unpaid
    assert replies == [AS_YOURSELF]
    async with shop.session() as session:
        order = (await session.execute(select(Order))).scalars().one()
    assert order.status == ORDER_RESERVED


async def test_a_channel_is_throttled_like_a_person(emulator: Emulator, settings: Settings) -> None:
    # given a throttle of 3 updates in a window far longer than the test
    slow = settings.model_copy(update={"throttle_limit": 3, "throttle_window": 3600})
    runtime = build_runtime(slow, EMULATOR_TOKEN)
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime)
    emulator.add_channel(CHANNEL, "Mia's Tea Notes", admins=[MIA])
    try:
        await harness.join_groups()
        # when the channel sends six commands in a row
        replies = [await harness.send(MIA, TEA, "/help", as_chat=CHANNEL) for _ in range(6)]
        # and Mia, as herself, sends one
        herself = await harness.send(MIA, TEA, "/help")
    finally:
        await runtime.close()
    # then the channel is served three times, told once, then ignored
    assert all(len(reply) == 1 for reply in replies[:3])
    assert replies[3] == ["You are going a little fast. Please wait a few seconds and try again."]
    assert replies[4:] == [[], []]
    # and Mia's own count is her own
    assert len(herself) == 1
