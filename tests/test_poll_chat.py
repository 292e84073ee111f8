"""Co-creation polls end to end: staff ask three groups through the wizard, members vote in
any of them (changing and retracting), every member counts once with one reward, the
scheduler closes every copy and posts the result with a chart, and the winner goes on
pre-sale in the same groups."""

from __future__ import annotations

import dataclasses
import io

from PIL import Image
from sqlmodel import select

from handlers.views.poll import result_chart
from models.community import Community
from models.groupbuy import GroupBuy, GroupBuyPost
from models.poll import Poll, PollBallot, PollPost
from models.tiers import MemberTier
from services.points import points_balance
from services.poll import get_poll, tally
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tgemu import StoredMessage

MATCHA = -1001000000003  # a third group, "Matcha Club", that reads Simplified Chinese


async def say(harness: Harness, text: str, *, user: int = SAM, chat: int = SAM) -> str:
    replies = await harness.send(user, chat, text)
    assert len(replies) == 1, (text, replies)
    return replies[0]


async def tap(harness: Harness, label: str, *, user: int = SAM, chat: int = SAM) -> str | None:
    last = harness.emulator.last_bot_message(chat)
    assert label in last.button_texts, (label, last.button_texts)
    return await harness.press(user, chat, last.message_id, index=last.button_texts.index(label))


def last_text(harness: Harness, chat: int = SAM) -> str:
    return harness.emulator.last_bot_message(chat).text or ""


