"""Random orders, leavings, waitlist offers (accepted, declined, lapsing, accepted too late or
twice, someone else's), payments, refunds and cancellations on a group-buy, a group-buy with
variants and a sign-up list, driven through the use cases the handlers call and the waitlist
job as the runtime runs it. After every step: no item sold past what the group-buy took, the
counters are the members' units (their joins or lines while open, their live orders once
formed), the product's stock plus what the group-buy holds plus live orders is what there was
(no unit sold twice), each member within the limit and with one order per list item, offers
go down each line in turn and none books twice; at the end the ledger reconciles.

The waitlist's rule (services/waitlist.py): each item (the group-buy, or one variant or list
item) has its own line, ordered by `since` then entry id. The job (bot/waitlist.py) first
lapses the offers past their time limit, then offers each item's free units (units left minus
those under a live offer) to the waiting members in that order, min(wanted, free) each, until
none is free: so no member is offered while one ahead of them waits with no offer, and after
a run a member waits with no offer only when no unit is free. A member who lost a race for the
units waits again in their old place; one who lapsed or left joins again at the end. A
variant's (list item's) line is served while its group-buy is open, and ends when it closes;
the group-buy's own line also once it formed sold out (units a refund before pickup frees,
while members wait in it); one that formed with units left gave them back to the product, and
its line ends. Units a refund frees with nobody waiting in the group-buy's own line (and
always a variant's or list item's) go back on the shelf: the product's or variant's stock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.db import create_engine, create_session_factory
from models.groupbuy import (
    GROUPBUY_FORMED,
    GROUPBUY_OPEN,
    GroupBuy,
    GroupBuyJoin,
    GroupBuyLine,
    GroupBuyVariant,
)
from models.order import OPEN_STATUSES, ORDER_FULFILLED, ORDER_PAID, Order
from models.product import Product, ProductVariant
from models.waitlist import WAIT_BOOKED, WAIT_OFFERED, WAIT_WAITING, WaitlistEntry
from services.errors import Refused
from services.groupbuy import (
    LineChange,
    change_lines,
    get_groupbuy,
    open_groupbuy,
    set_quantity,
    settle,
)
from services.member import UserInfo, record_member
from services.myorders import KIND_ORDER, KIND_PLACE, cancel_mine
from services.order import mark_paid_offline
from services.product import VariantSpec, create_product
from services.refund import refund_now
from services.waitlist import (
    accept_offer,
    join_waitlist,
    lapse_offers,
    leave_waitlist,
    make_offers,
)
from tests.conftest import assert_reconciles, make_settings
from tests.test_groupbuy import GROUPS, NOW, seed

KINDS = ("plain", "variants", "list")
MEMBERS = 5
CASHIER = 100  # the leader who takes the cash at pickup (never one of the buyers)
LIMIT = 2  # per member (per item on a list)
MINUTES = 30  # an offer's time limit (the default setting)
LIVE_ORDER = (*OPEN_STATUSES, ORDER_PAID, ORDER_FULFILLED)

member_ = st.integers(1, MEMBERS)
item_ = st.integers(0, 1)  # the plain group-buy has one item: both are it
units_ = st.integers(1, LIMIT)
# what a member (or the clock) does while the group-buy is open
pick_ = st.integers(0, 5)  # which entry of the waitlists, in the order they were made
sweep_ = st.tuples(st.just("sweep"), st.sampled_from([0, 10, MINUTES + 1]))
WAITLIST_STEPS = (
    st.tuples(st.just("wait"), member_, item_, units_),
    st.tuples(st.just("wait"), member_, item_, units_),
    st.tuples(st.just("decline"), member_, item_),
    st.tuples(st.just("accept"), pick_),
    st.tuples(st.just("accept"), pick_),
    st.tuples(st.just("accept_late"), pick_),
    st.tuples(st.just("accept_stale"), pick_),
    st.tuples(st.just("accept_foreign"), pick_),
    sweep_,
    sweep_,
)
# the list starts sold out: members 1 and 2 take item 1's 3 units, member 3 item 2's 2
# and members 4 and 5 wait for them
SELL_OUT = [("order", 1, 0, 2), ("order", 2, 0, 1), ("order", 3, 1, 2)]
WAITING = [("wait", 4, 0, 1), ("wait", 5, 1, 1), ("wait", 5, 0, 2)]
# what members (and the clock) do while it is open
OPEN_STEP = st.one_of(
    st.tuples(st.just("order"), member_, item_, units_),
    st.tuples(st.just("leave"), member_),
    st.tuples(st.just("leave"), member_),
    *WAITLIST_STEPS,
)
# and once it formed: orders paid, refunded before pickup (their units freed for the
# waitlist), cancelled by their member (refused: the units are the group-buy's)
FORMED_STEP = st.one_of(
    st.tuples(st.just("pay"), member_),
    st.tuples(st.just("pay"), member_),
    st.tuples(st.just("refund"), member_),
    st.tuples(st.just("refund"), member_),
    st.tuples(st.just("refund"), member_),
    st.tuples(st.just("cancel"), member_),
    *WAITLIST_STEPS,
    sweep_,
    st.tuples(st.just("accept"), pick_),
)


@dataclass
class World:
    """One example's group-buy and what the test remembers about it."""

    kind: str
    sessions: async_sessionmaker[AsyncSession]
    gb_id: int
    product_id: int
    items: list[int | None]  # variant ids (the plain group-buy: [None])
    initial: dict[int | None, int]  # the product's stock per item before it opened
    now: datetime = NOW
    sold_at_settle: dict[int | None, int] | None = None
    cap_at_settle: dict[int | None, int] = field(default_factory=dict)
    accepted: set[tuple[int, int]] = field(default_factory=set)  # (entry, offer_no) booked
    seen_offers: dict[int, int] = field(default_factory=dict)  # entry -> highest offer_no

    def item(self, index: int) -> int | None:
        return self.items[index % len(self.items)]

    def chat(self, member: int) -> int:
        return GROUPS[member % 2]


