"""Pay-at-pickup reservations expire: the hold, the reminder, the release of the stock, the cap
on open reservations; end to end on the harness's clock, and the rules on the services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from bot.app import build_runtime, prepare
from bot.config import Settings
from bot.db import create_engine, create_session_factory
from handlers.views.reservation import local_moment
from models.order import Order, OrderEvent
from models.product import Product
from services.member import UserInfo, record_member
from services.order import OrderError, mark_paid_offline
from services.product import create_product
from services.reservation import (
    ReservationCapReached,
    ReservationRules,
    expire_reservation,
    hold_unheld,
    reserve,
)
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, FakeClock, Harness, make_settings
from tgemu import EMULATOR_TOKEN, Emulator

Store = tuple[async_sessionmaker[AsyncSession], int]
HOLD = timedelta(hours=48)
RULES = ReservationRules(hold=HOLD, cap=0, remind_before=timedelta(hours=12))


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def stock_of(harness: Harness, product_id: int) -> int | None:
    async with harness.session() as session:
        product = await session.get(Product, product_id, populate_existing=True)
    assert product is not None
    return product.stock


async def order_row(harness: Harness, order_id: int) -> Order:
    async with harness.session() as session:
        row = await session.get(Order, order_id, populate_existing=True)
    assert row is not None
    return row


# ------------------------------------------------------------------ end to end ----------------


async def test_a_reservation_is_reminded_then_expires_and_its_stock_goes_back(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 5")
    await harness.send(MIA, MIA, "/start")
    ordered_at = harness.clock()
    deadline = local_moment(ordered_at + HOLD, "UTC")
    # given Mia reserves two in Tea Lovers: the reply says until when they are held
    assert await harness.send(MIA, TEA, "/buy 1 2") == [
        "Order #1 reserved: Oolong tea ×2, CN¥71.80. Pay your leader at pickup.\n"
        f"Held for you until {deadline}; if it is still unpaid then, it is released."
    ]
    assert await stock_of(harness, 1) == 3
    assert (await order_row(harness, 1)).expires_at == ordered_at + HOLD
    # and the leader's pickup list shows it
    await harness.send(LEE, TEA, "/orders")
    pickup_list = harness.emulator.last_bot_message(TEA)
    harness.new_bot_messages(MIA)
    # when 35 hours pass, nothing happens yet
    harness.clock.advance(hours=35)
    report = await harness.runtime.reservations.run()
    assert (report.reminded, report.expired) == (0, 0)
    assert harness.new_bot_messages(MIA) == []
    # then 12 hours before the deadline Mia is reminded once, in private, with a cancel button
    harness.clock.advance(hours=1)
    assert (await harness.runtime.reservations.run()).reminded == 1
    assert (await harness.runtime.reservations.run()).reminded == 0
    reminders = harness.new_bot_messages(MIA)
    assert [m.text for m in reminders] == [
        # in private, on the brand's clock (Mia set no zone of her own), named
        f"Reminder: your reservation #1 (Oolong tea ×2, CN¥71.80) expires at {deadline} UTC. "
        "Pay your leader at pickup before then; once they mark it paid, it is yours. "
        "No longer need it? Cancel it below so that someone else can have it."
    ]
    assert reminders[0].button_texts == ["❌ Cancel #1"]
    # when the deadline passes unpaid, the reservation expires and its stock is back on sale
    harness.clock.advance(hours=12)
    assert (await harness.runtime.reservations.run()).expired == 1
    assert (await harness.runtime.reservations.run()).expired == 0
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        f"Your reservation #1 (Oolong tea ×2) was not paid by {deadline} UTC, so it has expired "
        "and its stock is back on sale. Still want it? Order again with /buy 1 2."
    ]
    assert await stock_of(harness, 1) == 5
    assert (await order_row(harness, 1)).status == "expired"
    # a leader marking it paid from the stale list, or by name, is told what happened
    expired_answer = (
        "That reservation expired unpaid and its stock went back on sale. If the member pays "
        "now, they order again with /buy and you mark the new order paid."
    )
    assert await harness.press(LEE, TEA, pickup_list.message_id, index=0) == expired_answer
    assert await harness.send(LEE, TEA, "/paid @mia") == [
        f"Mia's reservation #1 expired unpaid at {deadline}, and its stock went back on sale. "
        "If they pay now, they order again with /buy and you mark the new order paid."
    ]
    assert (await order_row(harness, 1)).status == "expired"
    # and the reminder's cancel button only says it is too late
    assert await harness.press(MIA, MIA, reminders[0].message_id, index=0) == (
        "That reservation has already expired; its stock is back on sale."
    )
    # the order's history names the expiry
    async with harness.session() as session:
        events = (
            (await session.execute(select(OrderEvent).where(OrderEvent.order_id == 1)))
            .scalars()
            .all()
        )
    assert [(e.from_status, e.to_status, e.actor_id) for e in events][-1] == (
        "reserved",
        "expired",
        None,
    )
    # the stock is for sale again: Mia orders anew and the leader marks the new order paid
    await harness.send(MIA, TEA, "/buy 1 2")
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #2."]


async def test_a_member_cancels_a_reservation_from_the_reminder(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 5")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, TEA, "/buy 1 3")
    harness.clock.advance(hours=40)
    await harness.runtime.reservations.run()
    reminder = harness.emulator.last_bot_message(MIA)
    # someone else pressing Mia's button (a forged tap) is refused, in their language
    assert await harness.press(LEE, MIA, reminder.message_id, index=0, force=True) == (
        "这不是你的预留。"
    )
    # Mia cancels: the stock is back at once and the button is gone
    assert await harness.press(MIA, MIA, reminder.message_id, index=0) == (
        "Reservation #1 cancelled; its stock is back on sale."
    )
    assert await stock_of(harness, 1) == 5
    assert (await order_row(harness, 1)).status == "cancelled"
    assert harness.emulator.last_bot_message(MIA).button_texts == []
    # nothing is left to expire
    harness.clock.advance(hours=10)
    assert (await harness.runtime.reservations.run()).expired == 0
    assert await stock_of(harness, 1) == 5


async def test_a_member_who_never_opened_a_private_chat_is_asked_to(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    deadline = local_moment(harness.clock() + HOLD, "UTC")
    assert await harness.send(MIA, TEA, "/buy 1") == [
        "Order #1 reserved: Oolong tea ×1, CN¥35.90. Pay your leader at pickup.\n"
        f"Held for you until {deadline}; if it is still unpaid then, it is released. "
        "Send me /start in private, and I will remind you before then."
    ]
    # she cannot be reminded nor told in private, but the reservation still expires
    harness.clock.advance(hours=40)
    assert (await harness.runtime.reservations.run()).reminded == 1
    harness.clock.advance(hours=9)
    assert (await harness.runtime.reservations.run()).expired == 1
    assert harness.emulator.bot_messages(MIA) == []
    assert await stock_of(harness, 1) is None  # unlimited stock stays unlimited


async def test_a_buy_reply_names_the_groups_zone_to_a_member_who_reads_another(
    harness: Harness,
) -> None:
    # given Tea Lovers lives on Beijing time, Mia set London as her own zone, Kai set none
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 5")
    await harness.send(LEE, TEA, "/settings timezone Asia/Shanghai")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/timezone Europe/London")
    deadline = local_moment(harness.clock() + HOLD, "Asia/Shanghai")
    # when Mia reserves in the group
    reply = await harness.send(MIA, TEA, "/buy 1")
    # then the hold is on the group's clock, and says which clock that is
    assert reply[0].endswith(
        f"Held for you until {deadline} Asia/Shanghai; if it is still unpaid then, it is released."
    )
    # and her list of reservations in the group does the same
    listing = (await harness.send(MIA, TEA, "/reservations"))[0]
    assert f"until {deadline} Asia/Shanghai" in listing
    # while Kai, who reads the group's clock, sees the time alone
    kai = await harness.send(KAI, TEA, "/buy 1")
    assert deadline in kai[0] and "Asia/Shanghai" not in kai[0]


@pytest.fixture
async def capped(emulator: Emulator, settings: Settings) -> AsyncIterator[Harness]:
    """The bot with at most two open reservations per member."""
    clock = FakeClock()
    runtime = build_runtime(
        settings.model_copy(update={"reservation_cap": 2}), EMULATOR_TOKEN, clock=clock
    )
    await prepare(runtime, migrate=False)
    yield Harness(emulator=emulator, runtime=runtime, clock=clock)
    await runtime.close()


async def test_the_cap_refuses_one_reservation_too_many_and_names_the_open_ones(
    capped: Harness,
) -> None:
    harness = capped
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 10")
    await harness.send(SAM, SAM, "/product_add Moon cake | 12 CNY | stock 10")
    await harness.send(MIA, MIA, "/start")
    first = local_moment(harness.clock() + HOLD, "UTC")
    await harness.send(MIA, TEA, "/buy 1 2")
    harness.clock.advance(hours=1)
    second = local_moment(harness.clock() + HOLD, "UTC")
    await harness.send(MIA, TEA, "/buy 2")
    # when Mia reserves a third, she is refused politely with the two she holds
    assert await harness.send(MIA, TEA, "/buy 2 3") == [
        "You already hold 2 reservations waiting for payment at pickup, the most one member may "
        "hold at once:\n"
        f"#1 Oolong tea ×2 · CN¥71.80 · until {first}\n"
        f"#2 Moon cake ×1 · CN¥12.00 · until {second}\n"
        "Pay one at pickup, or cancel one you no longer need, then order again. "
        "/reservations lists them."
    ]
    refusal = harness.emulator.last_bot_message(TEA)
    assert refusal.button_texts == ["❌ Cancel #1", "❌ Cancel #2"]
    assert await stock_of(harness, 2) == 9  # nothing taken by the refused order
    # /reservations in private lists them too
    listing = (await harness.send(MIA, MIA, "/reservations"))[0]
    assert f"#2 Moon cake ×1 · CN¥12.00 · until {second}" in listing
    # a paid order no longer counts: once the leader marks #1 paid, Mia may reserve again
    await harness.press(MIA, TEA, refusal.message_id, index=1)  # she cancels #2
    assert harness.emulator.last_bot_message(TEA).button_texts == ["❌ Cancel #1"]
    assert (await harness.send(MIA, TEA, "/buy 2 3"))[0].startswith("Order #3 reserved")
    assert (await harness.send(MIA, TEA, "/buy 2"))[0].startswith("You already hold 2")
    await harness.send(LEE, TEA, "/paid @mia")
    assert (await harness.send(MIA, TEA, "/buy 2"))[0].startswith("Order #4 reserved")


# ------------------------------------------------------------------ services ------------------


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store with two members and a product of 10 units: (sessions, product id)."""
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for uid in (MIA, LEE):
            await record_member(session, user=UserInfo(uid, f"u{uid}"), default_locale="en")
        product = await create_product(
            session, title="Tea", price=100, currency="CNY", stock=10, created_by=SAM
        )
    yield sessions, product.id
    await engine.dispose()


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def test_expiry_frees_exactly_the_stock_once(store: Store) -> None:
    sessions, product_id = store
    async with sessions() as session, session.begin():
        order = await reserve(
            session,
            member_id=MIA,
            chat_id=TEA,
            product_id=product_id,
            quantity=3,
            max_total=10**9,
            rules=RULES,
            now=NOW,
        )
    assert order.expires_at == NOW + HOLD
    # not due a second early
    async with sessions() as session, session.begin():
        assert (
            await expire_reservation(
                session, order_id=order.id, now=NOW + HOLD - timedelta(seconds=1)
            )
            is None
        )
    # due: released once; a second sweep finds nothing
    for expected in (True, False):
        async with sessions() as session, session.begin():
            done = await expire_reservation(session, order_id=order.id, now=NOW + HOLD)
        assert (done is not None) is expected
    async with sessions() as session:
        product = await session.get(Product, product_id)
        row = await session.get(Order, order.id)
    assert product is not None and product.stock == 10
    assert row is not None and row.status == "expired"
    # a leader can no longer mark it paid
    async with sessions() as session, session.begin():
        with pytest.raises(OrderError) as refused:
            await mark_paid_offline(session, order_id=order.id, actor_id=LEE)
    assert refused.value.reason == "expired"


