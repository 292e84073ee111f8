"""Product trials (体验官) end to end: staff create a trial in one line, candidates are invited
in private, the first to accept win the places (10 places raced by 15 candidates), the free
trial order is booked as a marketing expense, reminders on a controlled clock, the report with a
rating per aspect, words and photos, the summary and the CSV, a report shared as a review marked
as a free trial, ambassadors tagged for the next trial, the report rate in /stats; bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from bot.cli.playground_world import sample_photo
from bot.db import create_engine, create_session_factory
from handlers.views.trial import TrialCallback
from models.ledger import ACCOUNT_BRAND_GOODS_GIVEN, ACCOUNT_BRAND_MARKETING_EXPENSE
from models.member import Member
from models.nps import NpsSurvey
from models.order import ORDER_PAID, Order
from models.product import Product
from models.referral import REFERRAL_QUALIFIED, Referral, ReferralCode
from models.suggestion import SUGGESTION_ADOPTED, Suggestion
from models.tiers import MemberTier
from models.trial import INVITE_ACCEPTED, INVITE_MISSED, PAYMENT_TRIAL, Trial, TrialInvite
from services.ledger import AccountRef, balance
from services.member import UserInfo, record_member
from services.period import parse_period
from services.tables import TABLES, Query, csv_chunks
from services.trial import Audience, TrialError, answer_invite, create_trial, parse_audience
from tests.conftest import KAI, LEE, MIA, SAM, TEA, Harness, make_settings
from tests.test_loyalty import make_staff, points_of
from tests.test_points import retrying

ACCEPT_1 = TrialCallback(action="accept", trial_id=1).pack()


async def tea_and_staff(harness: Harness) -> None:
    """Sam is staff; Oolong tea (#1) sells at 9.90 CNY with 20 in stock; Mia and Kai started."""
    await harness.join_groups()
    await make_staff(harness)
    for user in (MIA, KAI, LEE):
        await harness.send(user, user, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 9.90 CNY | stock 20")


async def pick_up(harness: Harness, order_id: int) -> None:
    """Staff confirm the pickup of the order by its code (核销)."""
    async with harness.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None and order.pickup_code
    replies = await harness.send(SAM, SAM, f"/redeem {order.pickup_code}")
    async with harness.session() as session:
        order = await session.get(Order, order_id, populate_existing=True)
        assert order is not None and order.picked_up_at is not None, replies


async def test_a_trial_invites_accepts_reports_and_shares_as_a_free_trial_review(
    harness: Harness,
) -> None:
    # given Mia answered NPS with a 10 (a promoter) and ordered in Tea Lovers (order #1), and
    # Kai is hand-picked
    await tea_and_staff(harness)
    await harness.send(MIA, TEA, "/buy 1")
    async with harness.session() as session, session.begin():
        session.add(NpsSurvey(member_id=MIA, score=10, answered_at=harness.clock()))
    # when staff create a trial of two places
    harness.new_bot_messages(MIA)
    replies = await harness.send(
        SAM, SAM, "/trial_new 1 places=2 due=14d invite=promoters, @kai aspects=taste, packaging"
    )
    assert replies[0].startswith(
        "Trial #1 created: Oolong tea, 2 places worth CN¥9.90 each, report due "
    )
    assert "Invited in private: 2." in replies[0]
    # then the units leave the stock, and Mia is invited in private with two buttons
    async with harness.session() as session:
        product = await session.get(Product, 1)
        assert product is not None and product.stock == 17
    invitation = harness.new_bot_messages(MIA)[-1]
    assert "You are invited to try Oolong tea for free" in (invitation.text or "")
    assert "taste, packaging" in (invitation.text or "")
    # when Mia accepts, twice (a double tap)
    assert await harness.press(MIA, MIA, invitation.message_id, index=0) is None
    told = [m.text or "" for m in harness.new_bot_messages(MIA)]
    assert told[-1].startswith("Welcome aboard, ambassador! Your free trial order #2 of Oolong tea")
    assert (
        await harness.press(MIA, MIA, invitation.message_id, callback_data=ACCEPT_1, force=True)
        == "You already answered this invitation."
    )
    # then her free trial order is paid (nothing to pay) with a pickup code, and its value is a
    # marketing expense in the ledger, not revenue
    async with harness.session() as session:
        order = await session.get(Order, 2)
        assert order is not None
        assert (order.status, order.payment_mode, order.paid_amount, order.chat_id) == (
            ORDER_PAID,
            PAYMENT_TRIAL,
            0,
            TEA,  # the group she orders in: where her review may be shared
        )
        assert order.pickup_code
        expense = await balance(session, AccountRef(ACCOUNT_BRAND_MARKETING_EXPENSE), "CNY")
        given = await balance(session, AccountRef(ACCOUNT_BRAND_GOODS_GIVEN), "CNY")
        assert (expense, given) == (-990, 990)
    myorders = await harness.send(MIA, MIA, "/orders")
    assert any("#2 Oolong tea ×1 · 🎁 free trial" in text for text in myorders), myorders
    # the report waits until she has the goods: refused before the pickup
    assert (await harness.send(MIA, MIA, "/report"))[0].startswith(
        "Please pick up your free trial order #2 first"
    )
    await pick_up(harness, 2)

    # when Mia writes her report: a rating per aspect, words, a photo
    harness.new_bot_messages(MIA)
    await harness.send(MIA, MIA, "/report")
    question = harness.emulator.last_bot_message(MIA)
    assert question.text == "How do you rate its taste? (1 of 2)"
    # the same five stars as an order's rating
    assert question.button_texts == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]
    await harness.press(MIA, MIA, question.message_id, index=4)
    question = harness.emulator.last_bot_message(MIA)
    assert question.text == "How do you rate its packaging? (2 of 2)"
    await harness.press(MIA, MIA, question.message_id, index=2)
    assert harness.emulator.last_bot_message(MIA).text == (
        "Thank you! Now a few words: what did you like, what would you change?"
    )
    assert await harness.send(MIA, MIA, "Fragrant <and> smooth, the tin is plain") == [
        "Report saved. Send up to 5 photos of the product now, then tap Done (or Done right away)."
    ]
    harness.emulator.send_photo(MIA, MIA, sample_photo())
    await harness.feed_pending()
    added = harness.emulator.last_bot_message(MIA)
    assert added.text == "Photo added (1/5). Send more, or tap Done."
    await harness.press(MIA, MIA, added.message_id, index=0)
    consent = harness.emulator.last_bot_message(MIA)
    assert "received the product as a free trial" in (consent.text or "")
    assert (
        await harness.press(MIA, MIA, consent.message_id, index=0)
        == "Thank you! Your review shows on the product once the brand approves it."
    )
    # then staff read the set: the summary and the CSV
    harness.new_bot_messages(SAM)
    harness.emulator.send_message(SAM, SAM, "/trial 1")
    await harness.feed_pending()
    sent = harness.new_bot_messages(SAM)
    summary = sent[0].text or ""
    assert "Invited 2 · accepted 1 · declined 0 · too late 0" in summary
    assert "Reports: 1 of 1 (100%); good reports: 1" in summary
    assert "• taste: ⭐ 5.0" in summary and "• packaging: ⭐ 3.0" in summary
    assert sent[1].kind == "document"
    async with harness.session() as session:
        invite = await session.get(TrialInvite, (1, MIA))
        assert invite is not None and invite.good and invite.photos == 1
    # and the review, once approved, says the product was a free trial wherever it shows
    harness.new_bot_messages(SAM)
    harness.emulator.send_message(SAM, SAM, "/reviews")
    await harness.feed_pending()
    queue = harness.new_bot_messages(SAM)
    assert [m.kind for m in queue] == ["text", "photo"]
    assert queue[1].text == (
        "Order #2\n⭐⭐⭐⭐ Oolong tea · Mia\n🎁 Received free as a product trial\n"
        "Fragrant <and> smooth, the tin is plain"
    )
    # when staff approve it: no photo reward (the product was free), and Mia may share it
    before = await points_of(harness, MIA)
    harness.new_bot_messages(MIA)
    assert await harness.press(SAM, SAM, queue[1].message_id, index=0) == "Review #2 approved."
    assert await points_of(harness, MIA) == before
    asked = harness.new_bot_messages(MIA)[-1]
    assert "Would you like me to post it in your group?" in (asked.text or "")
    # then the post in Tea Lovers says the product was a free trial
    harness.new_bot_messages(TEA)
    await harness.press(MIA, MIA, asked.message_id, index=0)
    post = harness.new_bot_messages(TEA)
    assert [m.kind for m in post] == ["photo"]
    assert "🎁 Received free as a product trial" in (post[0].text or "")
    # and Mia, a good reporter, is tagged: the next trial for ambassadors invites her alone
    harness.new_bot_messages(MIA)
    replies = await harness.send(
        SAM, SAM, "/trial_new 1 名额=3 邀请=体验官 评分项=口感 报告截止=7d"
    )
    assert "Invited in private: 1." in replies[0]
    assert "You are invited to try Oolong tea" in (harness.new_bot_messages(MIA)[-1].text or "")


async def test_reminders_on_the_clock_a_late_report_and_the_report_rate_in_stats(
    harness: Harness,
) -> None:
    # given a trial due in 3 days: Mia accepts, Kai declines
    await tea_and_staff(harness)
    harness.new_bot_messages(MIA)
    harness.new_bot_messages(KAI)
    await harness.send(SAM, SAM, "/trial_new 1 places=2 due=3d invite=@mia,@kai aspects=taste")
    invitation = harness.new_bot_messages(MIA)[-1]
    await harness.press(MIA, MIA, invitation.message_id, index=0)
    declined = harness.new_bot_messages(KAI)[-1]
    await harness.press(KAI, KAI, declined.message_id, index=1)
    # (Kai reads Traditional Chinese)
    assert harness.emulator.last_bot_message(KAI).text == (
        "沒關係：你婉拒了Oolong tea的試用。謝謝你的回覆。"
    )
    harness.new_bot_messages(MIA)
    await pick_up(harness, 1)
    # (a free trial is reported on through its trial: no invitation to review it for points)
    await harness.runtime.notifier.drain()
    assert not any("How was order" in (m.text or "") for m in harness.new_bot_messages(MIA))
    clock = harness.runtime.trials
    # when the clock runs now: nothing is due yet
    assert (await clock.run()).reminded == 0
    # a day and an hour later the reminder goes, once
    harness.clock.advance(days=1, hours=1)
    harness.new_bot_messages(MIA)
    assert (await clock.run()).reminded == 1
    assert (await clock.run()).reminded == 0
    reminder = harness.new_bot_messages(MIA)
    assert len(reminder) == 1
    assert (reminder[0].text or "").startswith("A reminder: your trial report on Oolong tea")
    # past the due date and a day more: the trial closes (Kai's place returns to the stock)
    # and the late reminder goes once
    harness.clock.advance(days=3)
    report = await clock.run()
    assert (report.closed, report.late) == (1, 1)
    assert (await clock.run()).late == 0
    async with harness.session() as session:
        product = await session.get(Product, 1)
        assert product is not None and product.stock == 19
    late = harness.new_bot_messages(MIA)[-1]
    assert (late.text or "").startswith("Your trial report on Oolong tea was due on")
    # Kai cannot take the place any more
    assert (
        await harness.press(KAI, KAI, declined.message_id, callback_data=ACCEPT_1, force=True)
        == "你已經回覆過這個邀請了。"
    )
    # when Mia reports late from the reminder's button, briefly and without photos
    await harness.press(MIA, MIA, late.message_id, index=0)
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=3)
    await harness.send(MIA, MIA, "Nice")
    done = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, done.message_id, index=0)
    consent = harness.emulator.last_bot_message(MIA)
    assert await harness.press(MIA, MIA, consent.message_id, index=1) == (
        "Kept for the brand only. Thank you!"
    )
    # then the report counts, is not a good one, and no review was made of it
    async with harness.session() as session:
        invite = await session.get(TrialInvite, (1, MIA))
        assert invite is not None and invite.reported_at is not None and not invite.good
        assert invite.ratings == {"taste": 4}
    assert await harness.send(MIA, MIA, "/report") == ["You have no trial report to write now."]
    # and a review of the free trial order is taken, but earns no points
    points_before = await points_of(harness, MIA)
    [thanks] = await harness.send(MIA, MIA, "/review 1 5 lovely")
    assert thanks.startswith("Thank you for your review!") and "earned" not in thanks, thanks
    assert await points_of(harness, MIA) == points_before
    # /stats tells staff the trial report rate of the trials due in the period
    stats = await harness.send(SAM, SAM, "/stats")
    assert any("Trial reports: 1 of 1 ambassador (100%)" in t for t in stats)
    # and the dashboard's trials CSV holds every invitation with its report
    query = Query(
        scope=None, period=parse_period("30d", timezone="UTC", today=harness.clock().date())
    )
    async with harness.session() as session:
        chunks = [chunk async for chunk, _rows in csv_chunks(session, TABLES["trials"], query)]
    lines = b"".join(chunks).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("trial_id,title,due_at_utc,member_id,first_name,status,order_id")
    assert (
        lines[1].startswith("1,Oolong tea,")
        and f",{MIA},Mia,accepted,1,taste=4,Nice,0," in lines[1]
    )
    assert f",{KAI},Kai,declined,,,," in lines[2]