async def open_world(sessions: async_sessionmaker[AsyncSession], kind: str) -> World:
    """A fresh group-buy of `kind` in two groups (members 1..5 started the bot)."""
    async with sessions() as session:
        seeded = (await session.execute(select(func.count()).select_from(Product))).scalar_one()
    if not seeded:
        await seed(sessions, members=CASHIER)
        async with sessions() as session, session.begin():
            for uid in range(1, MEMBERS + 1):
                user = UserInfo(uid, f"m{uid}")
                await record_member(session, user=user, default_locale="en", started=True)
    async with sessions() as session, session.begin():
        # the plain group-buy takes 3 of 10; each variant (item) up to 3 of its 4 and 2
        variants = [VariantSpec(f"v{n}", 1000 * n, stock) for n, stock in ((1, 4), (2, 2))]
        product = await create_product(
            session,
            title="Tea",
            price=3590,
            currency="CNY",
            created_by=1,
            stock=10 if kind == "plain" else None,
            variants=None if kind == "plain" else variants,
        )
        items: list[int | None] = [v.id for v in product.variants] or [None]
        initial = {v.id: v.stock or 0 for v in product.variants} or {None: 10}
        gb = await open_groupbuy(
            session,
            product_id=product.id,
            opened_by=1,
            chat_ids=list(GROUPS),
            min_count=1,
            stock_cap=3,
            per_member_limit=LIMIT,
            deadline=NOW + timedelta(hours=24),
            now=NOW,
            multi=kind == "list",
        )
    return World(kind, sessions, gb.id, product.id, items, initial)


# ------------------------------------------------------------------ what the store holds ----


@dataclass
class State:
    """The store as the invariants read it."""

    status: str
    sold: dict[int | None, int]  # units sold per item (the counters)
    cap: dict[int | None, int]  # units the group-buy took per item
    total_sold: int
    stock: dict[int | None, int]  # the product's stock per item
    held: dict[tuple[int, int | None], int]  # units per member and item (joins or lines)
    live: dict[tuple[int, int | None], list[int]]  # live orders' units per member and item
    entries: list[WaitlistEntry]

    def line(self, item: int | None) -> list[WaitlistEntry]:
        """The item's line, first in it first (every entry, whatever its status)."""
        return sorted(
            (e for e in self.entries if e.variant_id == item), key=lambda e: (e.since, e.id or 0)
        )