async def test_a_paid_reservation_never_expires(store: Store) -> None:
    sessions, product_id = store
    async with sessions() as session, session.begin():
        order = await reserve(
            session,
            member_id=MIA,
            chat_id=TEA,
            product_id=product_id,
            quantity=2,
            max_total=10**9,
            rules=RULES,
            now=NOW,
        )
    async with sessions() as session, session.begin():
        await mark_paid_offline(session, order_id=order.id, actor_id=LEE)
    async with sessions() as session, session.begin():
        assert await expire_reservation(session, order_id=order.id, now=NOW + 2 * HOLD) is None
    async with sessions() as session:
        product = await session.get(Product, product_id)
    assert product is not None and product.stock == 8


async def test_reservations_from_before_expiry_get_the_full_hold_from_the_first_sweep(
    store: Store,
) -> None:
    sessions, product_id = store
    async with sessions() as session, session.begin():
        order = await reserve(
            session,
            member_id=MIA,
            chat_id=TEA,
            product_id=product_id,
            quantity=1,
            max_total=10**9,
            rules=ReservationRules(hold=None),  # placed while reservations did not expire
            now=NOW,
        )
    assert order.expires_at is None
    later = NOW + timedelta(days=30)
    async with sessions() as session, session.begin():
        assert await hold_unheld(session, now=later, hold=HOLD) == 1
        assert await hold_unheld(session, now=later + HOLD, hold=HOLD) == 0
        assert await expire_reservation(session, order_id=order.id, now=later) is None
    async with sessions() as session:
        row = await session.get(Order, order.id)
    assert row is not None and row.expires_at == later + HOLD


