"""Pickup points with keepers, and pickup by code (核销): a leader adds points and names a
helper keeper, a member chooses a point and shows the QR code of their order's code, the keeper
types or scans it and the order is picked up once, with who, when and where. Wrong codes, the
wrong point and keepers outside their point get clear messages and book nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from handlers.views.qrcode import qr_png
from models.audit import AuditEntry
from models.order import ORDER_FULFILLED, Order, OrderEvent
from services.order import PICKUP_ALPHABET
from services.pickup import PickupError, choose_point, normalize_code, redeem_code
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.dashboard_kit import dashboard, dashboard_port, init_data, settings
from tests.test_pickup import formed_groupbuy

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard tests share

ANN = 1006  # Lee's helper: keeps Shop A


async def order_row(harness: Harness, order_id: int) -> Order:
    async with harness.session() as session:
        row = await session.get(Order, order_id)
    assert row is not None
    return row


async def pickups_booked(harness: Harness, order_id: int) -> int:
    """How many times the order moved to picked up."""
    async with harness.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OrderEvent)
            .where(col(OrderEvent.order_id) == order_id, col(OrderEvent.to_status) == "fulfilled")
        )
    return int(count or 0)


async def answer(harness: Harness, user: int, text_: str) -> str:
    """The one reply the user gets in private."""
    replies = await harness.send(user, user, text_)
    assert len(replies) == 1, replies
    return replies[0]


async def given_two_points_and_paid_orders(harness: Harness) -> None:
    """Group-buy #1 formed in Tea Lovers (order #1 Mia ×2, #2 Kai ×1), both marked paid by
    Lee; Tea Lovers has Shop A (#1, kept by Ann) and Shop B (#2)."""
    await formed_groupbuy(harness, crowd=0)
    harness.emulator.add_user(ANN, "Ann", username="ann", language_code="en")
    await harness.send(ANN, ANN, "/start")
    assert await harness.send(
        LEE, TEA, "/pickup_point_add Shop A | 12 Main St | daily 9:00-18:00"
    ) == [
        "Pickup point #1 added.\n#1 Shop A\nAddress: 12 Main St\n"
        "Opening hours: daily 9:00-18:00\n"
        "Keepers: none yet (the group's leader keeps every point of the group)\n\n"
        "Name its keepers with /keeper_add @username 1."
    ]
    replies = await harness.send(LEE, TEA, "/pickup_point_add Shop B | 5 Side Rd")
    assert replies[0].startswith("Pickup point #2 added.")
    assert await harness.send(LEE, TEA, "/keeper_add @ann 1") == [
        "Ann now keeps pickup point #1 Shop A: they confirm pickups there with /redeem CODE."
    ]
    assert harness.emulator.last_bot_message(ANN).text.startswith("You now keep pickup point #1")
    sheet = harness.emulator.last_bot_message(LEE)
    assert await harness.press(LEE, LEE, sheet.message_id, index=0) == "Done."  # Mia's #1 paid
    sheet = harness.emulator.last_bot_message(LEE)
    assert await harness.press(LEE, LEE, sheet.message_id, index=1) == "Done."  # Kai's #2 paid


async def choose(harness: Harness, user: int, order_id: int, point: str) -> str:
    """The member opens /orders, taps "Choose pickup point" and the point; returns what the
    choice message then says."""
    await harness.send(user, user, "/orders")
    listing = harness.emulator.last_bot_message(user)
    labels = listing.button_texts
    index = next(
        i for i, label in enumerate(labels) if label.endswith(f"#{order_id}") and "📍" in label
    )
    await harness.press(user, user, listing.message_id, index=index)
    chooser = harness.emulator.last_bot_message(user)
    await harness.press(
        user, user, chooser.message_id, index=chooser.button_texts.index(f"📍 {point}")
    )
    return harness.emulator.last_bot_message(user).text or ""


async def test_a_keeper_confirms_a_pickup_by_code_once_at_their_point(harness: Harness) -> None:
    # given two points, Ann keeping Shop A, and Mia's order #1 paid
    await given_two_points_and_paid_orders(harness)
    code = (await order_row(harness, 1)).pickup_code
    assert code is not None and len(code) == 6 and set(code) <= set(PICKUP_ALPHABET)
    # then Mia's order view shows the code and asks her where she picks it up
    await harness.send(MIA, MIA, "/orders")
    listing = harness.emulator.last_bot_message(MIA)
    assert f"Pickup code: {code}" in (listing.text or "")
    assert "🔳 Pickup code #1" in listing.button_texts
    assert "📍 Choose pickup point #1" in listing.button_texts
    # when Mia chooses Shop A
    assert await choose(harness, MIA, 1, "Shop A") == "You will pick up order #1 at Shop A."
    assert (await order_row(harness, 1)).pickup_point_id == 1
    # and taps "Pickup code": a QR code of her code, with the code and the point in words
    await harness.send(MIA, MIA, "/orders")
    listing = harness.emulator.last_bot_message(MIA)
    assert "Pickup point: Shop A, 12 Main St" in (listing.text or "")
    assert "📍 Choose pickup point #1" not in listing.button_texts
    await harness.press(
        MIA, MIA, listing.message_id, index=listing.button_texts.index("🔳 Pickup code #1")
    )
    photo = harness.emulator.last_bot_message(MIA)
    assert photo.kind == "photo"
    assert harness.emulator.file_bytes(photo.raw["photo"][-1]["file_id"]) == qr_png(code)
    assert photo.raw["caption"].splitlines() == [
        "Order #1 Oolong tea ×2",
        f"Pickup code: {code}",
        "Pickup point: Shop A, 12 Main St",
        "Show this to the keeper at pickup, or tell them the code.",
    ]

    # when Ann types the code as Mia reads it out (lower case, with a space)
    harness.new_bot_messages(MIA)
    typed = f"{code[:3].lower()} {code[3:].lower()}"
    assert await answer(harness, ANN, f"/redeem {typed}") == (
        "✅ Picked up: order #1 Oolong tea ×2. Hand it over.\nPickup point: Shop A"
    )
    # then the order is picked up once, by Ann, now, at Shop A, and Mia is told
    row = await order_row(harness, 1)
    assert (row.status, row.picked_up_by, row.pickup_point_id) == (ORDER_FULFILLED, ANN, 1)
    assert row.picked_up_at == harness.clock()
    # Mia set no zone of her own: the time is on the brand's clock, and names it
    when = harness.clock().strftime("%m-%d %H:%M") + " UTC"
    told = [m.text for m in harness.new_bot_messages(MIA)]
    assert told[:2] == [
        f"Order #1 Oolong tea was picked up at Shop A on {when}. Enjoy!",
        "Enjoy! How was order #1? Review it with /review 1 5 and a few words, and earn 10 points.",
    ]
    # and the same code again, by Ann or by Lee, books nothing twice
    harness.clock.advance(minutes=5)
    used = (
        f"This code was used already: order #1 was picked up on {when}. Nothing was marked twice."
    )
    assert await answer(harness, ANN, f"/redeem {code}") == used
    assert await answer(harness, LEE, f"/redeem {code}") == used
    assert await pickups_booked(harness, 1) == 1
    assert (await order_row(harness, 1)).picked_up_at == row.picked_up_at
    # once picked up, its point cannot change; nor can anyone else's order be pointed
    for member, reason in ((MIA, "not_choosable"), (KAI, "not_yours")):
        async with harness.session() as session, session.begin():
            with pytest.raises(PickupError) as refused:
                await choose_point(session, order_id=1, member_id=member, point_id=2)
        assert refused.value.reason == reason
    assert (await order_row(harness, 1)).pickup_point_id == 1
    # the point's sheet counts it
    sheet = await answer(harness, ANN, "/point_sheet 1")
    assert sheet.splitlines()[:2] == ["📋 Pickup sheet · Shop A", "Waiting: 0 · picked up: 1"]


async def test_bad_codes_the_wrong_point_and_keepers_outside_their_point(harness: Harness) -> None:
    # given two points, Ann keeping Shop A, and Kai's order #2 paid, to pick up at Shop B
    await given_two_points_and_paid_orders(harness)
    assert await choose(harness, KAI, 2, "Shop B") == "你將在 Shop B 領取訂單 #2。"
    kai_code = (await order_row(harness, 2)).pickup_code
    # codes that cannot be, or that no order holds
    assert await answer(harness, ANN, "/redeem O0I1AB") == (
        "O0I1AB is not a pickup code: a code has 6 letters and digits, such as K7MP2X (there is "
        "no 0, O, 1 or I in a code)."
    )
    assert await answer(harness, ANN, "/redeem ZZZZZZ") == (
        "No order has the pickup code ZZZZZZ. Check it with the member."
    )
    # Kai's code at Ann's point: refused, naming where it is picked up
    assert await answer(harness, ANN, f"/redeem {kai_code}") == (
        "Order #2 is picked up at Shop B, not at yours. Nothing was marked: send the member there."
    )
    assert (await order_row(harness, 2)).status == "paid"
    # a member who keeps no point learns nothing about the code
    assert await answer(harness, MIA, f"/redeem {kai_code}") == (
        "Only a pickup point's keepers, the group's leader and the brand's staff confirm "
        "pickups. A leader names keepers with /keeper_add."
    )
    # Ann may not name keepers, nor read Shop B's sheet; Kai leads another group: not Tea's points
    assert await answer(harness, ANN, "/keeper_add @mia 1") == (
        "Sorry, only group leaders and brand staff can do that."
    )
    assert await answer(harness, ANN, "/point_sheet 2") == (
        "Only the keepers of pickup point #2, its group's leader and staff see its sheet."
    )
    await harness.send(KAI, KAI, "/language")
    chooser = harness.emulator.last_bot_message(KAI)
    await harness.press(KAI, KAI, chooser.message_id, index=0)  # English
    assert await answer(harness, KAI, "/keeper_add @kai 1") == (
        "Only the leader of the group that pickup point #1 serves, or the brand's staff, can do "
        "that."
    )
    # nor confirm pickups at Tea Lovers' points (here his own order, at Shop B)
    assert await answer(harness, KAI, f"/redeem {kai_code}") == (
        "Order #2 is picked up at Shop B, not at yours. Nothing was marked: send the member there."
    )
    # bad point input
    assert await answer(harness, LEE, "/pickup_point_add Shop A | again") == (
        "This group already has a pickup point called Shop A."
    )
    assert await answer(harness, LEE, "/pickup_point_add " + "x" * 65) == (
        "The name is too long: at most 64 characters."
    )
    nameless = await answer(harness, LEE, "/pickup_point_add  | 12 Main St")
    assert nameless.startswith("A pickup point needs a name.")
    # the leader of the group confirms at any of its points: Shop B, where Kai chose
    assert await answer(harness, LEE, f"/redeem {kai_code}") == (
        "✅ Picked up: order #2 Oolong tea ×1. Hand it over.\nPickup point: Shop B"
    )
    assert (await order_row(harness, 2)).picked_up_by == LEE
    # every refusal was audited
    async with harness.session() as session:
        refused = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(col(AuditEntry.action) == "pickup.redeem", col(AuditEntry.allowed).is_(False))
        )
    assert refused == 5