async def test_bad_input_gets_clear_messages(harness: Harness) -> None:
    await tea_and_staff(harness)
    assert (await harness.send(SAM, SAM, "/trial_new"))[0].startswith(
        "Create a trial with one line:"
    )
    assert await harness.send(SAM, SAM, "/trial_new 1 places=2 invite=friends aspects=taste") == [
        "I could not read whom to invite: friends. Use promoters, adopted, referrers, "
        "ambassadors, tier:NAME or @username."
    ]
    assert await harness.send(SAM, SAM, "/trial_new 9 places=2 invite=@mia aspects=taste") == [
        "There is no active product 9. See /products."
    ]
    assert await harness.send(SAM, SAM, "/trial_new 1 places=50 invite=@mia aspects=taste") == [
        "Not enough stock for that many places: 20 left."
    ]
    assert await harness.send(MIA, MIA, "/trial_new 1 places=2 invite=@mia aspects=taste") == [
        "Sorry, only brand staff can do that."
    ]
    assert await harness.send(SAM, SAM, "/trial_new 1 places=2 invite=adopted aspects=taste") == [
        "Nobody in that audience can be invited yet (they need a private chat with me): no "
        "trial was created."
    ]
    assert await harness.send(MIA, MIA, "/report") == ["You have no trial report to write now."]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def test_ten_places_raced_by_fifteen_candidates_have_exactly_ten_winners(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a trial of 10 places for 15 hand-picked members
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    people = list(range(1, 16))
    async with sessions() as session, session.begin():
        for person in [*people, 99]:
            await record_member(session, user=UserInfo(person, f"m{person}"), default_locale="en")
        session.add(
            Product(title="Oolong tea", price=990, currency="CNY", stock=100, created_by=99)
        )
    async with sessions() as session, session.begin():
        await session.execute(update(Member).values(started=True))
        created = await create_trial(
            session,
            product_id=1,
            variant="",
            places=10,
            audience=Audience(people=tuple(str(p) for p in people)),
            aspects=("taste",),
            due_at=now + timedelta(days=14),
            created_by=99,
            now=now,
        )
    assert len(created.invitees) == 15

    # when all 15 accept at once
    async def accept(member_id: int) -> str:
        async def work(session: AsyncSession) -> str:
            try:
                answer = await answer_invite(
                    session, trial_id=created.trial.id, member_id=member_id, accept=True, now=now
                )
            except TrialError as exc:
                return exc.reason
            return "won" if answer.won else "missed"

        return await retrying(sessions, work)

    outcomes = await asyncio.gather(*(accept(p) for p in people))
    # then exactly 10 win, 5 are told every place was taken, and 10 free orders exist
    assert outcomes.count("won") == 10 and outcomes.count("missed") == 5
    async with sessions() as session:
        trial = await session.get(Trial, created.trial.id)
        assert trial is not None and trial.taken == 10
        statuses = (await session.execute(select(col(TrialInvite.status)))).scalars().all()
        assert statuses.count(INVITE_ACCEPTED) == 10 and statuses.count(INVITE_MISSED) == 5
        orders = (await session.execute(select(Order))).scalars().all()
        assert len(orders) == 10
        assert await balance(session, AccountRef(ACCOUNT_BRAND_MARKETING_EXPENSE), "CNY") == -9900


async def test_the_audience_names_promoters_adopted_referrers_a_tier_and_people(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given members 1-7: 1 a promoter (a 9, after an earlier 3), 2 a detractor now (a 10, then
    # a 4), 3 with an adopted suggestion, 4 who invited 5 (qualified), 6 in Gold, 7 nobody
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    async with sessions() as session, session.begin():
        for person in range(1, 8):
            await record_member(session, user=UserInfo(person, f"m{person}"), default_locale="en")
        await session.execute(update(Member).values(started=True))
        session.add(Product(title="Tea", price=990, currency="CNY", created_by=1))
        for member_id, score, hours in ((1, 3, 2), (1, 9, 1), (2, 10, 2), (2, 4, 1)):
            session.add(
                NpsSurvey(
                    member_id=member_id, score=score, answered_at=now - timedelta(hours=hours)
                )
            )
        session.add(Suggestion(member_id=3, text="Smaller tins", status=SUGGESTION_ADOPTED))
        session.add(ReferralCode(code="m4", member_id=4))
        await session.flush()
        session.add(Referral(invitee_id=5, referrer_id=4, code_id=1, status=REFERRAL_QUALIFIED))
        session.add(MemberTier(member_id=6, rank=2))

    async def invited(text: str) -> list[int]:
        async with sessions() as session, session.begin():
            created = await create_trial(
                session,
                product_id=1,
                variant="",
                places=1,
                audience=parse_audience(text),
                aspects=("taste",),
                due_at=now + timedelta(days=7),
                created_by=1,
                now=now,
            )
            return sorted(i.member_id for i in created.invitees)

    # then each word reaches whom it names, and they combine
    assert await invited("promoters") == [1]  # the latest answer counts: 1, not 2
    assert await invited("adopted") == [3]
    assert await invited("referrers") == [4]
    assert await invited("tier:gold") == [6]
    assert await invited("推荐者，采纳，等级：金卡，7") == [1, 3, 6, 7]
    with pytest.raises(TrialError) as refused:
        parse_audience("everyone")
    assert refused.value.reason == "bad_invite"
