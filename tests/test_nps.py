"""NPS end to end: a pickup or staff ask members who opted in, each at most once in 30 days; scores
come back by buttons with an optional comment; the report computes promoters − detractors per
community."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import select

from bot.transactions import unit_of_work
from handlers.views.nps import ask_after_pickup
from models.nps import NpsAsked, NpsSurvey
from models.order import Order
from services.nps import NpsScore
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness

SCORES = [str(i) for i in range(11)]  # the buttons under the NPS question


async def opt_in(harness: Harness, user: int) -> None:
    await harness.send(user, user, "/start")
    start = harness.emulator.last_bot_message(user)
    offers = next(i for i, text in enumerate(start.button_texts) if text.startswith("🔔"))
    await harness.press(user, user, start.message_id, index=offers)
    offer = harness.emulator.last_bot_message(user)
    await harness.press(user, user, offer.message_id, index=0)  # yes


async def score(harness: Harness, user: int, value: int) -> None:
    """Answer the latest NPS question (other messages, such as the pickup thanks that is sent
    once the pickup committed, may come after it)."""
    scale = [str(i) for i in range(11)]
    questions = [m for m in harness.emulator.bot_messages(user) if m.button_texts == scale]
    assert questions, "no NPS question was sent"
    await harness.press(user, user, questions[-1].message_id, index=value)


def test_the_score_is_promoters_minus_detractors() -> None:
    assert NpsScore(None, promoters=5, passives=3, detractors=2).score == 30
    assert NpsScore(None, promoters=0, passives=0, detractors=1).score == -100
    assert NpsScore(None, promoters=0, passives=0, detractors=0).score == 0


async def test_staff_ask_opted_in_members_once_in_30_days(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    for user in (MIA, LEE, KAI):
        await opt_in(harness, user)
    await harness.send(SAM, SAM, "/start")  # Sam has not opted in: not asked
    async with harness.session() as session, session.begin():
        # Mia's and Lee's answers count for Tea Lovers, Kai's for Coffee Club (their orders)
        for member, chat in ((MIA, TEA), (LEE, TEA), (KAI, COFFEE)):
            session.add(
                Order(
                    member_id=member,
                    chat_id=chat,
                    title="Oolong",
                    quantity=1,
                    unit_price=100,
                    currency="CNY",
                    payment_mode="offline",
                    status="fulfilled",
                )
            )
    # when Sam sends /nps
    assert await harness.send(SAM, SAM, "/nps") == [
        "The NPS question went to 3 members (opted in, not asked in the last 30 days)."
    ]
    assert harness.emulator.last_bot_message(LEE).text.startswith("你有多大可能")
    # and they answer: Mia 10 with a comment, Lee 6, Kai 8
    await score(harness, MIA, 10)
    assert harness.emulator.last_bot_message(MIA).text == (
        "Anything you would like to tell us? Send a comment, or /skip."
    )
    assert await harness.send(MIA, MIA, "Love the <oolong>") == [
        "Thank you! The team will read it."
    ]
    await score(harness, LEE, 6)
    await harness.send(LEE, LEE, "/skip")
    await score(harness, KAI, 8)
    # then asking again within 30 days reaches nobody
    assert (await harness.send(SAM, SAM, "/nps"))[0].startswith("The NPS question went to 0")
    assert (await harness.send(MIA, MIA, "/nps_me"))[0].startswith("You rated us recently.")
    # and the report shows NPS per community: Tea 1 promoter, 1 detractor -> 0; Coffee +0;
    # Mia's comment under Tea Lovers
    assert await harness.send(SAM, SAM, "/nps_report") == [
        "NPS over the last 90 days\n"
        "Overall: NPS +0 (3 answers; promoters 1, passives 1, detractors 1)\n\n"
        "Coffee Club: NPS +0 (1 answer; promoters 0, passives 1, detractors 0)\n\n"
        "Tea Lovers: NPS +0 (2 answers; promoters 1, passives 0, detractors 1)\n"
        "Latest comments:\n"
        "• 10: Love the <oolong>"  # escaped: shown as written
    ]
    # after 30 days Mia may be asked again
    harness.clock.advance(days=31)
    assert (await harness.send(MIA, MIA, "/nps_me"))[0].startswith("How likely are you")
    assert len(harness.emulator.last_bot_message(MIA).button_texts) == 11
    async with harness.session() as session:
        surveys = (await session.execute(select(NpsSurvey))).scalars().all()
    assert len(surveys) == 4


async def test_a_pickup_asks_an_opted_in_member_once_in_30_days(harness: Harness) -> None:
    # given Mia opted in to offers and buys in Tea Lovers, then in Coffee Club
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 20")
    await opt_in(harness, MIA)
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(MIA, COFFEE, "/buy 1")
    # when Lee marks her Tea Lovers order picked up
    await harness.send(LEE, TEA, "/pickedup @mia")
    # then Mia gets the NPS question, and her answer counts for Tea Lovers, the group of the
    # order she picked up (not Coffee Club, where she ordered last)
    await score(harness, MIA, 9)
    await harness.send(MIA, MIA, "/skip")
    # and a second pickup within 30 days does not ask again
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    before = len(harness.emulator.bot_messages(MIA))
    await harness.send(LEE, TEA, "/pickedup @mia")
    assert all(
        not m.text.startswith("How likely") for m in harness.emulator.bot_messages(MIA)[before:]
    )
    report = (await harness.send(SAM, SAM, "/nps_report"))[0].splitlines()
    assert "Tea Lovers: NPS +100 (1 answer; promoters 1, passives 0, detractors 0)" in report
    assert not any(line.startswith("Coffee Club") for line in report)
    # and Kai, who never opted in to messages from the brand, is not asked after his pickup
    await harness.send(KAI, KAI, "/start")
    await harness.send(KAI, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @kai")
    assert (await harness.send(LEE, TEA, "/pickedup @kai"))[0].startswith(
        "Marked picked up for Kai: #"
    )
    assert not any(m.button_texts == SCORES for m in harness.emulator.bot_messages(KAI))
    # after 30 days, Kai marks Mia's Coffee Club order picked up with the button: she is
    # asked again, and this answer counts for Coffee Club
    harness.clock.advance(days=31)
    await harness.send(KAI, COFFEE, "/paid @mia")
    await harness.send(KAI, COFFEE, "/orders")
    card = harness.emulator.last_bot_message(COFFEE)
    picked = [i for i, label in enumerate(card.button_texts) if label.startswith("📦")]
    assert len(picked) == 1
    await harness.press(KAI, COFFEE, card.message_id, index=picked[0])
    await score(harness, MIA, 3)
    await harness.send(MIA, MIA, "/skip")
    report = (await harness.send(SAM, SAM, "/nps_report"))[0].splitlines()
    assert "Coffee Club: NPS -100 (1 answer; promoters 0, passives 0, detractors 1)" in report
    # nor is Mia asked after she opts out with /stop, once the 30 days have passed again
    await harness.send(MIA, MIA, "/stop")
    harness.clock.advance(days=31)
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    before = len(harness.emulator.bot_messages(MIA))
    assert (await harness.send(LEE, TEA, "/pickedup @mia"))[0].startswith(
        "Marked picked up for Mia: #"
    )
    assert not any(m.button_texts == SCORES for m in harness.emulator.bot_messages(MIA)[before:])
    async with harness.session() as session:
        assert len((await session.execute(select(NpsSurvey))).all()) == 2


async def answered(
    harness: Harness, community: int, member: int, value: int, comment: str = ""
) -> None:
    """An NPS answer stored as the buttons store it."""
    async with harness.session() as session, session.begin():
        session.add(
            NpsSurvey(
                member_id=member,
                community_id=community,
                asked_at=harness.clock.now,
                score=value,
                comment=comment,
                answered_at=harness.clock.now,
            )
        )


async def test_the_report_gives_each_community_its_score_and_its_comments(
    harness: Harness,
) -> None:
    # given answers in Tea Lovers: 10, 9, 9 (promoters), 7 (passive), 3 (detractor)
    await harness.join_groups()
    for user in (SAM, MIA, LEE, KAI, OWNER):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await answered(harness, TEA, MIA, 10, "Great <tea>")
    await answered(harness, TEA, LEE, 9)
    await answered(harness, TEA, KAI, 9)
    await answered(harness, TEA, SAM, 7)
    harness.clock.advance(minutes=1)
    await answered(harness, TEA, OWNER, 3, "Late pickup")
    # and in Coffee Club: 10 (promoter), 8 (passive), 6 and 0 (detractors)
    await answered(harness, COFFEE, MIA, 10)
    await answered(harness, COFFEE, LEE, 8)
    await answered(harness, COFFEE, KAI, 6)
    await answered(harness, COFFEE, SAM, 0, "Cold coffee")
    # when Sam asks for the report
    replies = await harness.send(SAM, SAM, "/nps_report")
    # then Tea: (3 - 1) / 5 = +40; Coffee: (1 - 2) / 4 = -25; overall (4 - 3) / 9 = +11, and
    # each community lists its own comments, newest first
    assert replies == [
        "NPS over the last 90 days\n"
        "Overall: NPS +11 (9 answers; promoters 4, passives 2, detractors 3)\n\n"
        "Coffee Club: NPS -25 (4 answers; promoters 1, passives 1, detractors 2)\n"
        "Latest comments:\n"
        "• 0: Cold coffee\n\n"
        "Tea Lovers: NPS +40 (5 answers; promoters 3, passives 1, detractors 1)\n"
        "Latest comments:\n"
        "• 3: Late pickup\n"
        "• 10: Great <tea>"
    ]
    # and when long comments do not fit one message, each community still comes whole
    for member in (MIA, LEE, KAI, SAM, OWNER):
        await answered(harness, TEA, member, 9, "茶" * 500)
        await answered(harness, COFFEE, member, 9, "咖" * 500)
    replies = await harness.send(SAM, SAM, "/nps_report")
    assert len(replies) == 2
    assert (
        "\nCoffee Club: NPS +44 (9 answers; promoters 6, passives 1, detractors 2)\n"
        in (replies[0])
    )
    assert replies[0].count("• 9: " + "咖" * 500) == 5 and "Cold coffee" not in replies[0]
    assert replies[1].startswith(
        "Tea Lovers: NPS +70 (10 answers; promoters 8, passives 1, detractors 1)\n"
    )
    assert replies[1].count("• 9: " + "茶" * 500) == 5


async def test_concurrent_pickups_ask_once(harness: Harness) -> None:
    # given Mia opted in and was never asked
    await harness.join_groups()
    await opt_in(harness, MIA)
    before = len(harness.emulator.bot_messages(MIA))
    runtime = harness.runtime

    async def pickup(community: int) -> None:
        for _attempt in range(50):  # as an update is retried when the database says so
            try:
                with runtime.i18n.context():
                    # the question goes out once the claim is committed
                    async with unit_of_work(runtime.sessions) as unit:
                        await ask_after_pickup(
                            runtime.bot,
                            runtime.i18n,
                            unit.session,
                            MIA,
                            community_id=community,
                            now=harness.clock.now,
                            settings=runtime.settings,
                            after_commit=unit,
                        )
                return
            except (OperationalError, DBAPIError) as exc:
                if "locked" not in str(exc) and "serializ" not in str(exc):
                    raise
                await asyncio.sleep(0.01)

    # when two leaders mark her orders picked up at the same moment, in two groups
    await asyncio.gather(pickup(TEA), pickup(COFFEE), pickup(TEA))
    # then she gets the question once, and one survey is stored
    questions = [
        m
        for m in harness.emulator.bot_messages(MIA)[before:]
        if (m.text or "").startswith("How likely")
    ]
    assert len(questions) == 1
    async with harness.session() as session:
        surveys = (await session.execute(select(NpsSurvey))).scalars().all()
        asked = (await session.execute(select(NpsAsked))).scalars().all()
    assert len(surveys) == 1 and [a.member_id for a in asked] == [MIA]