async def test_a_group_buy_offers_the_points_its_leader_chooses(harness: Harness) -> None:
    # given Tea Lovers' two points and group-buy #1's paid orders, no point chosen yet
    await given_two_points_and_paid_orders(harness)
    # when Lee has the group-buy offer Shop B only
    assert await answer(harness, LEE, "/gb_points 1 2") == (
        "Group-buy #1 offers these pickup points: #2 Shop B."
    )
    # then Mia's order is for Shop B, with nothing to choose
    await harness.send(MIA, MIA, "/orders")
    listing = harness.emulator.last_bot_message(MIA)
    assert "Pickup point: Shop B, 5 Side Rd" in (listing.text or "")
    assert not [label for label in listing.button_texts if "📍" in label]
    # and Ann, who keeps Shop A, cannot hand it over
    code = (await order_row(harness, 1)).pickup_code
    assert await answer(harness, ANN, f"/redeem {code}") == (
        "Order #1 is picked up at Shop B, not at yours. Nothing was marked: send the member there."
    )
    # a point of no group the group-buy is in, another leader, and bad input are refused
    assert await answer(harness, LEE, "/gb_points 1 9") == (
        "Pickup point #9 is not offered in a group this group-buy is posted in. /pickup_points "
        "lists the points with their numbers."
    )
    assert (await answer(harness, KAI, "/gb_points 1 1")).startswith("只有開團 #1 的團長")
    assert (await answer(harness, LEE, "/gb_points 1 x")).startswith(
        "Tell me the group-buy and the points it offers"
    )
    # "all" offers both again: Mia chooses
    assert await answer(harness, LEE, "/gb_points 1 all") == (
        "Group-buy #1 offers these pickup points: #1 Shop A, #2 Shop B."
    )
    assert await choose(harness, MIA, 1, "Shop A") == "You will pick up order #1 at Shop A."
    # a refunded order's code hands nothing over
    await harness.send(SAM, SAM, "/refund 2")
    assert (await order_row(harness, 2)).status == "refunded"
    refunded_code = (await order_row(harness, 2)).pickup_code
    assert await answer(harness, LEE, f"/redeem {refunded_code}") == (
        "Order #2 was refunded: there is nothing to hand over."
    )


