"""A/B tests of promotions: the split is stable and balanced, attribution counts by hand what
a broadcast and a care rule earned against the hold-out, and the report reaches the staff
member who made the broadcast once its 48 hours have passed (a controlled clock)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.cli.playground import run_playground
from bot.db import create_engine, create_session_factory
from models.abtest import CareExposure
from models.broadcast import (
    BROADCAST_DONE,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    VARIANT_A,
    VARIANT_B,
    VARIANT_HOLDOUT,
    Broadcast,
    BroadcastRecipient,
)
from models.care import CareRule
from models.coupons import COUPON_USED, CouponTemplate, MemberCoupon
from models.member import Member
from models.order import ORDER_PAID, ORDER_RESERVED, Order, OrderEvent
from services import broadcast as outbox
from services.abtest import (
    MIN_ARM,
    OVERLAP,
    TOO_FEW,
    WON,
    Arm,
    Interval,
    arm_for,
    arm_sizes,
    split,
    verdict,
    wilson,
)
from services.attribution import broadcast_result, care_result, due_reports
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, Harness, make_settings
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_broadcast import tap
from tests.test_broadcast_outbox import MORNING
from tests.test_dashboard import client, sign_in
from tests.test_playground import ROOT, in_order

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below

# ---------------------------------------------------------------- the split ---------------

members = st.sets(st.integers(min_value=1, max_value=10**12), max_size=300)


@given(members, st.integers(min_value=0, max_value=50), st.integers(min_value=1, max_value=10**6))
def test_a_broadcast_split_is_stable_and_exactly_balanced(
    ids: set[int], holdout: int, broadcast_id: int
) -> None:
    key = f"broadcast:{broadcast_id}"
    arms = split(key, ids, holdout_pct=holdout, variants=2)
    # stable: the same members in another order (or again) land in the same arms
    assert split(key, sorted(ids, reverse=True), holdout_pct=holdout, variants=2) == arms
    counts = Counter(arms.values())
    assert set(arms) == ids
    # balanced: exactly the hold-out share (rounded down), A and B within one member
    assert counts[VARIANT_HOLDOUT] == len(ids) * holdout // 100
    assert abs(counts[VARIANT_A] - counts[VARIANT_B]) <= 1
    assert counts == Counter(
        {k: v for k, v in arm_sizes(len(ids), holdout_pct=holdout, variants=2).items() if v}
    )
    # one variant: everyone not held out gets A
    single = split(key, ids, holdout_pct=holdout, variants=1)
    assert VARIANT_B not in single.values()
    assert {m for m, a in single.items() if a == VARIANT_HOLDOUT} == {
        m for m, a in arms.items() if a == VARIANT_HOLDOUT
    }


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=10**12))
def test_a_care_split_is_stable_and_balanced_over_many_members(rule_id: int, first: int) -> None:
    key = f"care:{rule_id}"
    ids = range(first, first + 4000)
    arms = [arm_for(key, m, holdout_pct=20, variants=2) for m in ids]
    assert arms == [arm_for(key, m, holdout_pct=20, variants=2) for m in ids]
    counts = Counter(arms)
    # binomial spread: five standard deviations at most (the hash is not Python's hash())
    held_sd = (4000 * 0.2 * 0.8) ** 0.5
    assert abs(counts[VARIANT_HOLDOUT] - 800) <= 5 * held_sd
    rest = counts[VARIANT_A] + counts[VARIANT_B]
    assert abs(counts[VARIANT_A] - counts[VARIANT_B]) <= 5 * rest**0.5
    # no hold-out: nobody held out; one variant: nobody in B
    assert all(arm_for(key, m, holdout_pct=0, variants=2) != VARIANT_HOLDOUT for m in ids[:200])
    assert all(arm_for(key, m, holdout_pct=20, variants=1) != VARIANT_B for m in ids[:200])


def test_wilson_intervals_match_the_published_values() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I,
    # method 3 (score interval): in basis points, rounded outwards
    assert wilson(81, 263) == Interval(2552, 3663)  # 0.2553-0.3662
    assert wilson(15, 148) == Interval(623, 1605)  # 0.0624-0.1605
    assert wilson(0, 20) == Interval(0, 1612)  # 0-0.1611
    assert wilson(1, 29) == Interval(61, 1718)  # 0.0061-0.1718
    assert wilson(5, 10) == Interval(2365, 7635)  # 0.2366-0.7634
    assert wilson(10, 10) == Interval(7224, 10000)  # 0.7225-1
    assert wilson(0, 0) is None


def test_the_verdict_says_too_early_unless_the_intervals_are_apart() -> None:
    few = {VARIANT_A: Arm(10, 9), VARIANT_B: Arm(10, 0)}
    assert verdict(few).code == TOO_FEW
    close = {VARIANT_A: Arm(100, 12), VARIANT_B: Arm(100, 15)}
    assert verdict(close).code == OVERLAP
    # 30% against 10% of 200 each: 23.9-36.8% and 6.6-14.9% do not overlap
    apart = {VARIANT_A: Arm(200, 20), VARIANT_B: Arm(200, 60), VARIANT_HOLDOUT: Arm(50, 5)}
    found = verdict(apart)
    assert (found.code, found.winner) == (WON, VARIANT_B)
    assert found.beat_holdout == (VARIANT_B,) and found.holdout_unclear == (VARIANT_A,)
    # a variant alone against its hold-out
    alone = verdict({VARIANT_A: Arm(200, 60), VARIANT_HOLDOUT: Arm(MIN_ARM, 0)})
    assert (alone.code, alone.winner) == (WON, VARIANT_A)


# ---------------------------------------------------------------- attribution by hand -----

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday morning: no quiet hours
IDS = list(range(11, 19))  # eight members who opted in


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def paid(session: AsyncSession, member: int, amount: int, at: datetime) -> Order:
    """An order the member paid at `at` (reserved, then paid)."""
    order = Order(
        member_id=member,
        chat_id=member,
        title="tea",
        quantity=1,
        unit_price=amount,
        currency="CNY",
        payment_mode="offline",
        status=ORDER_PAID,
        paid_amount=amount,
        created_at=at,
        updated_at=at,
    )
    session.add(order)
    await session.flush()
    assert order.id is not None
    session.add(OrderEvent(order_id=order.id, to_status=ORDER_RESERVED, at=at))
    session.add(
        OrderEvent(order_id=order.id, from_status=ORDER_RESERVED, to_status=ORDER_PAID, at=at)
    )
    return order


async def given_members(session: AsyncSession) -> None:
    for uid in IDS:
        session.add(Member(id=uid, first_name=f"m{uid}", locale="en", started=True))
    await session.flush()
    for uid in IDS:
        await outbox.set_consent(session, member_id=uid, opted_in=True, wording_version="t", now=T0)


async def test_a_broadcast_earns_what_its_arms_paid_within_48_hours(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given eight members, a broadcast with variant B and a 25% hold-out
    async with sessions() as session, session.begin():
        await given_members(session)
        broadcast_id, plan = await outbox.create_broadcast(
            session,
            draft=outbox.Draft(
                text="A: new oolong",
                text_b="B: oolong, 20% off today",
                holdout_pct=25,
                targets="members",
                scheduled_at=T0,
                created_by=SAM,
            ),
            rules=make_settings().pacing_rules(),
            default_timezone="UTC",
        )
    # then two are held out (recorded, never to send), three get A and three get B
    assert plan.recipients == 6 and plan.skipped == {"holdout": 2}
    async with sessions() as session:
        rows = (
            await session.execute(
                select(BroadcastRecipient).where(
                    col(BroadcastRecipient.broadcast_id) == broadcast_id
                )
            )
        ).scalars()
        arms = {row.chat_id: (row.variant, row.status, row.not_before) for row in rows}
    by_arm = {
        arm: sorted(m for m, (v, _s, _n) in arms.items() if v == arm)
        for arm in (VARIANT_A, VARIANT_B, VARIANT_HOLDOUT)
    }
    assert [len(by_arm[a]) for a in (VARIANT_A, VARIANT_B, VARIANT_HOLDOUT)] == [3, 3, 2]
    assert all(arms[m][1] == RECIPIENT_SKIPPED for m in by_arm[VARIANT_HOLDOUT])
    assert by_arm == {
        arm: sorted(
            m
            for m, a in split(f"broadcast:{broadcast_id}", IDS, holdout_pct=25, variants=2).items()
            if a == arm
        )
        for arm in by_arm
    }
    (a1, a2, a3), (b1, b2, b3), (h1, h2) = (
        by_arm[VARIANT_A],
        by_arm[VARIANT_B],
        by_arm[VARIANT_HOLDOUT],
    )
    # when the six are sent at 10:00 (the hold-out's window starts at its planned slot,
    # 10:00 too) and the members pay:
    sent = T0
    async with sessions() as session, session.begin():
        await session.execute(
            update(BroadcastRecipient)
            .where(
                col(BroadcastRecipient.broadcast_id) == broadcast_id,
                col(BroadcastRecipient.variant) != VARIANT_HOLDOUT,
            )
            .values(status=RECIPIENT_SENT, sent_at=sent)
        )
        await session.execute(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .values(status=BROADCAST_DONE, finished_at=sent + timedelta(minutes=5))
        )
        await paid(session, a1, 1000, sent + timedelta(hours=1))  # A: counted
        await paid(session, a1, 500, sent + timedelta(hours=47))  # A: counted, same member
        await paid(session, a2, 900, sent + timedelta(hours=49))  # A: after the window
        await paid(session, a3, 800, sent - timedelta(hours=1))  # A: before the message
        await paid(session, b1, 2000, sent + timedelta(hours=2))  # B: counted
        await paid(session, b2, 300, sent + timedelta(hours=10))  # B: counted
        await paid(session, h1, 700, sent + timedelta(hours=5))  # hold-out: counted
        await paid(session, h2, 600, sent + timedelta(hours=50))  # hold-out: too late
    assert b3 and h2  # b3 never pays
    # then, by hand: A 1 of 3 (2 orders, 15.00), B 2 of 3 (2 orders, 23.00), hold-out 1 of 2
    async with sessions() as session:
        early = await broadcast_result(
            session, broadcast_id=broadcast_id, now=sent + timedelta(hours=30)
        )
        result = await broadcast_result(
            session, broadcast_id=broadcast_id, now=sent + timedelta(days=3)
        )
        assert await due_reports(session, now=sent + timedelta(hours=30)) == []
        assert await due_reports(session, now=sent + timedelta(days=3)) == [broadcast_id]
    assert result is not None and early is not None
    figures = {
        name: (arm.members, arm.converted, arm.orders, arm.revenue)
        for name, arm in result.arms.items()
    }
    assert figures == {
        VARIANT_A: (3, 1, 2, {"CNY": 1500}),
        VARIANT_B: (3, 2, 2, {"CNY": 2300}),
        VARIANT_HOLDOUT: (2, 1, 1, {"CNY": 700}),
    }
    assert result.closes_at == sent + timedelta(hours=48)
    assert result.complete and not early.complete
    assert result.verdict.code == TOO_FEW  # three members an arm prove nothing


async def test_a_care_rule_return_counts_members_won_back_and_what_it_spent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a care rule with a hold-out, exposures recorded as the care job does
    now = T0 + timedelta(days=30)
    async with sessions() as session, session.begin():
        await given_members(session)
        session.add(
            CareRule(
                to_segment="churned",
                text="We miss you",
                points=50,
                created_by=SAM,
                holdout_pct=50,
                text_b="Come back",
            )
        )
        template = CouponTemplate(
            code="BACK10", kind="fixed", value=1000, currency="CNY", created_by=SAM
        )
        session.add(template)
        await session.flush()
        assert template.id is not None
        rule_id = 1
        m1, m2, m3, m4, m5, m6, m7, _m8 = IDS
        day = timedelta(days=1)
        coupons = {}
        for member, used in ((m1, True), (m2, False), (m3, True)):
            coupon = MemberCoupon(
                template_id=template.id,
                member_id=member,
                status=COUPON_USED if used else "held",
                source=f"care:{rule_id}:{member}",
                granted_at=T0,
            )
            session.add(coupon)
            await session.flush()
            coupons[member] = coupon.id
        # (member, arm, when, points, coupon)
        for member, arm, at, points, coupon in (
            (m1, VARIANT_A, T0, 50, coupons[m1]),
            (m2, VARIANT_A, T0, 50, coupons[m2]),
            (m3, VARIANT_B, T0 + day, 50, coupons[m3]),
            (m4, VARIANT_HOLDOUT, T0, 0, None),
            (m5, VARIANT_HOLDOUT, T0 + day, 0, None),
            (m6, VARIANT_A, now - 3 * day, 50, None),  # still within its 14 days
            (m7, VARIANT_HOLDOUT, now - day, 0, None),  # still within its 14 days
        ):
            session.add(
                CareExposure(
                    rule_id=rule_id,
                    member_id=member,
                    arm=arm,
                    at=at,
                    points=points,
                    coupon_id=coupon,
                    key=f"{rule_id}:{member}",
                )
            )
        order = await paid(session, m1, 900, T0 + 3 * day)  # A: won back, with the coupon
        order.coupon_id, order.discount, order.unit_price = coupons[m1], 100, 1000
        await paid(session, m2, 400, T0 + 20 * day)  # A: too late (14 days)
        order = await paid(session, m3, 2000, T0 + 2 * day)  # B: won back, with the coupon
        order.coupon_id, order.discount, order.unit_price = coupons[m3], 1000, 3000
        await paid(session, m5, 300, T0 + 5 * day)  # hold-out: came back on their own
        await paid(session, m6, 300, now - day)  # not yet counted
    async with sessions() as session:
        result = await care_result(session, rule_id=rule_id, now=now, days=14)
    assert result is not None
    # then, by hand: A 1 of 2, B 1 of 1, hold-out 1 of 2 (m6 and m7 wait for their days)
    assert {n: (a.members, a.converted) for n, a in result.arms.items()} == {
        VARIANT_A: (2, 1),
        VARIANT_B: (1, 1),
        VARIANT_HOLDOUT: (2, 1),
    }
    assert result.pending == 2
    # it spent 200 points (four members given 50) and three coupons, two of them used,
    # taking 11.00 off their orders
    assert (result.points, result.coupons_granted, result.coupons_used) == (200, 3, 2)
    assert result.coupon_discount == {"CNY": 1100}


# ---------------------------------------------------------------- in chat -----------------


async def staff_and_members(harness: Harness) -> None:
    harness.clock.now = MORNING
    await harness.join_groups()
    for uid in (SAM, MIA, KAI, LEE):
        await harness.send(uid, uid, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    async with harness.session() as session, session.begin():
        for uid in (MIA, KAI, LEE):
            await outbox.set_consent(
                session, member_id=uid, opted_in=True, wording_version="t", now=MORNING
            )


TEXT_A = "New oolong is here: 39.90 CNY until Sunday 20:00"
TEXT_B = "Oolong for your weekend: 39.90 CNY until Sunday 20:00"


async def test_staff_split_a_broadcast_and_hear_which_won_after_48_hours(
    harness: Harness, dashboard: str
) -> None:
    # given Sam composes a broadcast to the three members who opted in
    await staff_and_members(harness)
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, TEXT_A)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "Members who opted in", user=SAM)
    await tap(harness, SAM, "Now", user=SAM)
    # when Sam adds variant B and holds out a third
    await tap(harness, SAM, "🅱️ Variant B", user=SAM)
    assert (harness.emulator.last_bot_message(SAM).text or "").startswith("Send variant B")
    await harness.send(SAM, SAM, TEXT_B)
    summary = harness.emulator.last_bot_message(SAM).text or ""
    assert "A/B test among the 3 members who get it in private: A 2, B 1, held out 0" in summary
    await tap(harness, SAM, "🎯 Hold-out", user=SAM)
    assert await harness.send(SAM, SAM, "80") == ["Send a whole number from 0 to 50, like 10."]
    await harness.send(SAM, SAM, "34%")
    summary = harness.emulator.last_bot_message(SAM).text or ""
    assert "A 1, B 1, held out 1 (recorded, not sent)" in summary
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    confirmed = harness.emulator.last_bot_message(SAM).text or ""
    assert "Broadcast #1 is scheduled for 2 chats." in confirmed
    assert "/broadcast_result 1 shows it at any time" in confirmed
    await harness.runtime.broadcasts.pump()
    # then each member got the text of their arm, and the held-out member nothing
    async with harness.session() as session:
        rows = (await session.execute(select(BroadcastRecipient))).scalars().all()
    arms = {row.chat_id: row.variant for row in rows if row.variant}
    assert sorted(arms.values()) == [VARIANT_A, VARIANT_B, VARIANT_HOLDOUT]
    assert arms == split("broadcast:1", [MIA, KAI, LEE], holdout_pct=34, variants=2)
    expected = {VARIANT_A: [TEXT_A], VARIANT_B: [TEXT_B], VARIANT_HOLDOUT: []}
    for member, arm in arms.items():
        got = [
            (m.text or "").split("\n", 1)[1]
            for m in harness.emulator.bot_messages(member)
            if "oolong" in (m.text or "").lower()
        ]
        assert got == expected[arm], (member, arm)
    # and on demand, the window is still open
    result = (await harness.send(SAM, SAM, "/broadcast_result 1"))[0]
    assert result.startswith("Result of broadcast #1\n")
    assert "Variant A: 0 of 1 member ordered, 0% (interval (95%): 0%–79.4%)" in result
    assert "The window is still open until 2026-11-25 10:00 (UTC)." in result
    status = harness.emulator.last_bot_message(SAM)
    await harness.send(SAM, SAM, "/broadcast_status 1")
    status = harness.emulator.last_bot_message(SAM)
    assert "📈 Result #1" in status.button_texts
    assert (await harness.send(SAM, SAM, "/broadcast_result x")) == [
        "Send /broadcast_result 12 with the number of the broadcast."
    ]
    assert (await harness.send(SAM, SAM, "/broadcast_result 99")) == ["There is no broadcast #99."]
    assert (await harness.send(MIA, MIA, "/broadcast_result 1")) == [
        "Sorry, only brand staff can do that."
    ]
    # when the clock passes 48 hours after the last message, the report reaches Sam once
    await harness.runtime.broadcasts.housekeeping()  # done
    harness.new_bot_messages(SAM)
    harness.clock.advance(hours=47)
    assert await harness.runtime.ab_reports.run() == 0
    harness.clock.advance(hours=2)
    assert await harness.runtime.ab_reports.run() == 1
    assert await harness.runtime.ab_reports.run() == 0
    [report] = [m.text or "" for m in harness.new_bot_messages(SAM)]
    assert report.startswith("Result of broadcast #1\n")
    assert "Held out for comparison: 34% of eligible members, who got nothing." in report
    assert "Too early to tell: an arm has fewer than 30 members." in report
    assert report.endswith("The window is closed: these are the final figures.")
    async with harness.session() as session:
        broadcast = await session.get(Broadcast, 1)
    assert broadcast is not None and broadcast.reported_at == harness.clock.now
    # and the dashboard's broadcast page shows the test, arm by arm
    async with client() as http:
        await sign_in(http, await login_link(harness, SAM))
        async with http.get(f"{dashboard}/broadcasts") as response:
            page = await response.text()
        # and its CSV link gives every arm of every test, one row each
        async with http.get(f"{dashboard}/csv/abtests") as response:
            assert response.status == 200
            assert response.headers["Content-Disposition"].endswith('filename="abtests.csv"')
            exported = (await response.read()).decode("utf-8-sig").splitlines()
    section = page.split('id="ab-tests"')[1].split("</section>")[0]
    assert 'href="csv/abtests"' in section
    assert exported[0].startswith(
        "broadcast_id,complete,arm,members,converted,conversion,ci95_low,ci95_high,orders,"
        "verdict,winner"
    )
    arms = {row.split(",")[2]: row.split(",") for row in exported[1:]}
    assert arms["b"][:6] == ["1", "yes", "b", "1", "0", "0.0000"]
    assert arms.keys() >= {"b", "holdout"} and arms["b"][9] == "too_few"
    assert "Broadcast #1 (final)" in section
    assert "<td>Variant B</td><td>1</td><td>0</td><td>0%</td>" in section
    assert "<td>Hold-out</td><td>1</td><td>0</td>" in section
    assert "Too early to tell: an arm has fewer than 30 members." in section


async def test_a_care_rule_tests_two_texts_against_a_hold_out(harness: Harness) -> None:
    await staff_and_members(harness)
    # bad hold-outs get a clear answer; a Chinese key is read too
    assert await harness.send(SAM, SAM, "/care_add new holdout=80 | Hi") == [
        "The hold-out is a whole number of percent from 0 to 50, like holdout=10."
    ]
    assert await harness.send(
        SAM, SAM, "/care_add new points=10 对照组=50 | Welcome! || Hello!"
    ) == ["Care rule #1 added: members entering new get it once."]
    overview = (await harness.send(SAM, SAM, "/care"))[0]
    assert "A/B test: variant B “Hello!”, hold-out 50%; /care_result 1" in overview
    # when the care job meets the new members
    await harness.runtime.care.run()
    await harness.runtime.notifier.drain()
    await harness.runtime.broadcasts.pump()
    async with harness.session() as session:
        exposures = (await session.execute(select(CareExposure))).scalars().all()
        rows = (
            await session.execute(
                select(BroadcastRecipient, Broadcast).join(
                    Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id)
                )
            )
        ).all()
    messages = {row.chat_id: (row.variant, broadcast.text) for row, broadcast in rows}
    assert exposures
    for exposure in exposures:
        # then each member's arm is the stable hash's, the held-out get nothing at all
        assert exposure.arm == arm_for("care:1", exposure.member_id, holdout_pct=50, variants=2)
        if exposure.arm == VARIANT_HOLDOUT:
            assert exposure.points == 0 and exposure.member_id not in messages
        else:
            assert exposure.points == 10
            text = {VARIANT_A: "Welcome!", VARIANT_B: "Hello!"}[exposure.arm]
            assert messages[exposure.member_id] == (exposure.arm, text)
    # and /care_result says it is early: nobody's 14 days have passed
    result = (await harness.send(SAM, SAM, "/care_result 1"))[0]
    given = sum(e.points for e in exposures)
    assert result.startswith("Return of care rule #1\n")
    assert "Nobody to count yet." in result
    assert f"Spent on it: {given} points; coupons given 0, used 0." in result
    assert await harness.send(SAM, SAM, "/care_result 9") == [
        "There is no care rule #9. /care lists them with their numbers."
    ]


async def test_the_report_reaches_staff_in_their_language(harness: Harness) -> None:
    # given Sam reads Simplified Chinese and made a test with a hold-out only
    await staff_and_members(harness)
    async with harness.session() as session, session.begin():
        await session.execute(update(Member).where(col(Member.id) == SAM).values(locale="zh_Hans"))
        await outbox.create_broadcast(
            session,
            draft=outbox.Draft(
                text=TEXT_A,
                holdout_pct=50,
                targets="members",
                scheduled_at=MORNING,
                created_by=SAM,
            ),
            rules=harness.runtime.settings.pacing_rules(),
            default_timezone="UTC",
        )
    await harness.runtime.broadcasts.pump()
    await harness.runtime.broadcasts.housekeeping()
    harness.new_bot_messages(SAM)
    # when 49 hours pass
    harness.clock.advance(hours=49)
    assert await harness.runtime.ab_reports.run() == 1
    # then the report is in Chinese: A against the hold-out, too early with so few members
    [report] = [m.text or "" for m in harness.new_bot_messages(SAM)]
    assert report.startswith("群发 #1 的效果\n")
    assert "留作对照：50% 的符合条件成员" in report
    assert "与对照组相比还看不出差别：A 版本。" in report
    assert report.endswith("统计期已结束：以上是最终数据。")


async def test_the_playground_scenario_reports_the_test_after_49_hours() -> None:
    lines: list[str] = []
    script = ROOT / "scenarios" / "abtest.txt"
    # the broadcast goes out at once whatever the hour the test runs at (quiet hours off)
    settings = make_settings(strict_transactions=True, promo_quiet_hours="off")
    assert await run_playground(settings, script=script, write=lines.append) == 0
    in_order(
        "\n".join(lines),
        [
            "A/B test among the 3 members who get it in private: A 1, B 1, held out 1",
            "The A/B test's result comes to you 48 hours after the last delivery",
            "The window is still open until ",
            "(49 hours pass)",
            "[alice (private)] bot: Result of broadcast #1",
            "Too early to tell: an arm has fewer than 30 members.",
            "The window is closed: these are the final figures.",
            "    [1] 📈 Result #1",
            "A/B test: variant B “Hello, tea friend!”, hold-out 20%; /care_result 1",
            "[bob (private)] bot: 群发 #1 的效果",
            "[bob (private)] bot: 关怀规则 #1 的召回效果",
        ],
    )
    assert not [line for line in lines if "Traceback" in line]
