"""Group-buys as a group lives them: open, join from two groups, coalesced card edits, the
sign-up list, the deadline (on a controlled clock), settlement, and a restart in between."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

from sqlmodel import select

from bot.app import build_runtime, prepare
from bot.config import Settings
from models.groupbuy import GroupBuy
from models.order import Order
from models.product import Product
from services.ledger import AccountRef, balance, find_transaction, reconcile
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, FakeClock, Harness
from tgemu import EMULATOR_TOKEN, Emulator, StoredMessage


async def open_drop(harness: Harness) -> tuple[int, int]:
    """Sam (staff) opens a ¥39.90 drop in both groups; returns the cards' message ids."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    replies = await harness.send(
        SAM,
        SAM,
        "/drop 1 24h min=3 stock=10 limit=3 tiers=4:35.90,6:32.90 pickup=Shop A, Sat 10:00",
    )
    assert replies == ["Group-buy #1 posted in 2 groups."]
    tea = harness.emulator.last_bot_message(TEA)
    coffee = harness.emulator.last_bot_message(COFFEE)
    return tea.message_id, coffee.message_id


def in_tea(harness: Harness, message_id: int) -> StoredMessage:
    """A message in Tea Lovers as it reads now (edits included)."""
    return next(m for m in harness.emulator.messages(TEA) if m.message_id == message_id)


async def test_a_drop_forms_at_the_final_tier_price(harness: Harness) -> None:
    tea_card, coffee_card = await open_drop(harness)
    card = harness.emulator.last_bot_message(TEA)
    assert card.text.splitlines()[:4] == [
        "🛒 Oolong tea",
        "Price now: CN¥39.90",
        "  ▫️ from 4 units: CN¥35.90",
        "  ▫️ from 6 units: CN¥32.90",
    ]
    assert "Progress: 0/3 people" in card.text and "Pickup: Shop A, Sat 10:00" in card.text
    assert card.button_texts == ["Join ×1", "Join ×2", "Join ×3", "−1", "Leave", "Details"]
    # when three members join from two groups
    await harness.send(MIA, MIA, "/start")
    assert await harness.press(MIA, TEA, tea_card, index=1) == "You are #1, quantity 2."
    assert await harness.press(LEE, TEA, tea_card, index=2) == "你是第 2 位，数量 3。"
    assert await harness.press(KAI, COFFEE, coffee_card, index=0) == "你是第 3 位，數量 1。"
    # Mia, who started the bot, also gets a private confirmation
    assert harness.emulator.last_bot_message(MIA).text == (
        "You joined Oolong tea: quantity 2, you are #1."
    )
    # over the limit is refused with a reason
    assert await harness.press(LEE, TEA, tea_card, index=0) == "超过了每人限购数量。"
    # nothing was edited during the burst: the edits wait out the interval ...
    tea_now = in_tea(harness, tea_card)
    assert tea_now.edit_count == 0
    # ... and then the burst becomes one edit per card, showing the new tier
    await harness.runtime.cards.flush()
    tea_now = in_tea(harness, tea_card)
    assert tea_now.edit_count == 1
    assert "Progress: 3/3 people" in tea_now.text and "Price now: CN¥32.90" in tea_now.text
    # the sign-up list (接龙)
    listing = (await harness.send(MIA, TEA, "/list"))[0]
    assert "1. Mia ×2" in listing and "2. Lee ×3" in listing and "3. Kai ×1" in listing
    # Kai leaves and comes back with one unit: he goes to the end of the list
    assert await harness.press(KAI, COFFEE, coffee_card, index=4) == "你已退出這個團購。"
    assert await harness.press(KAI, COFFEE, coffee_card, index=0) == "你是第 3 位，數量 1。"
    # when the deadline passes
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    assert await harness.runtime.closer.close_due() == 0  # exactly once
    # then each group is told, the cards are final, and orders exist at the tier price
    assert harness.emulator.last_bot_message(TEA).text == (
        "#1 Oolong tea formed: 6 sold at CN¥32.90 each!"
    )
    assert harness.emulator.last_bot_message(COFFEE).text.startswith("#1 Oolong tea formed")
    final = in_tea(harness, tea_card)
    assert "✅ Formed!" in final.text and final.button_texts == []
    assert harness.emulator.last_bot_message(MIA).text == (
        "Oolong tea formed! Your order #1: ×2, CN¥65.80. Pay your leader at pickup.\n"
        "Pickup: Shop A, Sat 10:00"
    )
    async with harness.session() as session:
        orders = (await session.execute(select(Order).order_by(Order.id))).scalars().all()
    assert [(o.member_id, o.quantity, o.unit_price, o.chat_id) for o in orders] == [
        (MIA, 2, 3290, TEA),
        (LEE, 3, 3290, TEA),
        (KAI, 1, 3290, COFFEE),
    ]
    # and the leader runs pickup from the group's list
    assert (await harness.send(LEE, TEA, "/paid @mia")) == ["Marked paid for Mia: #1."]


