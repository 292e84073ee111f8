"""Orders for someone else (代订): a member says from My orders whom their order is for, the
group's leader (or staff) with /for; it shows on the pickup sheet, the point's sheet, the
sign-up list, the orders export and My orders, escaped; too long, someone else's and another
group's orders are refused, and every change is audited. End to end through the emulator."""

from __future__ import annotations

import csv
import io

from sqlmodel import col, select

from models.audit import AuditEntry
from models.order import Order
from tests.conftest import COFFEE, KAI, LEE, MIA, SAM, TEA, Harness
from tests.test_myorders import listing, press_text
from tests.test_order import make_staff
from tests.test_pickup import formed_groupbuy
from tests.test_pickup_points import choose, given_two_points_and_paid_orders, order_row


async def for_whom(harness: Harness, order_id: int) -> str:
    async with harness.session() as session:
        row = await session.get(Order, order_id, populate_existing=True)
    assert row is not None
    return row.for_whom


async def audited(harness: Harness) -> list[tuple[int, bool, str]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(AuditEntry)
            .where(col(AuditEntry.action) == "order.for_whom")
            .order_by(col(AuditEntry.id))
        )
        return [(row.actor_id, row.allowed, row.detail) for row in rows.scalars().all()]


async def test_a_member_says_from_my_orders_whom_the_order_is_for(harness: Harness) -> None:
    # given Lee's group-buy formed: Mia's order #1 (×2) and Kai's #2, both to pay at pickup
    await formed_groupbuy(harness, crowd=0)
    text, buttons, listed = await listing(harness, MIA)
    assert "👤 For someone else #1" in buttons
    # when Mia taps 👤 For someone else and answers with markup, a line break and spaces
    await press_text(harness, MIA, MIA, listed, "👤 For someone else #1")
    question = harness.emulator.last_bot_message(MIA)
    assert question.text is not None and question.text.startswith(
        "Whom is order #1 Oolong tea for?"
    )
    assert question.button_texts == ["🙋 For me", "✖️ Cancel"]
    # a command sent meanwhile is a command, not the answer
    assert (await harness.send(MIA, MIA, "/orders"))[0].startswith("📦 Your orders")
    # a text too long is refused and asked again; nothing is kept
    assert await harness.send(MIA, MIA, "x" * 61) == [
        "That is too long: at most 60 characters. Send a shorter text."
    ]
    assert await for_whom(harness, 1) == ""
    replies = await harness.send(MIA, MIA, "<b>Mom</b>,\n  building   3")
    # then it is kept cleaned, and shown escaped (the tags as typed, not bold)
    assert replies == [
        "Order #1 Oolong tea is now for <b>Mom</b>, building 3. It shows on the pickup sheet."
    ]
    assert await for_whom(harness, 1) == "<b>Mom</b>, building 3"
    text, _buttons, _id = await listing(harness, MIA)
    assert "#1 Oolong tea ×2 · CN¥79.80\n   to pay at pickup\n   👤 for <b>Mom</b>, building 3" in (
        text
    )
    # and Lee's pickup sheet names whom it is for, after Mia's line
    sheet = (await harness.send(LEE, LEE, "/sheet 1"))[0]
    assert "#1 Mia ×2 · CN¥79.80 · ⏳ unpaid · 👤 for <b>Mom</b>, building 3" in sheet
    assert "#2 Kai ×1 · CN¥39.90 · ⏳ unpaid\n" in sheet + "\n"
    # and the group's order list too
    orders = (await harness.send(LEE, TEA, "/orders"))[0]
    assert "👤 for <b>Mom</b>, building 3" in orders
    # when she asks again and taps 🙋 For me, the order is hers again
    _text, _buttons, listed = await listing(harness, MIA)
    await press_text(harness, MIA, MIA, listed, "👤 For someone else #1")
    question = harness.emulator.last_bot_message(MIA)
    harness.new_bot_messages(MIA)
    await press_text(harness, MIA, MIA, question.message_id, "🙋 For me")
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Order #1 Oolong tea is for its member again."
    ]
    assert await for_whom(harness, 1) == ""
    # and both changes are in the audit log as hers
    assert [(actor, allowed) for actor, allowed, _detail in await audited(harness)] == [
        (MIA, True),
        (MIA, True),
    ]


