"""Staff insights at the service level: every metric of services/analytics.py on a store seeded
through the real services, against answers worked out by hand below."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from bot.db import create_engine, create_session_factory
from models.order import Order, OrderEvent
from services.analytics import Figures, Funnel, Ratio, stats_report
from services.community import ChatInfo
from services.groupbuy import open_groupbuy, set_quantity, settle
from services.groups import bot_added
from services.member import UserInfo, record_member
from services.nps import record_score, start_survey
from services.order import mark_fulfilled, mark_paid_offline, place_order, refund_order
from services.period import parse_period
from services.points import spend
from services.poll import create_poll, record_answer, record_post
from services.product import create_product
from services.referral import ReferralRules, attribute, member_code, order_paid
from services.suggestion import decide, submit
from tests.conftest import make_settings

TEA, COFFEE = -1001, -1002
M1, M2, M3, M4, M5, M6 = 1, 2, 3, 4, 5, 6
LEADER = 99  # takes the cash at pickup (a member never marks their own order paid)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


def test_ratios_are_exact_and_round_half_up_in_basis_points() -> None:
    assert Ratio(1, 3).fraction == Fraction(1, 3)
    assert Ratio(1, 3).bps == 3333
    assert Ratio(2, 3).bps == 6667
    assert Ratio(1, 8).bps == 1250
    assert Ratio(1, 20_000).bps == 1  # 0.5 bp rounds up
    assert Ratio(0, 0).bps is None and Ratio(0, 0).fraction is None


async def backdate(session: AsyncSession, order_id: int, days: int) -> None:
    """Move an order and its history `days` back, as if it happened then."""
    delta = timedelta(days=days)
    order = await session.get(Order, order_id)
    assert order is not None
    order.created_at -= delta
    events = await session.execute(select(OrderEvent).where(col(OrderEvent.order_id) == order_id))
    for event in events.scalars():
        event.at -= delta
    await session.flush()


async def buy(
    session: AsyncSession, member: int, chat: int, product: int, quantity: int, *, pay: bool
) -> int:
    order = await place_order(
        session,
        member_id=member,
        chat_id=chat,
        product_id=product,
        quantity=quantity,
        max_total=10**9,
    )
    if pay:
        await mark_paid_offline(session, order_id=order.id, actor_id=LEADER)
    return order.id


async def seed(sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
    """The store the expected figures below were computed from (see each step's comment)."""
    rules = ReferralRules()  # the referrer earns 100 points when the invitee first pays
    async with sessions() as session, session.begin():
        for uid in (M1, M2, M3, M4, M5, M6):
            await record_member(session, user=UserInfo(uid, f"m{uid}"), default_locale="en")
        for chat, title in ((TEA, "Tea Lovers"), (COFFEE, "Coffee Club")):
            await bot_added(  # by staff: approved at once
                session,
                chat=ChatInfo(id=chat, title=title, chat_type="supergroup"),
                added_by=M1,
                owner_ids={M1},
                default_locale="en",
                default_timezone="UTC",
                now=now,
            )
        tea = await create_product(
            session, title="Oolong", price=10_000, currency="CNY", stock=None, created_by=M1
        )
        cake = await create_product(
            session, title="Mooncake", price=5_000, currency="CNY", stock=None, created_by=M1
        )
        # m3 joined through m1's invitation
        await attribute(
            session,
            member_id=M3,
            code=await member_code(session, M1),
            is_bot=False,
            first_seen=True,
            now=now,
            rules=rules,
        )
    async with sessions() as session, session.begin():
        # Tea Lovers: m1 pays 100 and 200 (picks the first up); m2 pays 100, refunded in full
        first = await buy(session, M1, TEA, tea.id, 1, pay=True)
        await mark_fulfilled(session, order_id=first, actor_id=LEADER)
        second = await buy(session, M1, TEA, tea.id, 2, pay=True)
        refunded = await buy(session, M2, TEA, tea.id, 1, pay=True)
        await refund_order(session, order_id=refunded, actor_id=M1)
        # Coffee Club: m3 pays 300 (its first order: m1's invitation qualifies), m4 has not paid
        coffee = await buy(session, M3, COFFEE, tea.id, 3, pay=True)
        await order_paid(session, order_id=coffee, now=now, rules=rules)
        await buy(session, M4, COFFEE, tea.id, 1, pay=False)
        # m2 pays 100 in a private chat: the brand's figure, no group's
        await buy(session, M2, M2, tea.id, 1, pay=True)
        # m5 paid 100 in Tea Lovers 40 days ago, and ordered there 10 days ago
        old = await buy(session, M5, TEA, tea.id, 1, pay=True)
        await backdate(session, old, 40)
        await backdate(session, await buy(session, M5, TEA, tea.id, 1, pay=False), 10)
        # m1's second order was paid two days ago
        await backdate(session, second, 2)
    async with sessions() as session, session.begin():
        # two group-buys of mooncakes at 50: one in both groups forms, one in Tea Lovers fails
        opened = now - timedelta(hours=2)
        both = await open_groupbuy(
            session,
            product_id=cake.id,
            opened_by=M1,
            chat_ids=[TEA, COFFEE],
            min_count=2,
            stock_cap=50,
            per_member_limit=3,
            deadline=now - timedelta(hours=1),
            now=opened,
            tiers=(),
        )
        alone = await open_groupbuy(
            session,
            product_id=cake.id,
            opened_by=M1,
            chat_ids=[TEA],
            min_count=3,
            stock_cap=50,
            per_member_limit=3,
            deadline=now - timedelta(hours=1),
            now=opened,
            tiers=(),
        )
        joins = ((both.id, M1, TEA), (both.id, M3, COFFEE), (alone.id, M1, TEA))
        for groupbuy, member, chat in joins:
            await set_quantity(
                session,
                groupbuy_id=groupbuy,
                member_id=member,
                chat_id=chat,
                quantity=1,
                now=opened + timedelta(minutes=5),
                add=True,
            )
    async with sessions() as session, session.begin():
        formed = await settle(session, groupbuy_id=both.id, now=now)
        await settle(session, groupbuy_id=alone.id, now=now)
        assert formed is not None and formed.formed
        # m1 pays the mooncake in Tea Lovers and picks it up; m3 has not paid theirs
        mine = next(o.id for o in formed.orders if o.member_id == M1)
        await mark_paid_offline(session, order_id=mine, actor_id=LEADER)
        await mark_fulfilled(session, order_id=mine, actor_id=LEADER)
    async with sessions() as session, session.begin():
        # m6 suggests in Coffee Club (adopted: 50 points) and spends 20; m4 suggests in private
        idea = await submit(session, member_id=M6, community_id=COFFEE, text="Oat milk", now=now)
        await decide(
            session,
            suggestion_id=idea.id,
            adopt=True,
            reply="Yes",
            staff_id=M1,
            now=now,
            points=50,
            points_cap=None,
        )
        await spend(session, member_id=M6, points=20, reason="redeem", key="test:redeem")
        await submit(session, member_id=M4, community_id=None, text="Longer hours", now=now)
        # NPS: m1 10 for Tea Lovers, m3 5 for Coffee Club, m2 8 with no group
        for member, group, value in ((M1, TEA, 10), (M3, COFFEE, 5), (M2, None, 8)):
            survey = await start_survey(
                session, member_id=member, community_id=group, now=now, interval=timedelta(0)
            )
            assert survey is not None
            await record_score(session, survey_id=survey, member_id=member, score=value, now=now)
        # m4 votes in the Coffee Club copy of a co-creation poll
        poll = await create_poll(
            session,
            question="Next flavour?",
            options=("Jasmine", "Lychee"),
            allows_multiple=False,
            anonymous=False,
            closes_at=now + timedelta(days=1),
            points_per_vote=0,
            tier_weighted=False,
            created_by=M1,
            now=now,
        )
        await record_post(
            session, poll_id=poll.id, chat_id=COFFEE, telegram_poll_id="tg-1", message_id=1
        )
        await record_answer(
            session, telegram_poll_id="tg-1", member_id=M4, option_ids=[0], now=now, points_cap=None
        )


def by_title(figures: tuple[Figures, ...]) -> dict[str, Figures]:
    return {f.title: f for f in figures}


async def test_every_metric_matches_the_figures_worked_out_by_hand(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await seed(sessions, now)
    today = now.date()
    period = parse_period("7d", timezone="UTC", today=today)
    async with sessions() as session:
        report = await stats_report(session, period=period, timezone="UTC", scope=None)
    brand = report.overall
    tea, coffee = (
        by_title(report.communities)["Tea Lovers"],
        by_title(report.communities)["Coffee Club"],
    )

    # paid in the period, refunds out: m1 100 + 200 + 50 (Tea Lovers), m3 300 (Coffee Club),
    # m2 100 (private); m2's refunded 100 and m5's 100 of 40 days ago are not counted
    assert (brand.paid_orders, brand.gmv) == (5, {"CNY": 75_000})
    assert brand.average_order == {"CNY": 15_000}
    assert (tea.paid_orders, tea.gmv, tea.average_order) == (3, {"CNY": 35_000}, {"CNY": 11_667})
    assert (coffee.paid_orders, coffee.gmv, coffee.average_order) == (
        1,
        {"CNY": 30_000},
        {"CNY": 30_000},
    )
    # repurchase: m1 paid 3 times, m2 and m3 once
    assert brand.repurchase == Ratio(1, 3) and brand.repurchase.bps == 3333
    assert tea.repurchase == Ratio(1, 1) and coffee.repurchase == Ratio(0, 1)
    # one group-buy formed (in both groups), one failed (in Tea Lovers)
    assert brand.formation == Ratio(1, 2) and brand.formation.bps == 5000
    assert tea.formation == Ratio(1, 2) and coffee.formation == Ratio(1, 1)
    # funnel of the two group-buys: 3 cards, 3 joins, m1's order paid and picked up
    assert brand.funnel == Funnel(cards=3, joins=3, paid=1, picked_up=1)
    assert tea.funnel == Funnel(cards=2, joins=2, paid=1, picked_up=1)
    assert coffee.funnel == Funnel(cards=1, joins=1, paid=0, picked_up=0)
    # active: m1..m4 and m6 this week; m5 ordered 10 days ago (30 days only)
    assert brand.active == {7: 5, 30: 6} and brand.active_in_period == 5
    assert tea.active == {7: 2, 30: 3}  # m1, m2; then m5
    assert coffee.active == {7: 3, 30: 3}  # m3, m4, m6
    # m4 voted in Coffee Club
    assert (brand.voters, brand.participation) == (1, Ratio(1, 5))
    assert (tea.voters, tea.participation) == (0, Ratio(0, 2))
    assert (coffee.voters, coffee.participation) == (1, Ratio(1, 3))
    # suggestions: m6's adopted (Coffee Club), m4's waiting (private)
    assert brand.suggestions == Ratio(1, 2)
    assert tea.suggestions == Ratio(0, 0) and coffee.suggestions == Ratio(1, 1)
    # NPS: one promoter, one passive, one detractor overall
    assert (brand.nps.promoters, brand.nps.passives, brand.nps.detractors) == (1, 1, 1)
    assert brand.nps.score == 0 and tea.nps.score == 100 and coffee.nps.score == -100
    # m1 invited m3, whose first order (Coffee Club) qualified
    assert (brand.referrals.invited, brand.referrals.qualified, brand.referrals.referrers) == (
        1,
        1,
        1,
    )
    assert brand.referrals.conversion == Ratio(1, 1)
    assert brand.referrals.viral_coefficient == Ratio(1, 1)
    assert coffee.referrals.qualified == 1 and tea.referrals.qualified == 0
    # points: 100 for the referral + 50 for the suggestion; 20 redeemed; 130 held
    assert brand.points is not None
    assert (brand.points.issued, brand.points.redeemed, brand.points.returned) == (150, 20, 0)
    assert brand.points.outstanding == 130
    assert tea.points is None and tea.tiers is None  # points belong to members, not groups
    assert brand.tiers is not None and sum(t.members for t in brand.tiers) == 6
    assert brand.tiers[0].members == 6  # nobody has climbed a tier
    # per day (UTC): today m1 100 + 50, m3 300, m2 100; two days ago m1's 200
    assert report.currency == "CNY"
    assert [d.day for d in report.days] == [today - timedelta(days=n) for n in range(6, -1, -1)]
    days = {d.day: (d.orders, d.gmv) for d in report.days if d.orders}
    assert days == {today: (4, 55_000), today - timedelta(days=2): (1, 20_000)}


async def test_a_groups_scope_never_counts_another_group(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await seed(sessions, now)
    period = parse_period("7d", timezone="UTC", today=now.date())
    async with sessions() as session:
        report = await stats_report(session, period=period, timezone="UTC", scope=frozenset({TEA}))
    # then only Tea Lovers is listed, and its figures are the whole of the scope
    assert [f.title for f in report.communities] == ["Tea Lovers"]
    assert report.overall.gmv == {"CNY": 35_000} and report.overall.paid_orders == 3
    assert report.overall.nps.score == 100 and report.overall.nps.total == 1
    assert report.overall.suggestions == Ratio(0, 0)
    assert report.overall.points is None and report.overall.tiers is None
    assert sum(d.gmv for d in report.days) == 35_000


async def test_dates_are_whole_days_in_the_readers_time_zone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # an order paid at 23:30 UTC on 20 November is the 21st in Shanghai (UTC+8)
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(M1, "m1"), default_locale="en")
        product = await create_product(
            session, title="Oolong", price=10_000, currency="CNY", stock=None, created_by=M1
        )
        order = await buy(session, M1, M1, product.id, 1, pay=True)
        moment = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
        await session.execute(
            update(OrderEvent).where(col(OrderEvent.order_id) == order).values(at=moment)
        )
    async with sessions() as session:
        shanghai = await stats_report(
            session,
            period=parse_period(
                "2026-11-21..2026-11-21", timezone="Asia/Shanghai", today=date(2026, 11, 30)
            ),
            timezone="Asia/Shanghai",
            scope=None,
        )
        utc = await stats_report(
            session,
            period=parse_period("2026-11-21", timezone="UTC", today=date(2026, 11, 30)),
            timezone="UTC",
            scope=None,
        )
    assert shanghai.overall.paid_orders == 1 and shanghai.days[0].orders == 1
    assert utc.overall.paid_orders == 0