async def read_state(world: World) -> State:
    async with world.sessions() as session:
        gb = await session.get(GroupBuy, world.gb_id)
        assert gb is not None
        if world.kind == "plain":
            product = await session.get(Product, world.product_id)
            assert product is not None and product.stock is not None
            sold, cap, stock = {None: gb.units_sold}, {None: gb.stock_cap}, {None: product.stock}
        else:
            rows = (
                await session.execute(
                    select(GroupBuyVariant).where(GroupBuyVariant.groupbuy_id == world.gb_id)
                )
            ).scalars()
            by_variant = {r.variant_id: r for r in rows}
            sold = {v: by_variant[v].units_sold for v in world.items}
            cap = {v: by_variant[v].stock_cap for v in world.items}
            stocks = dict(
                (
                    await session.execute(
                        select(ProductVariant.id, ProductVariant.stock).where(
                            ProductVariant.product_id == world.product_id
                        )
                    )
                ).all()
            )
            stock = {v: stocks[v] for v in world.items}
        held: dict[tuple[int, int | None], int] = {}
        if world.kind == "list":
            for member, variant, quantity in (
                await session.execute(
                    select(
                        GroupBuyLine.member_id, GroupBuyLine.variant_id, GroupBuyLine.quantity
                    ).where(GroupBuyLine.groupbuy_id == world.gb_id)
                )
            ).all():
                if quantity:
                    held[(member, variant)] = quantity
        else:
            for member, variant, quantity in (
                await session.execute(
                    select(
                        GroupBuyJoin.member_id, GroupBuyJoin.variant_id, GroupBuyJoin.quantity
                    ).where(GroupBuyJoin.groupbuy_id == world.gb_id)
                )
            ).all():
                if quantity:
                    held[(member, variant if world.kind == "variants" else None)] = quantity
        live: dict[tuple[int, int | None], list[int]] = {}
        for order in (
            await session.execute(
                select(Order).where(
                    Order.groupbuy_id == world.gb_id, col(Order.status).in_(LIVE_ORDER)
                )
            )
        ).scalars():
            live.setdefault((order.member_id, order.variant_id), []).append(order.quantity)
        entries = list(
            (
                await session.execute(
                    select(WaitlistEntry)
                    .where(WaitlistEntry.groupbuy_id == world.gb_id)
                    .execution_options(populate_existing=True)
                )
            ).scalars()
        )
        for entry in entries:
            session.expunge(entry)
    return State(gb.status, sold, cap, gb.units_sold, stock, held, live, entries)


async def check(world: World) -> State:
    """The invariants that hold after every step; returns what it read."""
    state = await read_state(world)
    formed = world.sold_at_settle is not None
    for item in world.items:
        members = {m for (m, i) in state.held if i == item}
        held = sum(q for (_m, i), q in state.held.items() if i == item)
        live = sum(sum(qs) for (_m, i), qs in state.live.items() if i == item)
        # never oversold, never below zero
        assert 0 <= state.sold[item] <= state.cap[item], (item, state.sold, state.cap)
        assert state.stock[item] >= 0
        # each member within the limit, and (a list) one order per item
        assert all(state.held[(m, item)] <= LIMIT for m in members)
        if not formed:
            # the counters are the members' units; the rest of what it took is for sale
            assert state.sold[item] == held, (item, state.sold, state.held)
            assert state.stock[item] + state.cap[item] == world.initial[item]
            continue
        assert world.sold_at_settle is not None
        if item not in world.sold_at_settle:  # did not form: all of it went back
            assert state.stock[item] == world.initial[item]
            assert live == 0
            continue
        # formed: the counters are the live orders' units, and each member's units too
        assert state.sold[item] == live, (item, state.sold, state.live)
        for m in members | {m for (m, i) in state.live if i == item}:
            units = state.live.get((m, item), [])
            assert state.held.get((m, item), 0) == sum(units), (m, item, state.held, state.live)
            if world.kind == "list":
                assert len(units) <= 1, (m, item, state.live)
        # a unit is sold once: what the product holds, what the group-buy holds for its
        # waitlist (units refunds freed while its own line waits) and what live orders hold
        # is what there was; units a refund freed otherwise went back on the shelf, the
        # group-buy's cap shrinking by them (a variant's or list item's: always)
        freed = world.sold_at_settle[item] - state.sold[item]
        shelved = world.cap_at_settle[item] - state.cap[item]
        assert 0 <= shelved <= freed, (item, world.sold_at_settle, world.cap_at_settle, state)
        if item is not None:
            assert shelved == freed, (item, world.cap_at_settle, state.cap)
        held_for_line = freed - shelved
        assert state.stock[item] + held_for_line + live == world.initial[item], (item, state)
    if world.kind != "plain":
        assert state.total_sold == sum(state.sold.values())
    # the waitlist: one entry per member and item; an offer has units and a time limit
    assert len({(e.member_id, e.variant_id) for e in state.entries}) == len(state.entries)
    for entry in state.entries:
        assert entry.variant_id in world.items
        if entry.status == WAIT_OFFERED:
            assert entry.offer_units > 0 and entry.offer_until is not None
        else:
            assert entry.offer_units == 0
    # no offer booked twice: each booked entry is one accept the test saw succeed
    booked = {(e.id, e.offer_no) for e in state.entries if e.status == WAIT_BOOKED}
    assert booked <= world.accepted, (booked, world.accepted)
    return state


