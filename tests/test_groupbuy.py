"""Group-buy rules at the service level: parsing, joining, limits, settlement, and a rush."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.groupbuy import GroupBuyJoin
from models.order import Order
from models.product import Product, ProductVariant
from services.community import ChatInfo
from services.groupbuy import (
    GroupBuyError,
    GroupBuyView,
    due_groupbuys,
    get_groupbuy,
    open_groupbuy,
    parse_deadline,
    parse_minimum,
    parse_tiers,
    participants,
    set_quantity,
    settle,
)
from services.groups import bot_added
from services.member import UserInfo, record_member
from services.product import VariantSpec, add_variants, create_product
from tests.conftest import make_settings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GROUPS = (-1001, -1002)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def seed(
    sessions: async_sessionmaker[AsyncSession], *, members: int = 5, stock: int | None = 100
) -> int:
    """Members 1..N, both groups added by the owner (member 1, so approved), and a ¥39.90
    product; returns the product id."""
    async with sessions() as session, session.begin():
        for uid in range(1, members + 1):
            await record_member(session, user=UserInfo(uid, f"m{uid}"), default_locale="en")
        for chat in GROUPS:
            await bot_added(
                session,
                chat=ChatInfo(chat, f"Group {chat}", "supergroup"),
                added_by=1,
                owner_ids={1},
                default_locale="en",
                default_timezone="UTC",
                now=NOW,
            )
        product = await create_product(
            session, title="Oolong", price=3990, currency="CNY", stock=stock, created_by=1
        )
    return product.id


async def open_one(
    sessions: async_sessionmaker[AsyncSession], product_id: int, **overrides: object
) -> GroupBuyView:
    values: dict[str, object] = {
        "product_id": product_id,
        "opened_by": 1,
        "chat_ids": list(GROUPS),
        "min_count": 3,
        "stock_cap": 50,
        "per_member_limit": 3,
        "deadline": NOW + timedelta(hours=24),
        "now": NOW,
        "tiers": ((10, 3590), (30, 3290)),
    }
    values.update(overrides)
    async with sessions() as session, session.begin():
        return await open_groupbuy(session, **values)  # type: ignore[arg-type]


async def join(
    sessions: async_sessionmaker[AsyncSession],
    gb: int,
    member: int,
    quantity: int,
    *,
    add: bool = True,
    now: datetime = NOW,
) -> int:
    async with sessions() as session, session.begin():
        result = await set_quantity(
            session,
            groupbuy_id=gb,
            member_id=member,
            chat_id=GROUPS[member % 2],
            quantity=quantity,
            now=now,
            add=add,
        )
    return result.quantity


def test_tiers_must_lower_the_price_as_units_grow() -> None:
    parse = lambda text: parse_tiers(  # noqa: E731
        text, currency="CNY", locale="en", base_price=3990, ceiling=10**9
    )
    assert parse("10:35.90, 30:32.90") == ((10, 3590), (30, 3290))
    assert parse("10 -> 35.90，30=32.90") == ((10, 3590), (30, 3290))
    assert parse("") == ()
    for bad in ("10:39.90", "30:32.90, 10:35.90", "10:35.90, 30:36", "ten:35", "10:abc", "10"):
        with pytest.raises(GroupBuyError):
            parse(bad)


def test_deadlines_are_relative_or_local_and_in_the_future() -> None:
    assert parse_deadline("24h", now=NOW, timezone="UTC") == NOW + timedelta(hours=24)
    assert parse_deadline("90m", now=NOW, timezone="UTC") == NOW + timedelta(minutes=90)
    assert parse_deadline("3d", now=NOW, timezone="UTC") == NOW + timedelta(days=3)
    local = parse_deadline("2026-11-22 20:00", now=NOW, timezone="Asia/Shanghai")
    assert local == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    for bad, reason in (
        ("2026-11-20 20:00", "deadline_past"),
        ("0h", "deadline_past"),
        ("45d", "deadline_too_far"),
        ("someday", "bad_deadline"),
    ):
        with pytest.raises(GroupBuyError) as refused:
            parse_deadline(bad, now=NOW, timezone="UTC")
        assert refused.value.reason == reason


def test_a_minimum_counts_people_or_units() -> None:
    assert parse_minimum("5") == ("people", 5)
    assert parse_minimum(" 20U ") == ("units", 20)
    assert parse_minimum("0") == ("people", 0)  # whole, but the caller refuses zero
    # superscript digits pass str.isdigit() but not int(): refused, not a traceback
    for bad in ("many", "-3", "2.5", "5uu", "²", "12345678"):
        with pytest.raises(GroupBuyError) as refused:
            parse_minimum(bad)
        assert refused.value.reason == "not_positive"


async def test_opening_checks_what_a_leader_typed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    product = await seed(sessions, stock=40)
    with pytest.raises(GroupBuyError) as unknown:
        await open_one(sessions, 99)
    assert unknown.value.reason == "no_product"
    cases = [
        ({"min_count": 60, "min_kind": "units"}, "min_above_stock"),
        ({"deadline": NOW - timedelta(minutes=1)}, "deadline_past"),
        ({"tiers": ((10, 3590), (30, 3690))}, "tiers_not_decreasing"),
        ({"stock_cap": 50}, "not_enough_stock"),  # the product has only 40 left
    ]
    for overrides, reason in cases:
        with pytest.raises(GroupBuyError) as refused:
            await open_one(sessions, product, **overrides)
        assert refused.value.reason == reason, overrides
    opened = await open_one(sessions, product, stock_cap=40)
    assert (opened.stock_cap, opened.units_left, opened.current_price) == (40, 40, 3990)
    async with sessions() as session:
        row = await session.get(Product, product)
    assert row is not None and row.stock == 0  # the group-buy holds the product's stock


async def test_joining_changing_and_leaving(sessions: async_sessionmaker[AsyncSession]) -> None:
    gb = (await open_one(sessions, await seed(sessions))).id
    assert await join(sessions, gb, 1, 2) == 2
    assert await join(sessions, gb, 2, 1) == 1
    assert await join(sessions, gb, 1, 1) == 3  # adds up to the limit
    with pytest.raises(GroupBuyError) as refused:
        await join(sessions, gb, 1, 1)
    assert refused.value.reason == "over_limit"
    assert await join(sessions, gb, 1, 1, add=False) == 1  # change to one
    assert await join(sessions, gb, 2, 0, add=False) == 0  # leave
    with pytest.raises(GroupBuyError) as refused:
        await join(sessions, gb, 2, 0, add=False)
    assert refused.value.reason == "not_joined"
    assert await join(sessions, gb, 3, 2) == 2
    async with sessions() as session:
        listed = await participants(session, gb)
    assert [(p.position, p.member_id, p.quantity) for p in listed] == [(1, 1, 1), (2, 3, 2)]
    # after the deadline nobody joins
    with pytest.raises(GroupBuyError) as refused:
        await join(sessions, gb, 4, 1, now=NOW + timedelta(hours=25))
    assert refused.value.reason == "closed"


async def test_formed_settles_everyone_at_the_final_tier_price(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    product = await seed(sessions, members=12)
    gb = (await open_one(sessions, product, per_member_limit=3)).id
    for member in range(1, 5):  # 4 members x 3 = 12 units: the 10-unit tier
        await join(sessions, gb, member, 3)
    async with sessions() as session, session.begin():
        assert await due_groupbuys(session, now=NOW) == []
        assert await settle(session, groupbuy_id=gb, now=NOW) is None  # not due yet
    later = NOW + timedelta(hours=24)
    async with sessions() as session, session.begin():
        assert await due_groupbuys(session, now=later) == [gb]
        done = await settle(session, groupbuy_id=gb, now=later)
        assert await settle(session, groupbuy_id=gb, now=later) is None  # exactly once
    assert done is not None and done.formed
    assert done.groupbuy.final_price == 3590
    assert [(o.member_id, o.quantity, o.unit_price, o.status) for o in done.orders] == [
        (m, 3, 3590, "reserved") for m in range(1, 5)
    ]
    async with sessions() as session:
        row = await session.get(Product, product)
    assert row is not None and row.stock == 100 - 12  # unsold units went back to the product


async def test_failed_releases_every_reservation(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    product = await seed(sessions)
    gb = (await open_one(sessions, product, min_count=3)).id
    await join(sessions, gb, 1, 2)
    await join(sessions, gb, 2, 1)
    async with sessions() as session, session.begin():
        done = await settle(session, groupbuy_id=gb, now=NOW + timedelta(days=2))
    assert done is not None and not done.formed and done.orders == ()
    assert done.groupbuy.status == "failed"
    assert [p.member_id for p in done.participants] == [1, 2]
    async with sessions() as session:
        row = await session.get(Product, product)
        orders = (await session.execute(select(func.count()).select_from(Order))).scalar_one()
    assert row is not None and row.stock == 100 and orders == 0


async def test_sold_out_forms_early(sessions: async_sessionmaker[AsyncSession]) -> None:
    product = await seed(sessions)
    gb = (await open_one(sessions, product, stock_cap=4, min_count=2, tiers=())).id
    await join(sessions, gb, 1, 3)
    with pytest.raises(GroupBuyError) as refused:
        await join(sessions, gb, 2, 2)
    assert refused.value.reason == "sold_out"
    await join(sessions, gb, 2, 1)
    async with sessions() as session, session.begin():
        assert await due_groupbuys(session, now=NOW) == [gb]
        done = await settle(session, groupbuy_id=gb, now=NOW)
    assert done is not None and done.formed


@pytest.mark.parametrize("taps", [300])
async def test_a_rush_of_joins_never_oversells_or_breaks_a_limit(
    sessions: async_sessionmaker[AsyncSession], taps: int
) -> None:
    # given 150 members and a group-buy of 50 units, at most 3 each
    product = await seed(sessions, members=150)
    gb = (await open_one(sessions, product, stock_cap=50, per_member_limit=3)).id
    rng = random.Random(7)
    plan = [(rng.randint(1, 150), rng.randint(1, 2)) for _ in range(taps)]

    async def tap(member: int, quantity: int) -> str:
        try:
            await join(sessions, gb, member, quantity)
            return "joined"
        except GroupBuyError as exc:
            return exc.reason

    # when 300 taps arrive at once (some members tap twice)
    outcomes = await asyncio.gather(*(tap(m, q) for m, q in plan))
    # then exactly the 50 units are sold, nobody holds more than 3, and the counters agree
    assert set(outcomes) <= {"joined", "sold_out", "over_limit"}
    assert "sold_out" in outcomes
    async with sessions() as session:
        found = await session.execute(
            select(GroupBuyJoin.member_id, GroupBuyJoin.quantity).where(
                GroupBuyJoin.groupbuy_id == gb
            )
        )
        shares = dict(found.all())
        view = await get_groupbuy(session, gb)
    assert view is not None
    assert sum(shares.values()) == view.units_sold == 50
    assert max(shares.values()) <= 3
    assert view.participants == sum(1 for q in shares.values() if q > 0)


@pytest.mark.parametrize("taps", [300])
async def test_a_rush_of_joins_never_oversells_a_variant(
    sessions: async_sessionmaker[AsyncSession], taps: int
) -> None:
    # given 150 members and a group-buy of a product with three variants: S has 10 in stock,
    # M 15 and L no limit, each offered up to 20 units, at most 3 per member
    product = await seed(sessions, members=150, stock=None)
    async with sessions() as session, session.begin():
        added = await add_variants(
            session,
            product_id=product,
            variants=[
                VariantSpec("S", 3000, 10),
                VariantSpec("M", 3500, 15),
                VariantSpec("L", 4000),
            ],
        )
    ids = [variant.id for variant in added.variants]
    gb = (await open_one(sessions, product, stock_cap=20, per_member_limit=3, tiers=())).id
    rng = random.Random(7)
    # most members keep to one variant; one tap in ten tries another one
    plan = [
        (member, rng.randint(1, 2), ids[(member + (rng.random() < 0.1)) % 3])
        for member in (rng.randint(1, 150) for _ in range(taps))
    ]

    async def tap(member: int, quantity: int, variant_id: int) -> str:
        try:
            async with sessions() as session, session.begin():
                await set_quantity(
                    session,
                    groupbuy_id=gb,
                    member_id=member,
                    chat_id=GROUPS[member % 2],
                    quantity=quantity,
                    now=NOW,
                    add=True,
                    variant_id=variant_id,
                )
            return "joined"
        except GroupBuyError as exc:
            return exc.reason

    # when 300 taps arrive at once
    outcomes = await asyncio.gather(*(tap(m, q, v) for m, q, v in plan))
    # then each variant sold exactly its cap, per the members' shares, and nothing more
    assert set(outcomes) <= {"joined", "sold_out", "over_limit", "other_variant"}
    assert "sold_out" in outcomes
    async with sessions() as session:
        found = await session.execute(
            select(GroupBuyJoin.variant_id, func.sum(GroupBuyJoin.quantity))
            .where(GroupBuyJoin.groupbuy_id == gb, GroupBuyJoin.quantity > 0)
            .group_by(GroupBuyJoin.variant_id)
        )
        sold = dict(found.all())
        most = await session.scalar(select(func.max(GroupBuyJoin.quantity)))
        view = await get_groupbuy(session, gb)
        stock = dict(
            (await session.execute(select(ProductVariant.name, ProductVariant.stock))).all()
        )
    assert view is not None
    assert [(v.name, v.stock_cap, v.units_sold) for v in view.variants] == [
        ("S", 10, 10),
        ("M", 15, 15),
        ("L", 20, 20),
    ]
    assert sold == dict(zip(ids, (10, 15, 20), strict=True))
    assert view.units_sold == view.stock_cap == 45
    assert most is not None and most <= 3
    # the variants' own stock went to the group-buy when it opened
    assert stock == {"S": 0, "M": 0, "L": None}