async def test_the_mini_app_confirms_a_scanned_code_once(harness: Harness, dashboard: str) -> None:
    # given Mia's paid order #1 at Shop A, kept by Ann
    await given_two_points_and_paid_orders(harness)
    code = (await order_row(harness, 1)).pickup_code
    assert code is not None
    now = harness.clock()
    async with aiohttp.ClientSession() as http:
        # the keeper's page is served, with the scanner and the typed code
        async with http.get(f"{dashboard}/keeper?lang=en") as response:
            page = await response.text()
        assert response.status == 200
        assert "Confirm a pickup" in page and "web_app_open_scan_qr_popup" in page

        async def post(form: dict[str, str]) -> tuple[int, dict[str, object]]:
            async with http.post(f"{dashboard}/pickup", data=form) as response:
                return response.status, await response.json()

        # when Ann's scanner reads Mia's QR code (the code itself), the order is picked up; the
        # page's first post sends its initData and gets a token for the next ones
        signed = init_data(ANN, "Ann", signed_at=now - timedelta(minutes=1))
        status, body = await post({"init_data": signed, "code": code})
        token = str(body.pop("token"))
        assert (status, body) == (
            200,
            {
                "ok": True,
                "message": "✅ Picked up: order #1 Oolong tea ×2. Hand it over.\n"
                "Pickup point: Shop A",
            },
        )
        # and a second scan from the same page is refused, booking nothing
        status, body = await post({"token": token, "code": code})
        assert status == 200 and body["ok"] is False
        assert str(body["message"]).startswith("This code was used already: order #1")
        # a member's signed initData confirms nothing; a forged one is refused outright
        mia = init_data(MIA, "Mia", signed_at=now - timedelta(minutes=1))
        status, body = await post({"init_data": mia, "code": code})
        assert body["ok"] is False and str(body["message"]).startswith("Only a pickup point's")
        forged = init_data(ANN, "Ann", signed_at=now, token="42:another-bots-token")
        async with http.post(f"{dashboard}/pickup", data={"init_data": forged, "code": code}) as r:
            assert r.status == 403
    await harness.feed_pending()
    row = await order_row(harness, 1)
    assert (row.status, row.picked_up_by) == (ORDER_FULFILLED, ANN)
    assert await pickups_booked(harness, 1) == 1
    assert harness.emulator.last_bot_message(MIA).text.startswith(
        "Order #1 Oolong tea was picked up"
    )


