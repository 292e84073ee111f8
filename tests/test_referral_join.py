"""A newcomer from a referral link is one tap from a group: a Join button into the inviter's
group (the inviter's personal invite link), a choice of the brand's open groups when the
inviter is in none, and whom to ask when the bot may not make invite links there."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.referral import ReferralInviteLink
from services.referral import ReferralError, create_campaign
from tests.conftest import COFFEE, MIA, SAM, TEA, Harness
from tests.test_referral_chat import ANA, BEN, CAL, code_of, newcomer
from tests.test_referral_links import admin_in_tea


async def test_the_newcomer_joins_the_inviters_group_with_one_tap(harness: Harness) -> None:
    # given Mia, a member of Tea Lovers (where the bot may invite), shares her link
    await admin_in_tea(harness)
    await harness.send(MIA, TEA, "Hello all")
    code = await code_of(harness, MIA)
    newcomer(harness, ANA)
    # when Ana opens it
    replies = await harness.send(ANA, ANA, f"/start {code}")
    # then she is told whose invitation it was, with a button into Mia's group
    assert replies[1] == "You joined through Mia's invitation.\nTap below to join Tea Lovers."
    [[button]] = harness.emulator.last_bot_message(ANA).buttons
    assert button["text"] == "Join Tea Lovers"
    # the link is Mia's personal link into the group, made once, outside any transaction
    async with harness.session() as session:
        links = (await session.execute(select(ReferralInviteLink))).scalars().all()
    assert [(link.chat_id, link.invite_link) for link in links] == [(TEA, button["url"])]
    assert harness.emulator.calls_of("createChatInviteLink")[0]["name"] == f"ref-{code}"
    # and following it puts her in the group
    harness.emulator.open_url(ANA, button["url"])
    await harness.feed_pending()
    assert (await harness.runtime.bot.get_chat_member(TEA, ANA)).status == "member"
    # where she is welcomed as someone who is already with the bot
    assert harness.emulator.last_bot_message(TEA).text == "Welcome to Tea Lovers, Ana!"


async def test_without_an_inviters_group_the_newcomer_chooses_one_in_chinese(
    harness: Harness,
) -> None:
    # given Sam, whom the bot never saw in a group, shares his link with Ben, whose app is in
    # Simplified Chinese
    await admin_in_tea(harness)
    await harness.send(SAM, SAM, "/start")
    code = await code_of(harness, SAM)
    harness.emulator.add_user(BEN, "Ben", username="ben", language_code="zh-hans")
    # when Ben opens it
    replies = await harness.send(BEN, BEN, f"/start {code}")
    # then he chooses among the brand's open groups
    assert replies[1] == "你通过Sam的邀请加入。\n选择一个要加入的群："
    choice = harness.emulator.last_bot_message(BEN)
    assert choice.button_texts == ["Coffee Club", "Tea Lovers"]
    # when he picks Tea Lovers, he gets the button into it
    await harness.press(BEN, BEN, choice.message_id, index=1)
    offer = harness.emulator.last_bot_message(BEN)
    assert offer.text == "点击下方按钮加入Tea Lovers。"
    [[button]] = offer.buttons
    assert button["text"] == "加入Tea Lovers"
    harness.emulator.open_url(BEN, button["url"])
    await harness.feed_pending()
    assert (await harness.runtime.bot.get_chat_member(TEA, BEN)).status == "member"
    # Coffee Club, where the bot is no admin: he is told whom to ask, in his language
    await harness.press(BEN, BEN, choice.message_id, index=0)
    assert harness.emulator.last_bot_message(BEN).text == (
        "我无法创建Coffee Club的邀请链接。请联系该群团长Kai把你拉进群。"
    )


async def test_where_the_bot_cannot_make_links_the_newcomer_is_told_whom_to_ask(
    harness: Harness,
) -> None:
    # given Mia is in Coffee Club, where the bot is a plain member (no right to invite)
    await admin_in_tea(harness)
    await harness.send(MIA, COFFEE, "Hi")
    code = await code_of(harness, MIA)
    newcomer(harness, CAL)
    # when Cal opens her link
    replies = await harness.send(CAL, CAL, f"/start {code}")
    # then he is told to ask the group's leader, and no link was made
    assert replies[1] == (
        "You joined through Mia's invitation.\n"
        "I cannot make an invitation link into Coffee Club. Ask Kai, who leads it, to add you."
    )
    assert harness.emulator.last_bot_message(CAL).buttons == []
    assert harness.emulator.calls_of("createChatInviteLink") == []


async def test_a_forged_join_button_for_a_group_not_open_gives_no_link(harness: Harness) -> None:
    # given a group Mia created and added the bot to as its administrator: staff have not
    # approved it, so it is not one of the brand's open groups
    await admin_in_tea(harness)
    corner = -1001000000009
    harness.emulator.add_group(corner, "Mia's Corner", creator=MIA)
    harness.emulator.add_bot_to_group(corner, MIA, status="administrator")
    await harness.feed_pending()
    newcomer(harness, ANA)
    await harness.send(ANA, ANA, "/start")
    message = harness.emulator.last_bot_message(ANA).message_id
    # when Ana forges a Join choice for it
    answer = await harness.press(ANA, ANA, message, callback_data=f"jg:{corner}", force=True)
    # then she is refused and no link into it is made
    assert answer == "That group is not open any more."
    assert harness.emulator.calls_of("createChatInviteLink") == []


async def test_a_campaign_cannot_take_a_group_buy_link_as_its_code(harness: Harness) -> None:
    # given staff create a campaign whose code looks like a group-buy's start parameter
    async with harness.session() as session, session.begin():
        # then it is refused: /start gb-1 always opens the member's place in group-buy 1
        with pytest.raises(ReferralError) as refused:
            await create_campaign(session, name="Sneaky", created_by=SAM, code="GB-1")
    assert refused.value.reason == "bad_code"