async def test_a_leader_sets_it_with_for_and_others_are_refused(harness: Harness) -> None:
    # given Lee's formed group-buy in Tea Lovers: Mia's #1 and Kai's #2 (Kai leads Coffee Club)
    await formed_groupbuy(harness, crowd=0)
    # when Lee says in his group whom Kai's order is for
    assert await harness.send(LEE, TEA, "/for 2 Grandpa Li, building 5") == [
        "Order #2 Oolong tea is now for Grandpa Li, building 5. It shows on the pickup sheet."
    ]
    assert await for_whom(harness, 2) == "Grandpa Li, building 5"
    # and Kai (繁體中文) is told in private
    assert harness.emulator.last_bot_message(KAI).text == (
        "訂單 #2（Oolong tea）現已記為代訂，收貨人：Grandpa Li, building 5。"
        "如要修改，請發送 /orders 並點「👤 代訂」。"
    )
    # then the leader of another group cannot change a Tea Lovers order, nor a member another's
    refused = (
        "You cannot change order #1: a member changes their own orders, a leader the orders "
        "of the groups they lead."
    )
    assert await harness.send(KAI, KAI, "/for 1 Someone") == [
        "你不能修改訂單 #1：會員只能改自己的訂單，團長只能改自己所帶群組的訂單。"  # 繁體中文
    ]
    assert await harness.send(KAI, COFFEE, "/for 1 Someone") == [refused]
    assert await harness.send(MIA, MIA, "/for 2 Someone") == [refused.replace("#1", "#2")]
    assert await for_whom(harness, 1) == ""
    assert await for_whom(harness, 2) == "Grandpa Li, building 5"
    # too long, a missing order and a missing number are explained; nothing changes
    assert await harness.send(LEE, LEE, "/for 2 " + "長" * 61) == [
        "That is too long: at most 60 characters. Send a shorter text."
    ]
    assert await harness.send(LEE, LEE, "/for 99 Mom") == ["There is no order #99."]
    assert (await harness.send(LEE, LEE, "/for"))[0].startswith("Send /for ORDER TEXT")
    assert await for_whom(harness, 2) == "Grandpa Li, building 5"
    # and staff may set it on any order; the export carries it
    await harness.send(SAM, SAM, "/for 1 Aunt May")
    await harness.send(SAM, SAM, "/export 1d")
    exported = harness.emulator.bot_messages(SAM)[-1]
    data = harness.emulator.file_bytes(exported.raw["document"]["file_id"]).decode("utf-8-sig")
    rows = {row["order_id"]: row["for_whom"] for row in csv.DictReader(io.StringIO(data))}
    assert rows == {"1": "Aunt May", "2": "Grandpa Li, building 5"}
    # once picked up it cannot change; /for ORDER alone clears an open one
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/pickedup @mia")
    assert await harness.send(LEE, TEA, "/for 1 Someone else") == [
        "Order #1 was picked up or is no longer open, so whom it is for cannot change."
    ]
    assert await harness.send(LEE, TEA, "/for 2") == [
        "Order #2 Oolong tea is for its member again."
    ]
    assert await for_whom(harness, 2) == ""
    # and the audit log holds each change, and each refusal of someone else
    log = await audited(harness)
    assert [(actor, allowed) for actor, allowed, _detail in log] == [
        (LEE, True),
        (KAI, False),
        (KAI, False),
        (MIA, False),
        (SAM, True),
        (LEE, True),
    ]
    assert log[0][2] == "order #2 (leader): Grandpa Li, building 5"


async def test_the_sign_up_list_shows_whom_a_prepaid_place_is_for(harness: Harness) -> None:
    # given Lee opens a Stars group-buy in Tea Lovers and Mia joins: her prepayment order #1
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Moon cake | 30 XTR | stock 20 | telegram")
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1u stock=10")
    card = harness.emulator.last_bot_message(TEA).message_id
    await harness.press(MIA, TEA, card, index=0)
    # when she says it is for her neighbour, with /for in the group
    assert await harness.send(MIA, TEA, "/for 1 Neighbour <i>Wang</i>") == [
        "Order #1 Moon cake is now for Neighbour <i>Wang</i>. It shows on the pickup sheet."
    ]
    # then /list names whom her place is for, escaped
    listed = (await harness.send(MIA, TEA, "/list"))[0]
    assert "1. Mia ×1 · 👤 for Neighbour <i>Wang</i>" in listed


async def test_the_point_sheet_and_the_keeper_see_whom_the_order_is_for(harness: Harness) -> None:
    # given Kai's paid order #2, to pick up at Shop B, is for his neighbour (Lee set it)
    await given_two_points_and_paid_orders(harness)
    await choose(harness, KAI, 2, "Shop B")
    await harness.send(LEE, TEA, "/for 2 Neighbour Chen & <family>")
    # when Lee reads Shop B's sheet
    sheet = (await harness.send(LEE, LEE, "/point_sheet 2"))[0]
    # then the order's line names whom it is for, escaped
    assert "#2 Kai · Oolong tea ×1 · CN¥39.90 · 👤 for Neighbour Chen & <family>" in sheet
    # and whoever confirms the pickup by code is told whom to hand it to
    code = (await order_row(harness, 2)).pickup_code
    redeemed = (await harness.send(LEE, LEE, f"/redeem {code}"))[0]
    assert redeemed.endswith("👤 for Neighbour Chen & <family>")