async def test_a_group_buy_that_misses_its_minimum_fails_and_everyone_is_told(
    harness: Harness,
) -> None:
    tea_card, _coffee = await open_drop(harness)
    await harness.send(MIA, MIA, "/start")
    await harness.press(MIA, TEA, tea_card, index=0)
    harness.clock.advance(days=2)
    assert await harness.runtime.closer.close_due() == 1
    assert harness.emulator.last_bot_message(TEA).text == (
        "#1 Oolong tea did not form. Every reservation was released."
    )
    assert harness.emulator.last_bot_message(MIA).text == "Oolong tea did not form. Nothing to pay."
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
        assert gb is not None and gb.status == "failed"
        assert (await session.execute(select(Order))).first() is None


async def test_a_deadline_that_passes_while_the_bot_is_down_still_fires_once(
    harness: Harness,
) -> None:
    tea_card, _coffee = await open_drop(harness)
    for member in (MIA, LEE, KAI):
        await harness.press(member, TEA, tea_card, index=0)
    # the bot stops; the deadline passes while it is down
    await harness.runtime.close()
    harness.clock.advance(hours=30)
    # a new process starts on the same database: its scheduler closes the group-buy at start
    restarted = build_runtime(harness.runtime.settings, EMULATOR_TOKEN, clock=harness.clock)
    try:
        await prepare(restarted, migrate=False)
        await restarted.closer.start()
        restarted.closer.stop()
        assert harness.emulator.last_bot_message(TEA).text.startswith("#1 Oolong tea formed")
        assert await restarted.closer.close_due() == 0
    finally:
        await restarted.close()
        harness.runtime = build_runtime(
            harness.runtime.settings, EMULATOR_TOKEN, clock=harness.clock
        )
    async with harness.session() as session:
        orders = (await session.execute(select(Order))).scalars().all()
    assert len(orders) == 3