async def test_over_https_redeem_gives_keepers_the_scanner_button(harness: Harness) -> None:
    # given Ann keeps Shop A, and the dashboard is at an https address (Mini Apps need one)
    await given_two_points_and_paid_orders(harness)
    settings = harness.runtime.dp["settings"]
    harness.runtime.dp["settings"] = settings.model_copy(
        update={"dashboard_url": "https://shop.example.com/dashboard"}
    )
    # when Ann sends /redeem without a code, she gets the scanner's Mini App button
    assert (await answer(harness, ANN, "/redeem")).startswith("Send the member's pickup code")
    message = harness.emulator.last_bot_message(ANN)
    (button,) = [button for row in message.reply_markup["inline_keyboard"] for button in row]
    assert button == {
        "text": "📷 Scan a pickup QR code",
        "web_app": {"url": "https://shop.example.com/dashboard/keeper"},
    }
    # and a member who keeps nothing is refused
    assert await answer(harness, MIA, "/redeem") == (
        "Sorry, only group leaders and brand staff can do that."
    )


async def test_two_keepers_racing_on_one_code_pick_it_up_once(harness: Harness) -> None:
    # given Mia's paid order #1; Ann keeps Shop A, Lee leads the group
    await given_two_points_and_paid_orders(harness)
    code = (await order_row(harness, 1)).pickup_code
    assert code is not None
    sessions = harness.runtime.sessions
    owners = frozenset({OWNER})
    postgres = harness.runtime.settings.database_url.startswith("postgresql")

    async def keeper(actor: int, first: asyncio.Event | None = None) -> str:
        async with sessions() as session:
            try:
                async with session.begin():
                    await redeem_code(
                        session, code=code, actor_id=actor, owner_ids=owners, now=harness.clock()
                    )
                    if first is not None:  # holds its transaction open until told
                        await first.wait()
                return "picked"
            except PickupError as exc:
                return exc.reason

    if postgres:
        # when Ann's confirmation is written but not committed, and Lee's reads the order as
        # paid and waits on its row: the conditional UPDATE decides once Ann commits
        release = asyncio.Event()
        ann = asyncio.create_task(keeper(ANN, release))
        async with sessions() as probe:
            while True:  # until Ann's UPDATE is in
                row = await probe.scalar(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid'")
                )
                if row and (await pickups_booked(harness, 1)) == 0 and not ann.done():
                    break
                await asyncio.sleep(0)
        lee = asyncio.create_task(keeper(LEE))
        async with sessions() as probe:
            # until Lee's UPDATE waits on the row Ann's transaction holds (a state, not a time)
            while not (await probe.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))):  # noqa: ASYNC110
                await asyncio.sleep(0)
        release.set()
        results = sorted(await asyncio.gather(ann, lee))
    else:
        results = sorted(await asyncio.gather(keeper(ANN), keeper(LEE)))
    # then exactly one of them picked it up, and the other was told it is picked up already
    assert results == ["already_picked", "picked"]
    assert await pickups_booked(harness, 1) == 1
    assert (await order_row(harness, 1)).status == ORDER_FULFILLED


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("k7mp2x", "K7MP2X"), (" K7M-P2X ", "K7MP2X"), ("K7MP2", None), ("K0MP2X", None), ("", None)],
)
def test_codes_are_read_as_people_type_them(typed: str, stored: str | None) -> None:
    assert normalize_code(typed) == stored