# ------------------------------------------------------------------ the steps --------------


def event(what: str) -> None:
    """Note what a random example did (hypothesis's statistics); nothing in a plain test."""
    if currently_in_test_context():
        hypothesis_event(what)


ORDER_REFUSALS = {"sold_out", "item_sold_out", "over_limit", "item_over_limit", "other_variant"}
# an accept refused by the group-buy (the claim goes back with it: the offer stays theirs)
BOOKING_REFUSALS = {"over_limit", "item_over_limit", "other_variant", "closed"}


async def attempt(world: World, action: Callable[[AsyncSession], Awaitable[None]]) -> str:
    """Run one use case in its own transaction, as a handler does; "ok" or the refusal."""
    try:
        async with world.sessions() as session, session.begin():
            await action(session)
    except Refused as exc:
        return exc.reason
    return "ok"


def own_entry(state: State, member: int, item: int | None) -> WaitlistEntry | None:
    return next((e for e in state.entries if e.member_id == member and e.variant_id == item), None)


async def sweep(world: World, minutes: int) -> None:
    """The clock moves on and the waitlist job runs as the runtime runs it (one transaction:
    lapse what passed, then offer what is free)."""
    world.now += timedelta(minutes=minutes)
    before = await read_state(world)
    async with world.sessions() as session, session.begin():
        lapsed = await lapse_offers(session, now=world.now)
        offers = await make_offers(session, now=world.now, minutes=MINUTES)
    # (the job serves every group-buy: the earlier examples' are in the database too)
    lapsed = [x for x in lapsed if x.groupbuy.id == world.gb_id]
    offers = [x for x in offers if x.groupbuy.id == world.gb_id]
    due = {
        e.id
        for e in before.entries
        if e.status == WAIT_OFFERED and e.offer_until is not None and e.offer_until <= world.now
    }
    assert len(lapsed) == len(due)
    state = await check(world)
    by_id = {e.id: e for e in state.entries}
    assert all(by_id[entry_id].status == "lapsed" for entry_id in due)
    offered = {offer.entry_id for offer in offers}
    event(f"sweep offered {len(offers)} lapsed {len(lapsed)} {state.status}")
    for offer in offers:
        entry = by_id[offer.entry_id]
        assert (entry.status, entry.offer_no, entry.offer_units) == (
            WAIT_OFFERED,
            offer.offer_no,
            offer.units,
        )
        assert offer.until == world.now + timedelta(minutes=MINUTES)
        assert offer.units <= entry.quantity
        world.seen_offers[offer.entry_id] = offer.offer_no
    serving = state.status == GROUPBUY_OPEN or (
        state.status == GROUPBUY_FORMED and world.kind == "plain"
    )
    for item in world.items:
        line = [e for e in state.line(item) if e.status in (WAIT_WAITING, WAIT_OFFERED)]
        # in turn: nobody just offered stands behind a member still waiting with no offer
        for place, entry in enumerate(line):
            if entry.id in offered:
                assert all(e.status != WAIT_WAITING for e in line[:place]), line
        # and every free unit is under offer while anyone waits
        promised = sum(e.offer_units for e in line if e.status == WAIT_OFFERED)
        free = state.cap[item] - state.sold[item] - promised
        if serving and any(e.status == WAIT_WAITING for e in line):
            assert free <= 0, (item, free, line)
        if not serving:
            assert not offered


