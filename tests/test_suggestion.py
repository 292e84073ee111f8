"""The suggestion box end to end: members suggest from a group or in private, bad input is
refused, staff adopt or decline with a reply that reaches the author in their language, the
adopted author earns points once, and staff see the counts per community and month."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from models.suggestion import Suggestion
from services.points import points_balance
from services.suggestion import MAX_PER_DAY, SuggestionError, decide, submit
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness


async def given_staff(harness: Harness) -> None:
    await harness.join_groups()
    for user in (SAM, MIA, LEE, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def tap(harness: Harness, label: str, message_id: int, *, user: int = SAM) -> str | None:
    message = next(m for m in harness.emulator.messages(user) if m.message_id == message_id)
    return await harness.press(user, user, message_id, index=message.button_texts.index(label))


async def test_a_suggestion_adopted_and_one_declined(harness: Harness) -> None:
    await given_staff(harness)
    # given Lee (Simplified Chinese) suggests in Tea Lovers and Mia in private
    reply = await harness.send(LEE, TEA, "/suggest 出一款 <桂花> 乌龙")
    # (the group speaks English, so the group hears English)
    assert reply == ["Thank you! Suggestion #1 is with the brand team; you will hear back."]
    assert await harness.send(MIA, MIA, "/suggest Smaller tins please") == [
        "Thank you! Suggestion #2 is with the brand team; you will hear back."
    ]
    # when Sam lists the new suggestions
    listed = await harness.send(SAM, SAM, "/suggestions")
    assert listed[0] == "Suggestion #1 from Lee (Tea Lovers):\n出一款 <桂花> 乌龙"
    assert listed[1] == "Suggestion #2 from Mia (private chat):\nSmaller tins please"
    first, second = harness.emulator.bot_messages(SAM)[-2:]
    # and adopts #1 with a reply
    await tap(harness, "✅ Adopt", first.message_id)
    assert harness.emulator.last_bot_message(SAM).text.startswith("Write a short reply")
    done = await harness.send(SAM, SAM, "Coming this spring!")
    assert done == ["Suggestion #1 adopted. The author was told."]
    # then Lee hears it in Chinese, with the points
    told = harness.emulator.last_bot_message(LEE).text or ""
    assert told.startswith("好消息：品牌采纳了你的建议 #1！")
    assert "你获得了 50 积分。" in told
    assert "团队回复：Coming this spring!" in told
    async with harness.session() as session:
        assert await points_balance(session, LEE) == 50
    # when Sam declines #2 without a reply
    await tap(harness, "✖️ Decline", second.message_id)
    assert await harness.send(SAM, SAM, "/skip") == ["Suggestion #2 declined. The author was told."]
    assert (harness.emulator.last_bot_message(MIA).text or "").startswith(
        "Thank you for suggestion #2. This time the brand will not take it up."
    )
    async with harness.session() as session:
        assert await points_balance(session, MIA) == 0
    # and pressing Adopt again on #1 decides nothing twice
    answer = await tap(harness, "✅ Adopt", first.message_id)
    assert answer == "Another staff member already decided on that suggestion."
    async with harness.session() as session:
        assert await points_balance(session, LEE) == 50
    # and staff see the counts per community and month
    stats = (await harness.send(SAM, SAM, "/suggestions stats"))[0].splitlines()
    month = harness.clock.now.strftime("%Y-%m")
    assert f"{month} · Tea Lovers: 1 made, 1 adopted" in stats
    assert f"{month} · private chat: 1 made, 0 adopted" in stats
    assert await harness.send(SAM, SAM, "/suggestions") == ["No new suggestions."]


async def test_bad_suggestions_are_refused_and_nothing_is_stored(harness: Harness) -> None:
    await given_staff(harness)
    assert await harness.send(MIA, MIA, "/suggest") == [
        "Write your idea after the command, for example: /suggest A jasmine oolong"
    ]
    assert await harness.send(MIA, COFFEE, "/suggest " + "x" * 501) == [
        "A suggestion can be at most 500 characters."
    ]
    await harness.send(MIA, MIA, "/suggest Gift boxes")
    assert await harness.send(MIA, MIA, "/suggest  gift   BOXES") == [
        "You already sent that suggestion. Thank you, it is with the team."
    ]
    for i in range(4):
        await harness.send(MIA, MIA, f"/suggest idea {i}")
    assert await harness.send(MIA, MIA, "/suggest one more") == [
        "You sent 5 suggestions in the last 24 hours. Please wait a little."
    ]
    assert await harness.send(MIA, MIA, "/suggestions") == ["Sorry, only brand staff can do that."]
    async with harness.session() as session:
        assert len((await session.execute(select(Suggestion))).all()) == 5


async def test_two_staff_deciding_at_once_decide_once(harness: Harness) -> None:
    await given_staff(harness)
    await harness.send(OWNER, OWNER, "/start")
    await harness.send(MIA, MIA, "/suggest Matcha")

    async def adopt(staff: int) -> str:
        try:
            async with harness.session() as session, session.begin():
                await decide(
                    session,
                    suggestion_id=1,
                    adopt=True,
                    reply="",
                    staff_id=staff,
                    now=harness.clock.now,
                    points=50,
                    points_cap=500,
                )
            return "adopted"
        except SuggestionError as exc:
            return exc.reason

    outcomes = await asyncio.gather(adopt(SAM), adopt(OWNER))
    assert sorted(outcomes) == ["adopted", "decided"]
    async with harness.session() as session:
        assert await points_balance(session, MIA) == 50


async def test_concurrent_suggestions_keep_the_daily_limit_and_refuse_repeats(
    harness: Harness,
) -> None:
    await given_staff(harness)

    async def suggest(text: str) -> str:
        try:
            async with harness.session() as session, session.begin():
                await submit(
                    session, member_id=MIA, community_id=None, text=text, now=harness.clock.now
                )
            return "stored"
        except SuggestionError as exc:
            return exc.reason

    # eight different ideas at once: five a day are kept, whatever the timing
    outcomes = await asyncio.gather(*(suggest(f"Idea {n}") for n in range(8)))
    assert sorted(outcomes) == ["stored"] * MAX_PER_DAY + ["too_many"] * (8 - MAX_PER_DAY)
    # the same idea sent four times at once (by someone with room left) is kept once
    harness.clock.advance(days=2)
    outcomes = await asyncio.gather(*(suggest("More matcha") for _ in range(4)))
    assert sorted(outcomes) == ["repeated"] * 3 + ["stored"]
    async with harness.session() as session:
        texts = (await session.execute(select(Suggestion.text))).scalars().all()
    assert len(texts) == MAX_PER_DAY + 1 and texts.count("More matcha") == 1
