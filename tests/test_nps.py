"""NPS end to end: a pickup or staff ask members who opted in, each at most once in 30 days; scores
come back by buttons with an optional comment; the report computes promoters − detractors per
community."""

from __future__ import annotations

from sqlmodel import select

from models.order import Order
from models.suggestion import NpsSurvey
from services.nps import NpsScore
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness


async def opt_in(harness: Harness, user: int) -> None:
    await harness.send(user, user, "/start")
    start = harness.emulator.last_bot_message(user)
    await harness.press(user, user, start.message_id, index=2)  # 🔔 Offers
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
    # and the report shows NPS per community: Tea 1 promoter, 1 detractor -> 0; Coffee +0
    report = (await harness.send(SAM, SAM, "/nps_report"))[0].splitlines()
    assert report[1] == ("Overall: NPS +0 (3 answers: 1 promoters, 1 passives, 1 detractors)")
    assert "Tea Lovers: NPS +0 (2 answers: 1 promoters, 0 passives, 1 detractors)" in report
    assert "Coffee Club: NPS +0 (1 answers: 0 promoters, 1 passives, 0 detractors)" in report
    assert "• 10: Love the <oolong>" in report  # escaped: shown as written
    # after 30 days Mia may be asked again
    harness.clock.advance(days=31)
    assert (await harness.send(MIA, MIA, "/nps_me"))[0].startswith("How likely are you")
    assert len(harness.emulator.last_bot_message(MIA).button_texts) == 11
    async with harness.session() as session:
        surveys = (await session.execute(select(NpsSurvey))).scalars().all()
    assert len(surveys) == 4


async def test_a_pickup_asks_an_opted_in_member_once_in_30_days(harness: Harness) -> None:
    # given Mia opted in to offers and buys twice in Tea Lovers
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 20")
    await opt_in(harness, MIA)
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    # when Lee marks her order picked up
    await harness.send(LEE, TEA, "/pickedup @mia")
    # then Mia gets the NPS question, and her answer counts for Tea Lovers
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
    assert "Tea Lovers: NPS +100 (1 answers: 1 promoters, 0 passives, 0 detractors)" in report