async def order(world: World, member: int, index: int, units: int) -> None:
    item = world.item(index)

    async def run(session: AsyncSession) -> None:
        common = {
            "groupbuy_id": world.gb_id,
            "member_id": member,
            "chat_id": world.chat(member),
            "now": world.now,
        }
        if world.kind == "list":
            await change_lines(session, changes=[LineChange(index + 1, units, add=True)], **common)
        else:
            await set_quantity(session, quantity=units, add=True, variant_id=item, **common)

    result = await attempt(world, run)
    assert result == "ok" or result in ORDER_REFUSALS, result


async def leave(world: World, member: int) -> None:
    async def run(session: AsyncSession) -> None:
        await cancel_mine(
            session, kind=KIND_PLACE, item_id=world.gb_id, member_id=member, now=world.now
        )

    assert await attempt(world, run) in ("ok", "not_joined")


async def wait(world: World, member: int, index: int, units: int) -> None:
    item = world.item(index)
    before = await read_state(world)
    place: list[int] = []

    async def run(session: AsyncSession) -> None:
        place.append(
            await join_waitlist(
                session,
                groupbuy_id=world.gb_id,
                member_id=member,
                chat_id=world.chat(member),
                now=world.now,
                quantity=units,
                variant_id=item,
            )
        )

    result = await attempt(world, run)
    state = await read_state(world)
    if result != "ok":
        assert result in ("not_sold_out", "closed"), result
        was, now = own_entry(before, member, item), own_entry(state, member, item)
        # a refusal changes nothing in the line
        assert (was and (was.status, was.since)) == (now and (now.status, now.since))
        return
    # their place is in the item's live line; the units are what they asked for the first
    # time they came into it
    mine = own_entry(state, member, item)
    assert mine is not None and mine.status in (WAIT_WAITING, WAIT_OFFERED)
    line = [e for e in state.line(item) if e.status in (WAIT_WAITING, WAIT_OFFERED)]
    assert line.index(mine) + 1 == place[0]
    was = own_entry(before, member, item)
    if was is not None and was.status in (WAIT_WAITING, WAIT_OFFERED):
        assert (mine.since, mine.status, mine.quantity) == (was.since, was.status, was.quantity)
    else:
        # at the end of the line (only members who came at the same instant may follow: a
        # tie goes by entry id, and one who came back keeps their old entry)
        assert mine.since == world.now and mine.quantity == units
        assert all(e.since == world.now for e in line[place[0] :])


async def decline(world: World, member: int, index: int) -> None:
    item = world.item(index)
    before = await read_state(world)

    async def run(session: AsyncSession) -> None:
        await leave_waitlist(
            session, groupbuy_id=world.gb_id, member_id=member, now=world.now, variant_id=item
        )

    result = await attempt(world, run)
    was = own_entry(before, member, item)
    if was is not None and was.status in (WAIT_WAITING, WAIT_OFFERED):
        assert result == "ok"
        mine = own_entry(await read_state(world), member, item)
        assert mine is not None and mine.status == "left"
    else:
        assert result == "not_waiting"