async def test_opening_explains_bad_input(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    cases = {
        "/groupbuy tea 24h": "Open a group-buy with one line:",
        "/groupbuy 9 24h": "There is no such product.",
        "/groupbuy 1 someday": "I could not read someday as a time.",
        "/groupbuy 1 yesterday": "The deadline must be in the future.",
        "/groupbuy 1 2020-01-01 10:00": "The deadline must be in the future.",
        "/groupbuy 1 24h min=30u stock=20": "The minimum is larger than the stock",
        "/groupbuy 1 24h tiers=5:39.95": "Tiers must go up in units and down in price",
        # the stock error says how much is left
        "/groupbuy 1 24h stock=50": (
            "The product does not have that much stock left: 20 units. Lower stock= to at most 20."
        ),
        "/groupbuy 1 24h min=many": "Minimum, stock and limit must be whole numbers above zero.",
        "/groupbuy 1 24h stock=²": "Minimum, stock and limit must be whole numbers above zero.",
        # a digit look-alike where the product's number goes is named, in the group's language
        # (English here, though Lee's Telegram is in Chinese)
        "/groupbuy ² 24h": "“²” is not a number I can read: “²” only looks like a digit.",
    }
    for command, expected in cases.items():
        reply = (await harness.send(LEE, TEA, command))[0]
        assert reply.startswith(expected), (command, reply)
    # a misspelt option is named, with the options the command takes, and opens nothing (it
    # opened at the default stock before); a Chinese one too
    reply = (await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stok=10 pickup=Shop A"))[0]
    assert reply.startswith(
        "I do not know the option stok: check how it is spelled. The options this command "
        "takes are below.\n\nOpen a group-buy with one line:\n/groupbuy PRODUCT DEADLINE"
    ), reply
    reply = (await harness.send(LEE, TEA, "/groupbuy 1 24h 成团＝2 库房＝10"))[0]
    assert reply.startswith("I do not know the option 库房: check how it is spelled."), reply
    async with harness.session() as session:
        assert (await session.execute(select(GroupBuy))).first() is None
    # a member may not open one
    assert await harness.send(MIA, TEA, "/groupbuy 1 24h") == [
        "Sorry, only the leaders of this group can do that."
    ]


async def test_leaders_extend_and_cancel(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10")
    card = harness.emulator.last_bot_message(TEA)
    await harness.send(MIA, MIA, "/start")
    await harness.press(MIA, TEA, card.message_id, index=0)
    assert (await harness.send(LEE, TEA, "/gb_extend 1 12h"))[0].startswith("Group-buy #1 now ends")
    # a time before the new end: the leader is told the end and how to move it later
    earlier = harness.runtime.clock() + timedelta(hours=30)  # the end is now in 36 hours
    (refused,) = await harness.send(LEE, TEA, f"/gb_extend 1 {earlier:%m-%d %H:%M}")
    assert refused.startswith("Group-buy #1 already ends "), refused
    assert refused.endswith("give a later time, for example /gb_extend 1 12h.")
    assert (await harness.send(KAI, TEA, "/gb_cancel 1")) == [
        "Sorry, only the leaders of this group can do that."
    ]
    assert await harness.send(LEE, COFFEE, "/gb_cancel 1") == [
        "Sorry, only the leaders of this group can do that."
    ]
    await harness.send(LEE, TEA, "/gb_cancel 1")
    assert harness.emulator.last_bot_message(TEA).text == (
        "#1 Oolong tea was cancelled. Nobody pays anything."
    )
    assert (
        harness.emulator.last_bot_message(MIA).text == "Oolong tea was cancelled. Nothing to pay."
    )
    assert await harness.press(
        MIA, TEA, card.message_id, callback_data="gb:join:1:1", force=True
    ) == ("This group-buy is closed.")


async def test_the_card_speaks_the_groups_language(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add 乌龙茶 | 39.90 CNY | stock 20")
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10 limit=2 tiers=5:35, 8:34")
    card = harness.emulator.last_bot_message(TEA)
    assert card.text.splitlines()[:4] == [
        "🛒 乌龙茶",
        "当前价格：¥39.90",
        "  ▫️ 满 5 件：¥35.00",
        "  ▫️ 满 8 件：¥34.00",
    ]
    assert card.button_texts == ["参团 ×1", "参团 ×2", "−1", "退出", "详情"]
    # the tap's answer is Mia's alone: in her language, not the group's
    assert await harness.press(MIA, TEA, card.message_id, index=1) == "You are #1, quantity 2."


async def test_cards_refresh_by_themselves_once_the_interval_has_passed(
    emulator: Emulator, settings: Settings
) -> None:
    clock = FakeClock()
    runtime = build_runtime(
        settings.model_copy(update={"card_edit_seconds": 0.2}), EMULATOR_TOKEN, clock=clock
    )
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime, clock=clock)
    try:
        await harness.join_groups()
        await harness.send(SAM, SAM, "/start")
        await harness.send(OWNER, OWNER, "/grant_staff @sam")
        await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
        await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10")
        card = harness.emulator.last_bot_message(TEA)
        await asyncio.sleep(0.25)  # the card's own edit slot is free again
        await harness.press(MIA, TEA, card.message_id, index=0)
        await harness.press(KAI, TEA, card.message_id, index=0)
        for _ in range(50):  # up to 5 s on a busy machine
            await asyncio.sleep(0.1)
            current = next(m for m in emulator.messages(TEA) if m.message_id == card.message_id)
            if current.edit_count:
                break
        assert "Progress: 2/2 people" in current.text
        assert current.edit_count == 1
    finally:
        await runtime.close()


async def test_a_leader_closes_a_group_buy_early(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.press(KAI, TEA, card.message_id, index=1)
    assert await harness.send(MIA, TEA, "/gb_close 1") == [
        "Sorry, only the leaders of this group can do that."
    ]
    assert (await harness.send(LEE, TEA, "/gb_close 1"))[-1] == (
        "#1 Oolong tea formed: 3 sold at CN¥39.90 each!"
    )
    assert await harness.send(LEE, TEA, "/gb_close 1") == [
        "There is no open group-buy #1 in this group."
    ]
    assert await harness.runtime.closer.close_due() == 0


async def lees_groupbuy_formed(harness: Harness) -> None:
    """Lee's group-buy of Oolong tea at 40.00 (his 5% commission), formed with Mia x1 and
    Kai x2, both unpaid; Sam is staff."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 40.00 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.press(KAI, TEA, card.message_id, index=1)
    await harness.send(LEE, TEA, "/gb_close 1")


async def test_a_leaders_commission_is_pending_until_the_refund_window_ends(
    harness: Harness,
) -> None:
    # given Lee opened a group-buy (5% commission) that formed with Mia x1 and Kai x2
    await lees_groupbuy_formed(harness)
    # when both pay at pickup
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/paid @kai")
    # then 5% of each is pending for Lee
    wallet = (await harness.send(LEE, LEE, "/wallet"))[0]
    assert "佣金待结算（退款期结束后发放）：¥6.00" in wallet
    # and a refund inside the window takes Kai's part back
    await harness.send(SAM, SAM, "/refund 2")
    async with harness.session() as session:
        pending = AccountRef("leader_commission_pending", LEE)
        assert await balance(session, pending, "CNY") == 200
    # when the refund window has passed, the rest is released to Lee, once
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    await harness.runtime.closer.close_due()
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 0
        assert await balance(session, AccountRef("leader_commission", LEE), "CNY") == 200
    wallet = (await harness.send(LEE, LEE, "/wallet"))[0]
    assert "已赚佣金：¥2.00" in wallet


async def test_a_refund_after_the_window_leaves_the_released_commission_to_the_leader(
    harness: Harness,
) -> None:
    # given Lee's group-buy (5% commission) formed with Mia x1 and Kai x2, both paid
    await lees_groupbuy_formed(harness)
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/paid @kai")
    # and the refund window passed, so Lee's 6.00 was released to him
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    earned = AccountRef("leader_commission", LEE)
    async with harness.session() as session:
        assert await balance(session, earned, "CNY") == 600
    # when staff refund Kai's order in full afterwards
    refunded = await harness.send(SAM, SAM, "/refund 2")
    assert "#2" in refunded[0]
    # then Kai has his money back, and Lee keeps what was released (he may have been paid it)
    async with harness.session() as session:
        assert (await session.get(Order, 2)).status == "refunded"  # type: ignore[union-attr]
        assert await balance(session, earned, "CNY") == 600
        assert await balance(session, AccountRef("leader_commission_pending", LEE), "CNY") == 0
    async with harness.session() as session:
        assert (await reconcile(session)).ok


async def test_the_leaders_commission_release_is_dated_by_the_jobs_clock(
    harness: Harness,
) -> None:
    # given Lee's group-buy (5% commission) formed with Mia x1, paid
    await lees_groupbuy_formed(harness)
    await harness.send(LEE, TEA, "/paid @mia")
    # when the refund window has passed on the domain's clock and the job runs
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    # then the release is booked at the job's now, as a referrer's release is (not the wall
    # clock's, which is 8 days behind here)
    async with harness.session() as session:
        release = await find_transaction(session, "order:1:commission-release")
    assert release is not None
    assert release.created_at.replace(tzinfo=UTC) == harness.clock.now


async def test_a_suspended_leader_earns_nothing_on_orders_paid_while_suspended(
    harness: Harness,
) -> None:
    # given Lee's group-buy (5% commission) formed with Mia x1 and Kai x2, and Mia paid
    await lees_groupbuy_formed(harness)
    await harness.send(LEE, TEA, "/paid @mia")
    pending = AccountRef("leader_commission_pending", LEE)
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 200
    # when staff suspend Lee, then take Kai's money themselves
    await harness.send(SAM, SAM, "/leader_suspend @lee cash not handed over")
    paid = await harness.send(SAM, TEA, "/paid @kai")
    assert "#2" in paid[0]
    # then Kai's order is paid and booked, and Lee earns nothing on it
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 200
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 4000 + 8000


async def test_a_staff_drop_earns_no_commission(harness: Harness) -> None:
    tea_card, _coffee = await open_drop(harness)
    for member in (MIA, LEE, KAI):
        await harness.press(member, TEA, tea_card, index=0)
    harness.clock.advance(hours=25)
    await harness.runtime.closer.close_due()
    await harness.send(LEE, TEA, "/paid @mia")
    async with harness.session() as session:
        assert await balance(session, AccountRef("leader_commission_pending", SAM), "CNY") == 0
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 3990


async def test_a_join_tap_for_a_group_buy_not_posted_in_this_chat_is_refused(
    harness: Harness,
) -> None:
    # given a group-buy Kai opened in Coffee Club only
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await harness.send(KAI, COFFEE, "/groupbuy 1 24h min=2 stock=10")
    await harness.send(MIA, TEA, "/list")
    tea_message = harness.emulator.last_bot_message(TEA).message_id
    # when Mia edits a button in Tea Lovers to join it (which would credit Lee's group)
    answer = await harness.press(MIA, TEA, tea_message, callback_data="gb:join:1:1", force=True)
    # then she is refused and nobody joined
    assert answer == "This group-buy no longer exists."
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
    assert gb is not None and (gb.units_sold, gb.participants) == (0, 0)


async def test_a_partial_refund_scales_the_leaders_pending_commission(harness: Harness) -> None:
    # given Lee's group-buy (5% commission) formed with Mia x1 and Kai x2, both paid
    await lees_groupbuy_formed(harness)
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/paid @kai")
    pending = AccountRef("leader_commission_pending", LEE)
    expense = AccountRef("brand_commission_expense")
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 200 + 400
    # when 10.00 of Mia's 40.00 is refunded, her order's commission shrinks to 5% of 30.00
    await harness.send(SAM, SAM, "/refund 1 10")
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 150 + 400
        assert await balance(session, expense, "CNY") == -(150 + 400)
    # and a second partial refund takes it down again, rounded down (5% of 30.00 less 0.01)
    await harness.send(SAM, SAM, "/refund 1 0.01")
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 200 * 2999 // 4000 + 400 == 549
    # and the rest of the refund takes it all back
    await harness.send(SAM, SAM, "/refund 1")
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 400
    # when the window has passed, Lee gets what is left of Kai's order only, once
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    await harness.runtime.closer.close_due()
    async with harness.session() as session:
        assert await balance(session, pending, "CNY") == 0
        assert await balance(session, AccountRef("leader_commission", LEE), "CNY") == 400
        assert (await reconcile(session)).ok


async def test_commission_left_after_a_partial_refund_is_released(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 40.00 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=10")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.send(LEE, TEA, "/gb_close 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(SAM, SAM, "/refund 1 10")
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    async with harness.session() as session:
        assert await balance(session, AccountRef("leader_commission_pending", LEE), "CNY") == 0
        assert await balance(session, AccountRef("leader_commission", LEE), "CNY") == 150


async def test_a_join_above_the_stock_left_says_how_many_are_left(harness: Harness) -> None:
    # given a group-buy of 3 units, 2 of them taken by Kai
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=3 limit=3")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(KAI, TEA, card.message_id, index=1)
    # when Mia joins with 2
    answer = await harness.press(MIA, TEA, card.message_id, index=1)
    # then she reads how many are left, and 1 she can take
    assert answer == "Sorry, only 1 left: take fewer."
    assert (await harness.press(MIA, TEA, card.message_id, index=0) or "").startswith(
        "You are #2, quantity 1."
    )
    # and once none is left, it is sold out
    assert await harness.press(LEE, TEA, card.message_id, index=0) == (
        "抱歉，已经售罄：点卡片上的 🔔 到货通知即可加入候补。"
    )


async def test_a_refund_after_forming_drops_the_member_from_the_participants_count(
    harness: Harness,
) -> None:
    # given Lee's group-buy formed with Mia x1 and Kai x2, both paid, not yet picked up
    await lees_groupbuy_formed(harness)
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/paid @kai")
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
        assert gb is not None and (gb.units_sold, gb.participants) == (3, 2)
        product = await session.get(Product, gb.product_id)
        assert product is not None
        shelf = product.stock or 0
    # when staff refund Kai's whole order
    await harness.send(SAM, SAM, "/refund 2")
    # then he no longer counts as a participant, and his units, with nobody waiting for
    # them, leave the group-buy and go back on the shelf, where the shop sells them
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
        assert gb is not None and (gb.units_sold, gb.participants) == (1, 1)
        product = await session.get(Product, gb.product_id)
        assert product is not None and product.stock == shelf + 2
    await harness.runtime.cards.flush()
    # and the card in the group says so (a formed card has no units left to take)
    card = next(m for m in harness.emulator.messages(TEA) if (m.text or "").startswith("🛒"))
    assert "Progress: 1/2 people\n✅ Formed!" in card.text and "Units left" not in card.text
    async with harness.session() as session:
        assert (await reconcile(session)).ok


class HeldFirstEdit:
    """The bot, except that the first call waits until it is cancelled (an edit in flight)."""

    def __init__(self, bot: object) -> None:
        self.bot = bot
        self.entered = asyncio.Event()
        self.calls = 0

    async def __call__(self, method: object) -> object:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await asyncio.Event().wait()  # until cancelled
        return await self.bot(method)  # type: ignore[operator]


async def test_a_flush_during_a_card_edit_in_flight_still_edits_the_card(
    harness: Harness,
) -> None:
    # given a join whose card edit is on its way to Telegram when the cards are flushed (the
    # rush ends, or the bot shuts down)
    tea_card, _coffee_card = await open_drop(harness)
    cards = harness.runtime.cards
    held = HeldFirstEdit(cards.bot)
    cards.bot = held  # type: ignore[assignment]
    cards.interval = 0.0
    assert await harness.press(MIA, TEA, tea_card, index=1) == "You are #1, quantity 2."
    await asyncio.wait_for(held.entered.wait(), 5)
    # when the flush cancels that edit
    await cards.flush()
    # then the flush edits the card itself: it shows the join
    tea_now = in_tea(harness, tea_card)
    assert "Progress: 1/3 people" in tea_now.text


async def test_a_shutdown_edits_the_cards_that_changed_since_their_last_edit(
    harness: Harness,
) -> None:
    # given a join whose card edit still waits out its interval
    tea_card, _coffee_card = await open_drop(harness)
    assert await harness.press(MIA, TEA, tea_card, index=1) == "You are #1, quantity 2."
    tea_now = in_tea(harness, tea_card)
    assert tea_now.edit_count == 0
    # when the bot shuts down (a deploy, a restart)
    await harness.runtime.cards.close()
    # then the card was edited before it stopped: it shows the join
    tea_now = in_tea(harness, tea_card)
    assert tea_now.edit_count == 1
    assert "Progress: 1/3 people" in tea_now.text