@pytest.mark.parametrize("sweeps", [6])
async def test_concurrent_sweeps_expire_a_reservation_once(store: Store, sweeps: int) -> None:
    sessions, product_id = store
    async with sessions() as session, session.begin():
        orders = [
            await reserve(
                session,
                member_id=MIA,
                chat_id=TEA,
                product_id=product_id,
                quantity=quantity,
                max_total=10**9,
                rules=RULES,
                now=NOW,
            )
            for quantity in (1, 2, 3)
        ]

    async def sweep() -> int:
        expired = 0
        for order in orders:
            async with sessions() as session, session.begin():
                if await expire_reservation(session, order_id=order.id, now=NOW + HOLD):
                    expired += 1
        return expired

    results = await asyncio.gather(*(sweep() for _ in range(sweeps)))
    assert sum(results) == 3
    async with sessions() as session:
        product = await session.get(Product, product_id)
        events = (
            (await session.execute(select(OrderEvent).where(OrderEvent.to_status == "expired")))
            .scalars()
            .all()
        )
    assert product is not None and product.stock == 10
    assert len(events) == 3


async def test_concurrent_buys_of_one_member_respect_the_cap(store: Store) -> None:
    sessions, product_id = store
    rules = ReservationRules(hold=HOLD, cap=2)

    async def attempt() -> bool:
        try:
            async with sessions() as session, session.begin():
                await reserve(
                    session,
                    member_id=MIA,
                    chat_id=TEA,
                    product_id=product_id,
                    quantity=1,
                    max_total=10**9,
                    rules=rules,
                    now=NOW,
                )
            return True
        except ReservationCapReached as exc:
            assert len(exc.held) == 2
            return False

    results = await asyncio.gather(*(attempt() for _ in range(5)))
    assert sum(results) == 2
    async with sessions() as session:
        product = await session.get(Product, product_id)
    assert product is not None and product.stock == 8


async def test_orders_paid_by_telegram_invoice_are_not_reservations(
    store: Store,
) -> None:
    sessions, product_id = store
    async with sessions() as session, session.begin():
        await session.execute(
            update(Product).where(Product.id == product_id).values(payment_mode="telegram")
        )
        order = await reserve(
            session,
            member_id=MIA,
            chat_id=MIA,
            product_id=product_id,
            quantity=1,
            max_total=10**9,
            rules=ReservationRules(hold=HOLD, cap=1),
            now=NOW,
        )
    assert order.expires_at is None
    async with sessions() as session, session.begin():
        assert await hold_unheld(session, now=NOW, hold=HOLD) == 0
        assert await expire_reservation(session, order_id=order.id, now=NOW + 2 * HOLD) is None
