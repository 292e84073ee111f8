"""Relationship metrics (services/metrics/) on a small store whose every figure is worked
out by hand below.

The story, in UTC, weeks starting on Mondays (W0 = 2026-01-05, "now" is in W16):
- Tea group: M1 joins Mon Jan 5 (W0); M2 (Jan 6) and M3 (Jan 7) join through M1's link;
  M2's referral qualified, M3's is pending. M4 joins Jan 14 (W1) and leaves Jan 20 (W2).
  A bot is seen too and never counts.
- Coffee group: M5 joins Jan 5 and orders Jan 6.
- M1 pays 1000 on Jan 6, 2000 on Jan 16 (10 days later), 3000 on Feb 3 (18 days later).
- M2 checks in Jan 13, pays 500 on Jan 15 with a coupon (discount 100), and 400 on Mar 1.
- M3 votes Jan 8 and pays 800 on Jan 20. M4 makes a suggestion on Jan 15.
- Coupons: M2 gets one on Jan 12 (used), M3 one on Jan 13 (still held).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli.commands import export_metrics
from bot.db import create_engine, create_session_factory
from models.community import APPROVAL_APPROVED, Community, CommunityMember
from models.coupons import COUPON_HELD, COUPON_USED, CouponTemplate, MemberCoupon
from models.groupbuy import GroupBuy, GroupBuyJoin
from models.loyalty import CheckIn
from models.member import Member
from models.order import ORDER_PAID, ORDER_RESERVED, Order, OrderEvent
from models.poll import Poll, PollBallot
from models.product import Product
from models.referral import REFERRAL_PENDING, REFERRAL_REWARDED, Referral, ReferralCode
from models.suggestion import Suggestion
from models.tiers import MemberTier
from services.analytics import Ratio
from services.analytics import _activity as analytics_activity
from services.metrics import MetricsReport, Slice, metrics_report
from services.metrics._common import _activity as metrics_activity
from tests.conftest import COFFEE as COFFEE_CLUB
from tests.conftest import LEE, SAM, Harness, make_settings
from tests.conftest import TEA as TEA_LOVERS
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_analytics_chat import shop

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below

TEA, COFFEE = -1001, -1002
M1, M2, M3, M4, M5, BOT = 1, 2, 3, 4, 5, 7
NOW = datetime(2026, 4, 30, 12, tzinfo=UTC)
WEEKS = 17  # W0 = 2026-01-05 ... W16 = 2026-04-27


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await _seed(session)
    yield factory
    await engine.dispose()


def _seen(
    session: AsyncSession, rows: tuple[tuple[int, int, datetime, datetime | None], ...]
) -> None:
    """Members seen in groups: (group, member, first seen, left or None)."""
    for group, member, first, left in rows:
        session.add(
            CommunityMember(
                community_id=group,
                member_id=member,
                first_seen_at=first,
                last_seen_at=first,
                left_at=left,
            )
        )


async def _seed(session: AsyncSession) -> None:
    for group, title in ((TEA, "Tea"), (COFFEE, "Coffee")):
        session.add(Community(id=group, title=title, approval=APPROVAL_APPROVED))
    for member in (M1, M2, M3, M4, M5, BOT):
        session.add(Member(id=member, first_name=f"m{member}", is_bot=member == BOT))
    await session.flush()
    seen = (
        (TEA, M1, at(1, 5, 10), None),
        (TEA, M2, at(1, 6), None),
        (TEA, M3, at(1, 7), None),
        (TEA, M4, at(1, 14), at(1, 20)),
        (TEA, BOT, at(1, 5), None),
        (COFFEE, M5, at(1, 5), None),
    )
    _seen(session, seen)
    code = ReferralCode(code="m1", member_id=M1)
    session.add(code)
    await session.flush()
    assert code.id is not None
    session.add(
        Referral(
            invitee_id=M2,
            referrer_id=M1,
            code_id=code.id,
            status=REFERRAL_REWARDED,
            qualified_at=at(1, 15),
            community_id=TEA,
            created_at=at(1, 6),
        )
    )
    session.add(
        Referral(
            invitee_id=M3,
            referrer_id=M1,
            code_id=code.id,
            status=REFERRAL_PENDING,
            created_at=at(1, 7),
        )
    )
    template = CouponTemplate(code="TEA10", kind="fixed", value=100, currency="CNY", created_by=99)
    session.add(template)
    await session.flush()
    assert template.id is not None
    used = MemberCoupon(
        template_id=template.id,
        member_id=M2,
        status=COUPON_USED,
        source="grant:99",
        granted_at=at(1, 12),
        used_at=at(1, 15),
    )
    session.add(used)
    session.add(
        MemberCoupon(
            template_id=template.id,
            member_id=M3,
            status=COUPON_HELD,
            source="grant:99",
            granted_at=at(1, 13),
        )
    )
    await session.flush()
    orders = (
        (M1, TEA, 1000, at(1, 6), 0, None),
        (M1, TEA, 2000, at(1, 16), 0, None),
        (M1, TEA, 3000, at(2, 3), 0, None),
        (M2, TEA, 500, at(1, 15), 100, used.id),
        (M2, TEA, 400, at(3, 1), 0, None),
        (M3, TEA, 800, at(1, 20), 0, None),
        (M5, COFFEE, 700, at(1, 6), 0, None),
    )
    for member, chat, amount, paid_at, discount, coupon in orders:
        order = Order(
            member_id=member,
            chat_id=chat,
            title="tea",
            quantity=1,
            unit_price=amount + discount,
            currency="CNY",
            payment_mode="offline",
            status=ORDER_PAID,
            paid_amount=amount,
            discount=discount,
            coupon_id=coupon,
            created_at=paid_at,
            updated_at=paid_at,
        )
        session.add(order)
        await session.flush()
        assert order.id is not None
        session.add(OrderEvent(order_id=order.id, to_status=ORDER_RESERVED, at=paid_at))
        session.add(
            OrderEvent(
                order_id=order.id, from_status=ORDER_RESERVED, to_status=ORDER_PAID, at=paid_at
            )
        )
    session.add(CheckIn(member_id=M2, day=at(1, 13).date(), chat_id=TEA, created_at=at(1, 13)))
    poll = Poll(question="Next flavour?", option_count=2, closes_at=at(1, 9), created_by=99)
    session.add(poll)
    await session.flush()
    assert poll.id is not None
    session.add(
        PollBallot(poll_id=poll.id, member_id=M3, chat_id=TEA, options=1, updated_at=at(1, 8))
    )
    session.add(Suggestion(member_id=M4, community_id=TEA, text="oolong", created_at=at(1, 15)))
    session.add(MemberTier(member_id=M1, rank=1))


async def report(
    sessions: async_sessionmaker[AsyncSession],
    part: Slice = Slice(),  # noqa: B008
) -> MetricsReport:
    async with sessions() as session:
        return await metrics_report(
            session, now=NOW, timezone="UTC", currency="CNY", part=part, weeks=WEEKS
        )


async def test_active_rate_counts_members_who_did_anything_over_members_present(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tea = await report(sessions, Slice(scope=frozenset({TEA})))
    weeks = tea.weeks
    assert [w.start.isoformat() for w in weeks[:2]] == ["2026-01-05", "2026-01-12"]
    # W0: M1 ordered, M3 voted; M2 did nothing. The bot is never a member.
    assert (weeks[0].members, weeks[0].active) == (3, Ratio(2, 3))
    # W1: M1 ordered, M2 checked in and ordered, M4 suggested; M3 idle
    assert weeks[1].active == Ratio(3, 4)
    # W2: M4 left on Tuesday, so still counts; only M3 ordered
    assert weeks[2].active == Ratio(1, 4)
    # W3: M4 gone
    assert weeks[3].active == Ratio(0, 3)
    assert weeks[4].active == Ratio(1, 3)  # M1's third order
    brand = await report(sessions)
    assert brand.weeks[0].active == Ratio(3, 4)  # M5 in Coffee ordered too


async def test_a_member_seen_in_several_groups_is_one_member_of_the_brand(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # M6: Tea from Jan 5, left Tue Jan 13 (W1), back in Coffee on Feb 2 (W4); M8 in both
    # groups from Jan 5, never left
    m6, m8 = 6, 8
    async with sessions() as session, session.begin():
        session.add_all([Member(id=m6, first_name="m6"), Member(id=m8, first_name="m8")])
        await session.flush()
        _seen(
            session,
            (
                (TEA, m6, at(1, 5), at(1, 13)),
                (COFFEE, m6, at(2, 2), None),
                (TEA, m8, at(1, 5), None),
                (COFFEE, m8, at(1, 5), None),
            ),
        )
    brand = await report(sessions)
    # M1, M2, M3, M5 (and M4 from W1 to W2) as before; M8 once; M6 once, not in W2 and W3
    assert [w.members for w in brand.weeks[:5]] == [6, 7, 6, 5, 6]
    assert brand.weeks[0].new_members == 6
    tea = await report(sessions, Slice(scope=frozenset({TEA})))
    assert [w.members for w in tea.weeks[:4]] == [5, 6, 5, 4]  # M6 until W1, M8 throughout


async def test_fission_and_referral_conversion_of_the_weeks_newcomers(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tea = await report(sessions, Slice(scope=frozenset({TEA})))
    assert tea.weeks[0].new_members == 3
    assert tea.weeks[0].fission == Ratio(2, 3)  # M2 and M3 came through M1
    assert tea.weeks[0].referral_conversion == Ratio(1, 2)  # only M2 has paid since
    assert tea.weeks[1].fission == Ratio(0, 1)  # M4 came by himself
    assert tea.weeks[1].referral_conversion == Ratio(0, 0)
    coffee = await report(sessions, Slice(scope=frozenset({COFFEE})))
    assert coffee.weeks[0].fission == Ratio(0, 1)


async def test_repurchase_rate_and_median_days_between_orders(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    weeks = (await report(sessions, Slice(scope=frozenset({TEA})))).weeks
    assert weeks[0].repurchase == Ratio(0, 1)  # M1's first order
    assert weeks[0].median_gap_days is None
    assert weeks[1].repurchase == Ratio(1, 2)  # M1 again (10 days), M2's first
    assert weeks[1].median_gap_days == 10.0
    assert weeks[4].repurchase == Ratio(1, 1)
    assert weeks[4].median_gap_days == 18.0
    assert weeks[7].median_gap_days == 45.0  # M2: Jan 15 -> Mar 1 (W7 ends Sunday Mar 1)


async def test_median_of_an_even_count_is_the_mean_of_the_middle_two(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # the brand as a whole: add M5's second Coffee order in W1, 6 days after the first
    async with sessions() as session, session.begin():
        order = Order(
            member_id=M5,
            chat_id=COFFEE,
            title="coffee",
            quantity=1,
            unit_price=300,
            currency="CNY",
            payment_mode="offline",
            status=ORDER_PAID,
            paid_amount=300,
            created_at=at(1, 12),
        )
        session.add(order)
        await session.flush()
        assert order.id is not None
        session.add(OrderEvent(order_id=order.id, to_status=ORDER_PAID, at=at(1, 12)))
    weeks = (await report(sessions)).weeks
    assert weeks[1].median_gap_days == 8.0  # gaps 6 (M5) and 10 (M1)
    assert weeks[1].repurchase == Ratio(2, 3)


async def test_retention_and_lifetime_value_by_join_cohort(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    cohorts = (await report(sessions, Slice(scope=frozenset({TEA})))).cohorts
    first = cohorts[0]
    assert first.size == 3
    # week 1 after (W1): M1 and M2 active; week 4 (W4): M1; week 12 (W12): nobody
    assert first.retained == {1: 2, 4: 1, 12: 0}
    assert first.retention(1) == Ratio(2, 3)
    # within 30 days of joining: M1 1000 + 2000 + 3000 (Feb 3 is day 29), M2 500, M3 800;
    # within 90: M2's 400 of Mar 1 (day 54) too; 365 days have not passed yet
    assert first.ltv == {30: 7300, 90: 7700, 365: None}
    assert first.value(30) == Ratio(7300, 3)
    assert cohorts[1].size == 1 and cohorts[1].retained[1] == 0  # M4, idle in W2
    assert cohorts[-1].retained == {1: None, 4: None, 12: None}  # this week: too early
    assert cohorts[2].size == 0


async def test_coupon_redemption_and_discount_cost(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    weeks = (await report(sessions, Slice(scope=frozenset({TEA})))).weeks
    assert weeks[1].coupon_redemption == Ratio(1, 2)
    assert weeks[1].discount_cost == 100
    assert weeks[0].coupon_redemption == Ratio(0, 0)
    assert weeks[0].discount_cost == 0


async def test_cocreators_against_the_other_members_same_period(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    uplift = (await report(sessions, Slice(scope=frozenset({TEA})))).uplift
    # co-creators: M3 (voted) and M4 (suggested); M3 paid 800 once
    # others: M1 (3 orders, 6000) and M2 (2 orders, 900)
    assert (uplift.cocreators, uplift.cocreator_orders, uplift.cocreator_spend) == (2, 1, 800)
    assert (uplift.others, uplift.other_orders, uplift.other_spend) == (2, 5, 6900)
    assert uplift.orders_per_member == (Ratio(1, 2), Ratio(5, 2))


async def test_a_tier_slice_counts_only_its_members(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    gold = await report(sessions, Slice(scope=frozenset({TEA}), tier=1))
    assert (gold.weeks[0].members, gold.weeks[0].active) == (1, Ratio(1, 1))
    first_tier = await report(sessions, Slice(scope=frozenset({TEA}), tier=0))
    assert first_tier.weeks[0].active == Ratio(1, 2)  # M2 idle, M3 voted


def _written(folder: Path) -> bytes:
    (path,) = folder.glob("metrics_*.csv")
    return path.read_bytes()


def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def _csv(data: bytes) -> dict[tuple[str, str], list[str]]:
    assert data.startswith("\ufeff".encode())
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header == ["week", "metric", "numerator", "denominator", "value"]
    return {(row[0], row[1]): row[2:] for row in rows}


async def test_the_metrics_page_charts_each_rate_with_its_definition_per_group(
    harness: Harness, dashboard: str, tmp_path: Path
) -> None:
    # given Mia paid once in Tea Lovers and then in Coffee Club this week
    await shop(harness)
    async with _client() as http:
        async with http.get(await login_link(harness, SAM), allow_redirects=False) as response:
            assert response.status == 303
        # when Sam opens the metrics page
        async with http.get(f"{dashboard}/metrics?lang=en") as response:
            assert response.status == 200
            page = await response.text()
        # then every chart is there with its definition beside it
        for title in (
            "Active rate per week",
            "Fission and referral conversion per week",
            "Repurchase rate per week",
            "Median days between orders",
            "Retention and lifetime value by join week",
            "Coupon redemption per week",
            "Paid orders per member",
            "Messages and taps per member per week",
            "Tickets opened per week",
            "Tickets resolved and trial reports per week",
        ):
            assert title in page, title
        assert page.count('class="note definition"') == 13
        assert "over all new members of the week" in page
        assert '<circle class="point"' in page and '<table class="cohorts">' in page
        # and the CSV has every metric; the brand saw a repeat buyer this week
        async with http.get(f"{dashboard}/csv/metrics") as response:
            assert response.status == 200
            brand = _csv(await response.read())
        this_week = max(week for week, metric in brand if metric == "active")
        assert brand[(this_week, "repurchase")][:2] == ["1", "1"]
        # when he filters on Tea Lovers: Mia's only order there is her first
        async with http.get(f"{dashboard}/csv/metrics?community={TEA_LOVERS}") as response:
            tea = _csv(await response.read())
        assert tea[(this_week, "repurchase")][:2] == ["0", "1"]
        assert int(tea[(this_week, "active")][0]) >= 1
        async with http.get(f"{dashboard}/metrics?community={TEA_LOVERS}&lang=zh_Hans") as page_zh:
            assert "活跃率" in await page_zh.text()
    # the command line writes the brand's CSV too
    assert await export_metrics(harness.runtime.settings, [], tmp_path) == 0
    assert _csv(_written(tmp_path))[(this_week, "repurchase")][:2] == ["1", "1"]
    # a leader reads his own group's metrics only
    async with _client() as http:
        async with http.get(await login_link(harness, LEE), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/metrics?community={COFFEE_CLUB}") as response:
            assert response.status == 403
        async with http.get(f"{dashboard}/csv/metrics?community={COFFEE_CLUB}") as response:
            assert response.status == 403
        async with http.get(f"{dashboard}/csv/metrics") as response:
            lee = _csv(await response.read())
        assert lee[(this_week, "repurchase")][:2] == ["0", "1"]


async def test_the_metrics_and_the_analytics_count_a_changed_place_as_the_same_activity(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given M4 joined a group-buy on Jan 14 and changed their quantity on Mar 3, a week in
    # which nobody else did anything
    async with sessions() as session, session.begin():
        product = Product(title="Oolong", price=100, currency="CNY", created_by=SAM)
        session.add(product)
        await session.flush()
        assert product.id is not None
        groupbuy = GroupBuy(
            product_id=product.id,
            title="Oolong",
            unit_price=100,
            currency="CNY",
            payment_mode="offline",
            min_count=2,
            stock_cap=10,
            per_member_limit=3,
            deadline=at(3, 20),
            opened_by=SAM,
        )
        session.add(groupbuy)
        await session.flush()
        assert groupbuy.id is not None
        session.add(
            GroupBuyJoin(
                groupbuy_id=groupbuy.id,
                member_id=M4,
                chat_id=TEA,
                quantity=2,
                joined_at=at(1, 14),
                updated_at=at(3, 3),
            )
        )
    # then the weekly metrics and the analytics report both see M4 active that week
    since, until = at(3, 2, 0), at(3, 9, 0)
    async with sessions() as session:
        weekly = await session.execute(select(metrics_activity(Slice(), since, until)))
        report_rows = await analytics_activity(session, None, since, until)
    assert {member for member, _ in weekly.all()} == {M4}
    assert {member for member, _ in report_rows} == {M4}