async def accept(world: World, pick: int, how: str) -> None:
    """Accept an offer: in time (`now`), once its time passed without a sweep (`late`), an
    older button of it (`stale`: a booked offer again, or a passed one), or someone else's
    (`foreign`)."""
    before = await read_state(world)
    made = sorted(before.entries, key=lambda e: e.id or 0)
    offered = [e for e in made if e.status == WAIT_OFFERED]
    stale = [e for e in made if e.status == WAIT_BOOKED or e.offer_no > 1]
    pool = {"now": offered or made, "late": offered, "stale": stale, "foreign": made}[how]
    if not pool:
        return
    mine = pool[pick % len(pool)]
    member, item = mine.member_id, mine.variant_id
    if how == "foreign":
        member = mine.member_id % MEMBERS + 1
        entry_id, offer_no, expect = mine.id, mine.offer_no, "not_yours"
    elif how == "late":
        assert mine.offer_until is not None
        world.now = max(world.now, mine.offer_until)
        entry_id, offer_no, expect = mine.id, mine.offer_no, "lapsed"
    elif how == "stale":
        if mine.status == WAIT_BOOKED:
            entry_id, offer_no, expect = mine.id, mine.offer_no, "booked"
        else:
            entry_id, offer_no, expect = mine.id, mine.offer_no - 1, "lapsed"
    else:
        entry_id, offer_no, expect = mine.id, mine.offer_no, ""
    assert entry_id is not None
    outcome: list[object] = []

    async def run(session: AsyncSession) -> None:
        outcome.append(
            await accept_offer(
                session, entry_id=entry_id, offer_no=offer_no, member_id=member, now=world.now
            )
        )

    result = await attempt(world, run)
    taken = bool(outcome) and getattr(outcome[0], "taken", False)
    event(f"accept {how}: {result}{'/taken' if taken else ''}")
    state = await read_state(world)  # (checked by step(), once the booking is counted)
    unchanged = (state.sold, state.held, state.live) == (before.sold, before.held, before.live)
    if expect:
        assert result == expect, (how, result, mine)
        assert unchanged
        return
    assert mine is not None
    open_offer = (
        mine.status == WAIT_OFFERED
        and mine.offer_until is not None
        and mine.offer_until > world.now
    )
    if not open_offer:
        assert result == ("booked" if mine.status == WAIT_BOOKED else "lapsed"), (result, mine)
        assert unchanged
        return
    after = own_entry(state, member, item)
    assert after is not None
    if result != "ok":  # refused by the group-buy: nothing booked, the offer stays theirs
        assert result in BOOKING_REFUSALS, result
        assert unchanged
        assert (after.status, after.offer_no) == (WAIT_OFFERED, mine.offer_no)
        return
    if getattr(outcome[0], "taken", False):  # the units went first: first in line again
        assert unchanged
        assert (after.status, after.since) == (WAIT_WAITING, mine.since)
        return
    # booked: exactly the offered units, for this member and item, once
    key = (mine.id, mine.offer_no)
    assert key not in world.accepted
    world.accepted.add(key)  # type: ignore[arg-type]
    assert after.status == WAIT_BOOKED
    assert state.sold[item] == before.sold[item] + mine.offer_units
    grown = {
        k: state.held.get(k, 0) - before.held.get(k, 0)
        for k in set(state.held) | set(before.held)
        if state.held.get(k, 0) != before.held.get(k, 0)
    }
    assert grown == {(member, item): mine.offer_units}, grown


async def pay(world: World, member: int) -> None:
    state = await read_state(world)
    async with world.sessions() as session:
        unpaid = await session.scalar(
            select(Order.id)
            .where(
                Order.groupbuy_id == world.gb_id,
                Order.member_id == member,
                col(Order.status).in_(OPEN_STATUSES),
            )
            .order_by(Order.id)
            .limit(1)
        )
    if unpaid is None:
        return

    async def run(session: AsyncSession) -> None:
        await mark_paid_offline(session, order_id=unpaid, actor_id=CASHIER, now=world.now)

    assert await attempt(world, run) == "ok"
    after = await check(world)
    assert (after.sold, after.live) == (state.sold, state.live)