async def given_staff(harness: Harness) -> None:
    """Three groups have the bot (Matcha Club in Chinese); Sam is staff; the voters have
    started the bot."""
    await harness.join_groups()
    harness.emulator.add_group(MATCHA, "Matcha Club", creator=KAI, members=[MIA, LEE, SAM])
    harness.emulator.add_bot_to_group(MATCHA, OWNER)  # staff-added: approved at once
    await harness.feed_pending()
    async with harness.session() as session, session.begin():
        matcha = await session.get(Community, MATCHA)
        assert matcha is not None
        matcha.locale = "zh_Hans"
    for user in (SAM, MIA, LEE, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def create_poll(
    harness: Harness,
    *,
    anonymous: bool = False,
    multiple: bool = False,
    points: str = "10",
    weigh: bool = False,
    options: str = "Jasmine | Osmanthus | Lychee",
) -> Poll:
    """Sam walks the wizard and posts a poll in every group."""
    assert (await say(harness, "/poll_new")).startswith("New co-creation poll.")
    assert (await say(harness, "Which flavour next?")).startswith("The options: 2-12")
    await say(harness, options)
    await tap(harness, "Several options" if multiple else "One option")
    await tap(harness, "Anonymous" if anonymous else "Not anonymous")
    assert last_text(harness).startswith("When does it close?")
    if anonymous:
        await say(harness, "3d")
    else:
        await say(harness, "3d")
        await say(harness, points)
        await tap(harness, "Weigh by tier" if weigh else "One member, one vote")
    await tap(harness, "All groups")
    summary = last_text(harness)
    assert "Which flavour next?" in summary and "Tea Lovers" in summary
    await tap(harness, "✅ Post the poll")
    assert last_text(harness).startswith("Poll #")
    async with harness.session() as session:
        polls = list((await session.execute(select(Poll).order_by(Poll.id))).scalars())
    return polls[-1]


async def poll_ids(harness: Harness, poll_id: int) -> dict[int, str]:
    async with harness.session() as session:
        posts = (
            await session.execute(select(PollPost).where(PollPost.poll_id == poll_id))
        ).scalars()
        return {p.chat_id: p.telegram_poll_id for p in posts}


async def vote(harness: Harness, user: int, telegram_poll_id: str, options: list[int]) -> None:
    harness.emulator.answer_poll(user, telegram_poll_id, options)
    await harness.feed_pending()


async def ballots(harness: Harness, poll_id: int) -> dict[int, int]:
    async with harness.session() as session:
        rows = (
            await session.execute(select(PollBallot).where(PollBallot.poll_id == poll_id))
        ).scalars()
        return {b.member_id: b.options for b in rows}


async def points(harness: Harness, member_id: int) -> int:
    async with harness.session() as session:
        return await points_balance(session, member_id)


async def test_a_poll_goes_to_three_groups_and_counts_each_member_once(harness: Harness) -> None:
    await given_staff(harness)
    poll = await create_poll(harness)
    assert poll.id is not None
    copies = await poll_ids(harness, poll.id)
    # then the bot posted one native, non-anonymous poll in each group
    assert set(copies) == {TEA, COFFEE, MATCHA}
    sent = harness.emulator.calls_of("sendPoll")
    assert len(sent) == 3
    assert all("open_period" not in call for call in sent)
    native = harness.emulator.poll(copies[TEA])
    assert native["question"] == "Which flavour next?"
    assert [o["text"] for o in native["options"]] == ["Jasmine", "Osmanthus", "Lychee"]
    assert native["is_anonymous"] is False

    # when Mia votes Jasmine in Tea Lovers, then Lychee in Coffee Club
    await vote(harness, MIA, copies[TEA], [0])
    await vote(harness, MIA, copies[COFFEE], [2])
    # and Lee votes Osmanthus, changes to Jasmine, and Kai votes then retracts
    await vote(harness, LEE, copies[TEA], [1])
    await vote(harness, LEE, copies[TEA], [0])
    await vote(harness, KAI, copies[TEA], [1])
    await vote(harness, KAI, copies[TEA], [])
    # and Mia retracts in Tea Lovers, whose vote she already replaced in Coffee Club
    await vote(harness, MIA, copies[TEA], [])
    # and Lee votes Lychee in Matcha Club, then takes it back: his Jasmine ballot is gone too
    await vote(harness, LEE, copies[MATCHA], [2])
    await vote(harness, LEE, copies[MATCHA], [])
    await vote(harness, LEE, copies[TEA], [0])

    # then each member holds one ballot: their latest choice
    assert await ballots(harness, poll.id) == {MIA: 1 << 2, LEE: 1 << 0}
    # and every voter got the poll's points once, however often they changed their mind
    assert await points(harness, MIA) == 10
    assert await points(harness, LEE) == 10
    assert await points(harness, KAI) == 10  # Kai voted, then retracted: the reward stays
    assert "Thanks for voting in poll #1: +10 points." in [
        m.text for m in harness.emulator.bot_messages(MIA)
    ]

    # when the closing time passes, a vote that comes before the scheduler stops the copies
    # is refused, and the voter is told in his language (Kai reads Traditional Chinese)
    harness.clock.advance(days=3, seconds=1)
    await vote(harness, KAI, copies[COFFEE], [1])
    assert harness.emulator.last_bot_message(KAI).text == (
        "投票 #1 已結束，你的這一票沒有計入。結果即將公布。"
    )
    assert await ballots(harness, poll.id) == {MIA: 1 << 2, LEE: 1 << 0}
    # and the scheduler closes the poll
    assert await harness.runtime.polls.close_due() == 1
    assert await harness.runtime.polls.close_due() == 0  # closed once
    # then every copy was stopped
    stopped = harness.emulator.calls_of("stopPoll")
    assert sorted(call["chat_id"] for call in stopped) == sorted([TEA, COFFEE, MATCHA])
    assert all(harness.emulator.poll(copy)["is_closed"] for copy in copies.values())
    # and each group and Sam got the result as a chart with the figures
    for chat in (TEA, COFFEE, SAM):
        result = harness.emulator.bot_messages(chat)[-1]
        assert result.kind == "photo"
        assert "Poll #1 closed: Which flavour next?" in (result.text or "")
    tea = harness.emulator.bot_messages(TEA)[-1].text or ""
    assert "🏆 1. Jasmine: 1 (50%)" in tea and "▫️ 3. Lychee: 1 (50%)" in tea
    assert "Voters: 2 in 3 groups, each counted once." in tea
    matcha = harness.emulator.bot_messages(MATCHA)[-1]
    assert matcha.kind == "photo" and "投票 #1 已结束" in (matcha.text or "")
    assert "Winner: Jasmine" in tea
    assert "/poll_presale 1" in (harness.emulator.bot_messages(SAM)[-1].text or "")
    # a vote after closing changes nothing
    async with harness.session() as session:
        closed = await session.get(Poll, poll.id)
        assert closed is not None and closed.status == "closed"


async def test_a_closed_poll_becomes_a_pre_sale_in_the_same_groups(harness: Harness) -> None:
    await given_staff(harness)
    await say(harness, "/product_add Osmanthus oolong | 49.00 CNY | stock 100")
    poll = await create_poll(harness, points="0")
    assert poll.id is not None
    copies = await poll_ids(harness, poll.id)
    await vote(harness, MIA, copies[COFFEE], [1])
    # before closing, staff are told to close it first
    assert "still open" in await say(harness, f"/poll_presale {poll.id} 1 7d min=20")
    replies = await harness.send(SAM, SAM, f"/poll_close {poll.id}")
    assert replies[-1] == "Poll #1 closed; the result was posted in 3 groups."
    assert "already closed" in await say(harness, f"/poll_close {poll.id}")
    # when Sam puts the winner on pre-sale
    reply = await say(harness, f"/poll_presale {poll.id} 1 7d min=20")
    assert reply == "Pre-sale group-buy #1 of Osmanthus opened in 3 groups."
    async with harness.session() as session:
        gb = (await session.execute(select(GroupBuy))).scalar_one()
        chats = {p.chat_id for p in (await session.execute(select(GroupBuyPost))).scalars()}
        linked = await session.get(Poll, poll.id)
    # then one group-buy opened in the three groups of the poll, made at 20 pre-orders
    assert chats == {TEA, COFFEE, MATCHA}
    assert gb.min_count == 20 and gb.commission_bps == 0
    assert linked is not None and linked.presale_groupbuy_id == gb.id
    tea = [m.text or "" for m in harness.emulator.bot_messages(TEA)]
    assert any("now on pre-sale" in text for text in tea)
    # and a member of a group that chose it can pre-order it there at once
    async with harness.session() as session:
        card = (
            await session.execute(select(GroupBuyPost).where(GroupBuyPost.chat_id == COFFEE))
        ).scalar_one()
    assert await harness.press(MIA, COFFEE, card.message_id, index=0) == "You are #1, quantity 1."
    # and a second attempt opens nothing
    assert "already on pre-sale" in await say(harness, f"/poll_presale {poll.id} 1 7d min=20")


async def test_a_pre_sale_line_reads_like_a_group_buy_line(harness: Harness) -> None:
    # given a closed poll whose winner is on the shelf
    await given_staff(harness)
    await say(harness, "/product_add Osmanthus oolong | 49.00 CNY | stock 100")
    poll = await create_poll(harness, points="0")
    assert poll.id is not None
    copies = await poll_ids(harness, poll.id)
    await vote(harness, MIA, copies[COFFEE], [1])
    await harness.send(SAM, SAM, f"/poll_close {poll.id}")
    # when Sam writes an option it does not take, nothing opens
    assert "/poll_presale POLL PRODUCT DEADLINE" in await say(
        harness, f"/poll_presale {poll.id} 1 7d tiers=10:35.90"
    )
    # and when he writes the deadline and counts as /groupbuy takes them, it opens
    reply = await say(harness, f"/poll_presale {poll.id} 1 截止=7d 成团＝20u stock=50件 limit=3")
    assert reply == "Pre-sale group-buy #1 of Osmanthus opened in 3 groups."
    async with harness.session() as session:
        gb = (await session.execute(select(GroupBuy))).scalar_one()
    assert (gb.min_kind, gb.min_count, gb.stock_cap, gb.per_member_limit) == ("units", 20, 50, 3)


async def test_tier_weighting_and_anonymous_counts(harness: Harness) -> None:
    await given_staff(harness)
    async with harness.session() as session, session.begin():
        session.add(MemberTier(member_id=LEE, rank=3, spend=2_000_000))
    weighted = await create_poll(harness, weigh=True, points="0")
    assert weighted.id is not None
    copies = await poll_ids(harness, weighted.id)
    await vote(harness, MIA, copies[TEA], [0])
    await vote(harness, KAI, copies[TEA], [0])
    await vote(harness, LEE, copies[TEA], [1])  # Diamond: weight 1 + 3
    await harness.send(SAM, SAM, f"/poll_close {weighted.id}")
    text = harness.emulator.bot_messages(TEA)[-1].text or ""
    assert "Jasmine: 2 (67%) · weighted 2" in text
    assert "Osmanthus: 1 (33%) · weighted 4" in text
    assert "Winner: Osmanthus" in text  # the weighted result decides

    anonymous = await create_poll(harness, anonymous=True)
    assert anonymous.id is not None
    copies = await poll_ids(harness, anonymous.id)
    await vote(harness, MIA, copies[TEA], [2])
    await vote(harness, MIA, copies[COFFEE], [2])
    await vote(harness, LEE, copies[TEA], [0])
    await vote(harness, LEE, copies[TEA], [1])
    await harness.send(SAM, SAM, f"/poll_close {anonymous.id}")
    text = harness.emulator.bot_messages(COFFEE)[-1].text or ""
    assert "Lychee: 2" in text and "Osmanthus: 1" in text and "Jasmine: 0" in text
    assert "Votes: 3 in 3 groups." in text
    assert await points(harness, MIA) == 0


async def test_bad_poll_input_is_refused_with_a_clear_message(harness: Harness) -> None:
    await given_staff(harness)
    await say(harness, "/poll_new")
    assert "1-300 characters" in await say(harness, "x" * 301)
    await say(harness, "Which flavour next?")
    assert "2-12 options" in await say(harness, "Only one")
    assert "2-12 options" in await say(harness, " | ".join(f"o{i}" for i in range(13)))
    assert "1-100 characters" in await say(harness, "a | " + "b" * 101)
    assert "the same" in await say(harness, "Tea | tea")
    await say(harness, "Tea | Coffee")
    await tap(harness, "One option")
    await tap(harness, "Not anonymous")
    assert "in the future" in await say(harness, "2000-01-01 10:00")
    assert "at most 30 days" in await say(harness, "45d")
    await say(harness, "3d")
    assert "0 to 10000" in await say(harness, "lots")
    await say(harness, "0")
    await tap(harness, "One member, one vote")
    await tap(harness, "All groups")
    # and a closing time that has passed while Sam read the summary posts nothing
    harness.clock.advance(days=4)
    assert await tap(harness, "✅ Post the poll") == "The closing time must be in the future."
    assert harness.emulator.calls_of("sendPoll") == []
    # members cannot start a poll
    assert "only brand staff" in await say(harness, "/poll_new", user=MIA, chat=MIA)
    async with harness.session() as session:
        assert (await session.execute(select(Poll))).first() is None


def photo_of(harness: Harness, message: StoredMessage) -> Image.Image:
    data = harness.emulator.file_bytes(message.raw["photo"][-1]["file_id"])
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_a_chinese_poll_result_is_a_numbered_chart_with_the_options_in_the_caption(
    harness: Harness,
) -> None:
    # given a poll whose options are Chinese, voted in two groups
    await given_staff(harness)
    poll = await create_poll(harness, points="0", options="茉莉花 | 桂花 <新> | 荔枝")
    assert poll.id is not None
    copies = await poll_ids(harness, poll.id)
    await vote(harness, MIA, copies[TEA], [1])
    await vote(harness, LEE, copies[MATCHA], [1])
    await vote(harness, KAI, copies[COFFEE], [2])
    # when it closes
    await harness.send(SAM, SAM, f"/poll_close {poll.id}")
    # then every group and Sam get one photo: a PNG of sensible size
    results = {
        chat: harness.emulator.bot_messages(chat)[-2 if chat == SAM else -1]
        for chat in (TEA, COFFEE, MATCHA, SAM)
    }
    for message in results.values():
        assert message.kind == "photo"
        image = photo_of(harness, message)
        assert image.format == "PNG"
        assert image.width == 800 and 150 <= image.height <= 1000
    # whose caption lists every option with its number and count (escaped, shown as written)
    for chat in (TEA, COFFEE, SAM):
        caption = results[chat].text or ""
        assert "▫️ 1. 茉莉花: 0 (0%)" in caption
        assert "🏆 2. 桂花 <新>: 2 (67%)" in caption
        assert "▫️ 3. 荔枝: 1 (33%)" in caption
    # (Matcha Club reads it in Chinese)
    matcha = results[MATCHA].text or ""
    assert "▫️ 1. 茉莉花：0（0%）" in matcha
    assert "🏆 2. 桂花 <新>：2（67%）" in matcha
    assert "▫️ 3. 荔枝：1（33%）" in matcha
    # and the image carries no option text: the same figures with other words draw the same
    # picture, so nothing in it can turn into boxes on a host without a CJK font
    async with harness.session() as session:
        view = await get_poll(session, poll.id)
        assert view is not None
        result = await tally(session, view)
    latin = dataclasses.replace(result, poll=dataclasses.replace(view, options=("a", "b", "c")))
    sent = harness.emulator.file_bytes(results[TEA].raw["photo"][-1]["file_id"])
    assert result_chart(latin) == sent


async def test_a_result_too_long_for_a_caption_follows_the_chart_as_a_message(
    harness: Harness,
) -> None:
    # given a poll of 12 options of 100 characters each: far beyond a 1024-character caption
    await given_staff(harness)
    options = [f"{i:02d}" + "桂" * 98 for i in range(1, 13)]
    poll = await create_poll(harness, points="0", options=" | ".join(options))
    assert poll.id is not None
    copies = await poll_ids(harness, poll.id)
    await vote(harness, MIA, copies[TEA], [11])
    # when it closes
    await harness.send(SAM, SAM, f"/poll_close {poll.id}")
    # then each group gets the chart, then the numbered options as a message of its own
    for chat in (TEA, COFFEE, MATCHA):
        chart, legend = harness.emulator.bot_messages(chat)[-2:]
        assert chart.kind == "photo" and not chart.text
        assert legend.kind == "text"
        for number, option in enumerate(options, start=1):
            assert f" {number}. {option}" in (legend.text or "")
    assert "🏆 12. 12" in (harness.emulator.bot_messages(TEA)[-1].text or "")
    assert photo_of(harness, harness.emulator.bot_messages(TEA)[-2]).height > 12 * 40


async def test_a_pre_sale_of_a_product_that_is_not_the_winner_is_refused(
    harness: Harness,
) -> None:
    # given poll #1 chose Osmanthus, and the store has Jasmine tea (#1) and Osmanthus oolong (#2)
    await given_staff(harness)
    await say(harness, "/product_add Jasmine tea | 39.00 CNY | stock 100")
    await say(harness, "/product_add Osmanthus oolong | 49.00 CNY | stock 100")
    poll = await create_poll(harness, points="0")
    copies = await poll_ids(harness, 1)
    await vote(harness, MIA, copies[COFFEE], [1])
    await harness.send(SAM, SAM, f"/poll_close {poll.id}")
    # when Sam puts product #1 on pre-sale as the winner
    reply = await say(harness, "/poll_presale 1 1 7d min=20")
    # then it is refused with the reason, and nothing is opened or announced
    assert reply == (
        "Product #1 is Jasmine tea, but poll #1 chose Osmanthus. Put the winner on sale: send "
        "/poll_presale 1 with the id of the product that is Osmanthus (create it with "
        "/product_add if it does not exist yet)."
    )
    async with harness.session() as session:
        assert (await session.execute(select(GroupBuy))).first() is None
        linked = await session.get(Poll, 1)
    assert linked is not None and linked.presale_groupbuy_id is None
    assert not any("pre-sale" in (m.text or "") for m in harness.emulator.bot_messages(TEA))
    # and the winner's product opens
    assert await say(harness, "/poll_presale 1 2 7d min=20") == (
        "Pre-sale group-buy #1 of Osmanthus opened in 3 groups."
    )
    async with harness.session() as session:
        gb = (await session.execute(select(GroupBuy))).scalar_one()
    assert gb.product_id == 2 and gb.title == "Osmanthus oolong"