async def refund(world: World, member: int) -> None:
    """A paid order refunded in full before pickup: its units are freed."""
    async with world.sessions() as session:
        paid = (
            await session.execute(
                select(Order)
                .where(
                    Order.groupbuy_id == world.gb_id,
                    Order.member_id == member,
                    Order.status == ORDER_PAID,
                )
                .order_by(Order.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    if paid is None:  # their unpaid order is paid at pickup first
        await pay(world, member)
        async with world.sessions() as session:
            paid = (
                await session.execute(
                    select(Order)
                    .where(
                        Order.groupbuy_id == world.gb_id,
                        Order.member_id == member,
                        Order.status == ORDER_PAID,
                    )
                    .order_by(Order.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
        if paid is None:
            return
    before = await read_state(world)

    async def run(session: AsyncSession) -> None:
        assert paid.id is not None
        await refund_now(
            session,
            order_id=paid.id,
            actor_id=CASHIER,
            amount=None,
            tier_currency="CNY",
            now=world.now,
        )

    assert await attempt(world, run) == "ok"
    event(f"refund {world.kind}")
    state = await check(world)
    assert state.sold[paid.variant_id] == before.sold[paid.variant_id] - paid.quantity


async def cancel(world: World, member: int) -> None:
    """A member's cancel of their unpaid order once it formed is refused: nothing moves."""
    async with world.sessions() as session:
        unpaid = await session.scalar(
            select(Order.id)
            .where(
                Order.groupbuy_id == world.gb_id,
                Order.member_id == member,
                col(Order.status).in_(OPEN_STATUSES),
            )
            .order_by(Order.id)
            .limit(1)
        )
    if unpaid is None:
        return
    before = await read_state(world)

    async def run(session: AsyncSession) -> None:
        await cancel_mine(session, kind=KIND_ORDER, item_id=unpaid, member_id=member, now=world.now)

    assert await attempt(world, run) == "closed"
    state = await check(world)
    assert (state.sold, state.live) == (before.sold, before.live)


async def step(world: World, what: tuple[Any, ...]) -> None:
    """Do one step, then check every invariant."""
    name, *args = what
    if name.startswith("accept"):
        await accept(world, *args, how=name.removeprefix("accept").lstrip("_") or "now")
    else:
        actions: dict[str, Callable[..., Awaitable[None]]] = {
            "sweep": sweep,
            "order": order,
            "leave": leave,
            "wait": wait,
            "decline": decline,
            "pay": pay,
            "refund": refund,
            "cancel": cancel,
        }
        await actions[name](world, *args)
    await check(world)


async def close(world: World) -> None:
    """The leader closes it now (the deadline's settle, early)."""
    async with world.sessions() as session, session.begin():
        settled = await settle(session, groupbuy_id=world.gb_id, now=world.now, early=True)
    assert settled is not None
    async with world.sessions() as session:
        view = await get_groupbuy(session, world.gb_id)
    assert view is not None
    if view.status != GROUPBUY_FORMED:
        world.sold_at_settle = {}
    elif world.kind == "plain":
        world.sold_at_settle = {None: view.units_sold}
        world.cap_at_settle = {None: view.stock_cap}
    else:
        ordered = {o.variant_id for o in settled.orders}
        world.sold_at_settle = {
            v.variant_id: v.units_sold for v in view.variants if v.variant_id in ordered
        }
        world.cap_at_settle = {
            v.variant_id: v.stock_cap for v in view.variants if v.variant_id in ordered
        }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from((*KINDS, "plain")),  # the plain one serves its line once formed
    open_steps=st.lists(OPEN_STEP, max_size=16),
    formed_steps=st.lists(FORMED_STEP, max_size=16),
)
async def test_random_orders_waitlist_offers_and_refunds_keep_stock_and_ledger_exact(
    database_url: str,
    kind: str,
    open_steps: list[tuple[Any, ...]],
    formed_steps: list[tuple[Any, ...]],
) -> None:
    # every example opens a new group-buy in the same database
    engine = create_engine(make_settings(database_url=database_url))
    try:
        # given a group-buy of this kind, sold out by some, waited for by others
        world = await open_world(create_session_factory(engine), kind)
        for what in [*SELL_OUT, *WAITING, *open_steps]:
            await step(world, what)
        # when the leader closes it and its orders are paid, refunded or cancelled while
        # the waitlist is served on the clock
        await close(world)
        await check(world)
        for what in formed_steps:
            await step(world, what)
        await sweep(world, MINUTES + 1)
        # then the ledger is balanced and every cached balance matches its entries
        await assert_reconciles(database_url)
    finally:
        await engine.dispose()


async def test_units_a_refund_frees_wait_for_the_line_else_go_back_on_the_shelf(
    database_url: str,
) -> None:
    engine = create_engine(make_settings(database_url=database_url))
    try:
        sessions = create_session_factory(engine)
        for waiting in (True, False):
            # given a group-buy sold out at forming, with members waiting for it or not
            world = await open_world(sessions, "plain")
            for what in [*SELL_OUT, *(WAITING if waiting else [])]:
                await step(world, what)
            await close(world)
            before = await read_state(world)
            # when member 1's two units are refunded before pickup
            await refund(world, 1)
            state = await read_state(world)
            assert before.sold[None] - state.sold[None] == 2
            if waiting:
                # then they stay in the group-buy for its line, and are offered to it
                assert (state.cap, state.stock) == (before.cap, before.stock)
                await sweep(world, 1)
                offered = [e for e in (await read_state(world)).entries if e.offer_units]
                assert sum(e.offer_units for e in offered) == 2
            else:
                # then, with nobody waiting, they go back on the shelf: the shop sells them
                assert state.cap[None] == before.cap[None] - 2
                assert state.stock[None] == (before.stock[None] or 0) + 2
        await assert_reconciles(database_url)
    finally:
        await engine.dispose()
