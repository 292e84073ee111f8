"""Paid membership with Telegram Stars subscriptions: staff sell a monthly plan that grants a
tier or a group level; the member subscribes through an invoice link, Telegram renews it every
30 days (or fails to), the member cancels from the bot, and a period that ends unrenewed lapses
on the domain clock. Each period is booked once on the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from models.community import JOIN_PAID, LEVEL_VIP
from models.ledger import ACCOUNT_BRAND_REVENUE, LedgerTransaction
from models.membership import (
    CANCELED_BY_BOT,
    CANCELED_BY_MEMBER,
    MEMBERSHIP_ACTIVE,
    MEMBERSHIP_LAPSED,
    Membership,
    MembershipPeriod,
)
from models.order import StarRefund
from services.ledger import STARS, AccountRef, balance
from services.membership import TX_MEMBERSHIP_PAID
from services.tiers import standing
from tests.conftest import MIA, SAM, Harness
from tests.test_levels import VIP, ZOE, community, member_status, vip_group
from tests.test_order import make_staff

GOLD_PLAN = "/membership_plan_add Gold club | 300 | tier=Gold"


async def sell_gold(harness: Harness) -> None:
    """Sam (staff) sells Gold club, 300 Stars a month granting Gold; Mia started the bot."""
    await make_staff(harness)
    assert await harness.send(SAM, SAM, GOLD_PLAN) == [
        "Membership plan #1 is for sale: Gold club: ⭐ 300 a month, grants tier Gold. "
        "Members buy it with /membership."
    ]
    await harness.send(MIA, MIA, "/start")


async def subscription_link(harness: Harness, user_id: int = MIA) -> str:
    """The member opens /membership and taps Subscribe: the bot sends an invoice link."""
    await harness.send(user_id, user_id, "/membership")
    screen = harness.emulator.last_bot_message(user_id)
    await harness.press(user_id, user_id, screen.message_id, callback_data="mship:buy:1")
    sent = harness.emulator.last_bot_message(user_id)
    url = str(sent.buttons[0][0]["url"])
    assert url in harness.emulator.invoice_links
    return url


async def subscribe(harness: Harness, url: str, user_id: int = MIA) -> dict[str, Any]:
    """The member pays the link in Telegram; returns the successful_payment it delivered."""
    asked = harness.emulator.pay_invoice_link(user_id, url)
    await harness.feed_pending()
    query_id = asked["pre_checkout_query"]["id"]
    assert harness.emulator.pre_checkout_answers[query_id]["ok"] is True
    paid = harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    return dict(paid["message"]["successful_payment"])


async def tier_code(harness: Harness, member_id: int = MIA) -> str:
    async with harness.session() as session:
        return (await standing(session, member_id)).tier.code


async def membership(harness: Harness, member_id: int = MIA) -> Membership:
    async with harness.session() as session:
        row = (
            await session.execute(select(Membership).where(col(Membership.member_id) == member_id))
        ).scalar_one()
    return row


async def booked_periods(harness: Harness) -> list[int]:
    """The Stars of every membership period on the ledger, oldest first."""
    async with harness.session() as session:
        rows = await session.execute(
            select(LedgerTransaction)
            .where(col(LedgerTransaction.kind) == TX_MEMBERSHIP_PAID)
            .order_by(col(LedgerTransaction.id))
        )
        txs = list(rows.scalars())
        periods = (await session.execute(select(MembershipPeriod))).scalars().all()
    assert len(periods) == len(txs)
    return [p.stars for p in periods]


async def revenue(harness: Harness) -> int:
    async with harness.session() as session:
        return await balance(session, AccountRef(ACCOUNT_BRAND_REVENUE), STARS)


def texts(harness: Harness, chat_id: int) -> list[str]:
    return [m.text or "" for m in harness.new_bot_messages(chat_id)]


async def test_a_subscription_over_three_periods_with_a_failed_renewal_and_a_cancellation(
    harness: Harness,
) -> None:
    await sell_gold(harness)
    assert await tier_code(harness) == "member"
    start = harness.clock.now

    # when Mia subscribes through the invoice link (30 days, in Stars)
    url = await subscription_link(harness)
    link = harness.emulator.invoice_links[url]
    assert (link["subscription_period"], link["currency"], link["total_amount"]) == (
        2592000,
        "XTR",
        300,
    )
    first = await subscribe(harness, url)
    assert first["is_first_recurring"] is True
    charge = str(first["telegram_payment_charge_id"])
    # then she is a Gold member for the first period, booked once
    told = texts(harness, MIA)
    assert told[-1].startswith("Welcome to Gold club! You now have tier Gold until ")
    assert await tier_code(harness) == "gold"
    assert await booked_periods(harness) == [300]

    # when Telegram renews it a month later
    harness.clock.now = start + timedelta(days=30)
    harness.emulator.renew_subscription(charge)
    await harness.feed_pending()
    told = texts(harness, MIA)
    assert len(told) == 1 and told[0].startswith("Your membership Gold club is renewed for ⭐ 300")
    row = await membership(harness)
    assert row.status == MEMBERSHIP_ACTIVE
    assert row.period_end - start > timedelta(days=59)
    assert await tier_code(harness) == "gold"
    assert await booked_periods(harness) == [300, 300]

    # when the next renewal fails a day before the period ends
    harness.clock.now = start + timedelta(days=59)
    harness.emulator.fail_subscription_renewal(charge)
    await harness.feed_pending()
    told = texts(harness, MIA)
    assert len(told) == 1 and told[0].startswith(
        "Telegram could not renew your membership Gold club. It stays active until "
    )
    assert await tier_code(harness) == "gold"  # paid up to the end of the period
    # and the period ends without a payment: the job lapses it, and Gold goes with it
    harness.clock.now = start + timedelta(days=60, hours=2)
    assert await harness.runtime.memberships.run() == 1
    await harness.runtime.notifier.drain()
    assert texts(harness, MIA) == [
        "Your membership Gold club has ended, and tier Gold with it. "
        "Send /membership to join again."
    ]
    assert (await membership(harness)).status == MEMBERSHIP_LAPSED
    assert await tier_code(harness) == "member"
    assert await harness.runtime.memberships.run() == 0  # lapsed once

    # when Telegram tries again and the third period is paid
    harness.emulator.renew_subscription(charge)
    await harness.feed_pending()
    assert texts(harness, MIA)[0].startswith("Your membership Gold club is renewed")
    assert (await membership(harness)).status == MEMBERSHIP_ACTIVE
    assert await tier_code(harness) == "gold"
    assert await booked_periods(harness) == [300, 300, 300]

    # when Mia cancels from the bot
    await harness.send(MIA, MIA, "/membership")
    screen = harness.emulator.last_bot_message(MIA)
    assert "Gold club: active, renews on " in (screen.text or "")
    assert screen.button_texts == ["Cancel Gold club", "⬅️ Back"]
    await harness.press(MIA, MIA, screen.message_id, callback_data="mship:cancel:1")
    # then Telegram is asked to stop the renewals, and she sees when it ends
    assert harness.emulator.calls_of("editUserStarSubscription") == [
        {"user_id": MIA, "telegram_payment_charge_id": charge, "is_canceled": True}
    ]
    told = texts(harness, MIA)
    assert told[-1].startswith(
        "Your membership Gold club will not renew. You keep tier Gold until "
    )
    assert (await membership(harness)).canceled_by == CANCELED_BY_MEMBER
    assert harness.emulator.subscriptions[charge]["canceled_by"] == "bot"
    assert await tier_code(harness) == "gold"
    await harness.send(MIA, MIA, "/membership")
    assert "will not renew" in (harness.emulator.last_bot_message(MIA).text or "")

    # and at the end of the third period it lapses for good
    harness.clock.now = start + timedelta(days=90, hours=2)
    assert await harness.runtime.memberships.run() == 1
    await harness.runtime.notifier.drain()
    assert await tier_code(harness) == "member"
    # three periods booked, 900 Stars of revenue (the ledger reconciles at teardown)
    assert await booked_periods(harness) == [300, 300, 300]
    assert await revenue(harness) == 900


async def test_a_payment_for_a_plan_switched_off_is_refunded_and_its_subscription_cancelled(
    harness: Harness,
) -> None:
    await sell_gold(harness)
    url = await subscription_link(harness)
    # when Mia starts paying, and Sam switches the plan off before the money arrives
    asked = harness.emulator.pay_invoice_link(MIA, url)
    await harness.feed_pending()
    query_id = asked["pre_checkout_query"]["id"]
    assert harness.emulator.pre_checkout_answers[query_id]["ok"] is True
    assert await harness.send(SAM, SAM, "/membership_plan_off 1") == [
        "Plan #1 Gold club is switched off: no longer sold, and renewals stop; its 0 active "
        "members keep it until their paid month ends and are told."
    ]
    texts(harness, MIA)
    paid = harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    charge = paid["message"]["successful_payment"]["telegram_payment_charge_id"]
    # then she is told, her Stars go back, and Telegram charges the subscription no more
    assert texts(harness, MIA) == [
        "The membership plan Gold club is no longer sold. Send /membership to see the plans.",
        "Your membership payment of ⭐ 300 went back to you.",
    ]
    assert [
        c["telegram_payment_charge_id"] for c in harness.emulator.calls_of("refundStarPayment")
    ] == [charge]
    assert harness.emulator.subscriptions[charge]["canceled_by"] == "bot"
    assert await tier_code(harness) == "member"
    assert await booked_periods(harness) == []
    # and a new link is refused before any money moves
    asked = harness.emulator.pay_invoice_link(MIA, url)
    await harness.feed_pending()
    answer = harness.emulator.pre_checkout_answers[asked["pre_checkout_query"]["id"]]
    assert answer["ok"] is False
    assert answer["error_message"] == (
        "The membership plan Gold club is no longer sold. Send /membership to see the plans."
    )
    assert await harness.send(SAM, SAM, "/membership_plan_off 1") == [
        "Plan #1 is switched off already."
    ]


async def test_a_renewal_of_a_plan_switched_off_is_refunded_and_the_month_paid_is_kept(
    harness: Harness,
) -> None:
    await sell_gold(harness)
    first = await subscribe(harness, await subscription_link(harness))
    charge = str(first["telegram_payment_charge_id"])
    texts(harness, MIA)
    # when Sam switches the plan off
    assert await harness.send(SAM, SAM, "/membership_plan_off 1") == [
        "Plan #1 Gold club is switched off: no longer sold, and renewals stop; its 1 active "
        "member keeps it until the paid month ends and is told."
    ]
    # then Mia is told, and her subscription is cancelled: Telegram charges it no more
    told = texts(harness, MIA)
    assert len(told) == 1 and told[0].startswith(
        "The membership Gold club is no longer sold, so it will not renew and you will not be "
        "charged again. You keep tier Gold until "
    )
    assert harness.emulator.calls_of("editUserStarSubscription") == [
        {"user_id": MIA, "telegram_payment_charge_id": charge, "is_canceled": True}
    ]
    assert harness.emulator.subscriptions[charge]["canceled_by"] == "bot"
    # when Telegram had charged the next month before the cancellation reached it
    harness.emulator.subscriptions[charge]["canceled_by"] = None
    renewal = harness.emulator.renew_subscription(charge)
    await harness.feed_pending()
    second = renewal["message"]["successful_payment"]["telegram_payment_charge_id"]
    # then the renewal goes back, the subscription is cancelled, the paid month holds
    assert texts(harness, MIA) == [
        "The membership plan Gold club is no longer sold. Send /membership to see the plans.",
        "Your membership payment of ⭐ 300 went back to you.",
    ]
    async with harness.session() as session:
        refunds = (await session.execute(select(StarRefund))).scalars().all()
    assert [r.charge_id for r in refunds] == [second]
    assert harness.emulator.calls_of("editUserStarSubscription")[-1]["is_canceled"] is True
    row = await membership(harness)
    assert (row.status, row.canceled_by) == (MEMBERSHIP_ACTIVE, CANCELED_BY_BOT)
    assert await tier_code(harness) == "gold"
    assert await booked_periods(harness) == [300]


async def test_the_same_payment_delivered_twice_is_booked_once(harness: Harness) -> None:
    await sell_gold(harness)
    url = await subscription_link(harness)
    asked = harness.emulator.pay_invoice_link(MIA, url)
    await harness.feed_pending()
    paid = harness.emulator.complete_payment(asked["pre_checkout_query"]["id"])
    # when Telegram delivers the payment twice: the same update, then a new message with it
    again = dict(paid)
    again["update_id"] = paid["update_id"] + 1000
    again["message"] = dict(paid["message"], message_id=paid["message"]["message_id"] + 1000)
    for update in (paid, paid, again):
        await harness.runtime.dp.feed_raw_update(harness.runtime.bot, update)
    await harness.runtime.notifier.drain()
    # then one period is booked and Mia is welcomed once
    assert await booked_periods(harness) == [300]
    assert await revenue(harness) == 300
    welcomed = [t for t in texts(harness, MIA) if t.startswith("Welcome to Gold club!")]
    assert len(welcomed) == 1
    # and the same link paid again while she holds the plan is refused before money moves
    asked = harness.emulator.pay_invoice_link(MIA, url)
    await harness.feed_pending()
    answer = harness.emulator.pre_checkout_answers[asked["pre_checkout_query"]["id"]]
    assert (answer["ok"], answer["error_message"]) == (
        False,
        "You are already a member of Gold club, renewing every month.",
    )


async def test_a_vip_plan_admits_its_members_to_a_paid_vip_group(harness: Harness) -> None:
    await vip_group(harness)
    assert await harness.send(SAM, SAM, "/membership_plan_add VIP circle | 500 | level=vip") == [
        "Membership plan #1 is for sale: VIP circle: ⭐ 500 a month, grants entry to groups of "
        "level VIP. Members buy it with /membership."
    ]
    await harness.send(SAM, SAM, f"/group_level {VIP} vip paid")
    row = await community(harness, VIP)
    assert (row.level, row.join_rule) == (LEVEL_VIP, JOIN_PAID)
    # when Mia subscribes and Zoe does not, and both ask to join
    await subscribe(harness, await subscription_link(harness))
    harness.emulator.request_to_join(VIP, MIA)
    harness.emulator.request_to_join(VIP, ZOE)
    await harness.feed_pending()
    # then Mia is in and Zoe is declined with what would qualify her
    assert member_status(harness, VIP, MIA) == "member"
    assert member_status(harness, VIP, ZOE) == "left"
    assert [m.text for m in harness.new_bot_messages(ZOE)] == [
        "Sorry, I could not approve your request to join this group.\n"
        "Tea VIP is a VIP group for paid members. Become a member with /membership, then ask "
        "to join again."
    ]


async def test_bad_plans_are_refused_with_a_clear_message(harness: Harness) -> None:
    await make_staff(harness)
    for line, reply in (
        ("/membership_plan_add Gold", "Send /membership_plan_add NAME | STARS | GRANT"),
        ("/membership_plan_add Gold | lots | tier=Gold", "The price must be a whole number"),
        ("/membership_plan_add Gold | 20000 | tier=Gold", "The price must be a whole number"),
        ("/membership_plan_add Gold | 300 | tier=Platinum", "“Platinum” is not a tier"),
        ("/membership_plan_add Gold | 300 | tier=Member", "“Member” is not a tier"),
        ("/membership_plan_add Gold | 300 | level=open", "“open” is not a level a plan"),
        ("/membership_plan_add Gold | 300 | free", "“free” is not a grant"),
        ("/membership_plan_off 7", "There is no membership plan #7."),
        ("/membership_plan_off seven", "Send /membership_plan_off ID"),
    ):
        replies = await harness.send(SAM, SAM, line)
        assert len(replies) == 1 and replies[0].startswith(reply), (line, replies)
    assert await harness.send(SAM, SAM, "/membership_plans") == [
        "No membership plans yet. Add one with /membership_plan_add."
    ]
    # and a member is not staff
    await harness.send(MIA, MIA, "/start")
    refused = await harness.send(MIA, MIA, GOLD_PLAN)
    assert len(refused) == 1 and "Membership plan #" not in refused[0]


async def test_points_and_perks_lead_to_the_membership_once_a_plan_is_sold(
    harness: Harness,
) -> None:
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/me")
    assert "💎 Membership" not in harness.emulator.last_bot_message(MIA).button_texts
    await sell_gold(harness)
    # when Mia opens Points and perks and taps 💎 Membership
    await harness.send(MIA, MIA, "/me")
    me = harness.emulator.last_bot_message(MIA)
    assert me.button_texts == [
        "🎁 Rewards",
        "📜 Points history",
        "🏅 Tiers",
        "💎 Membership",
        "⬅️ Back",
    ]
    await harness.press(MIA, MIA, me.message_id, callback_data="menu:membership")
    # then the screen shows the plan with its Subscribe button, and Back to the perks
    shown = harness.emulator.last_bot_message(MIA)
    assert shown.message_id == me.message_id
    assert shown.text == (
        "Paid membership\nPlans for sale, paid monthly in Stars:\n"
        "· Gold club: ⭐ 300 a month, grants tier Gold"
    )
    assert shown.button_texts == ["⭐ Subscribe: Gold club", "⬅️ Back"]


async def test_stats_count_active_memberships_per_plan(harness: Harness) -> None:
    await sell_gold(harness)
    await subscribe(harness, await subscription_link(harness))
    await harness.send(SAM, SAM, "/membership_plan_add VIP circle | 500 | level=vip")
    await harness.send(SAM, SAM, "/membership_plan_off 2")
    # when Sam asks for /stats
    harness.new_bot_messages(SAM)
    harness.emulator.send_message(SAM, SAM, "/stats")
    await harness.feed_pending()
    # then the report ends with the active memberships, per plan
    assert any(
        (m.text or "").endswith("Active memberships: 1\nGold club: 1 member")
        for m in harness.new_bot_messages(SAM)
    )
    assert await harness.send(SAM, SAM, "/membership_plans") == [
        "Membership plans\n"
        "#1 Gold club: ⭐ 300 a month, grants tier Gold · for sale · 1 active\n"
        "#2 VIP circle: ⭐ 500 a month, grants entry to groups of level VIP · switched off · "
        "0 active"
    ]


async def test_the_member_cancels_in_telegram_and_turns_it_back_on(harness: Harness) -> None:
    await sell_gold(harness)
    first = await subscribe(harness, await subscription_link(harness))
    charge = str(first["telegram_payment_charge_id"])
    texts(harness, MIA)
    # when Mia cancels the subscription in Telegram's settings (the `subscription` update)
    harness.emulator.cancel_subscription(charge)
    await harness.feed_pending()
    # then the bot knows it will not renew, and she keeps Gold to the end of the month
    told = texts(harness, MIA)
    assert len(told) == 1
    assert told[0].startswith("Your membership Gold club will not renew. You keep tier Gold until ")
    assert (await membership(harness)).canceled_by == CANCELED_BY_MEMBER
    assert await tier_code(harness) == "gold"
    await harness.send(MIA, MIA, "/membership")
    screen = harness.emulator.last_bot_message(MIA)
    # and the screen offers no Cancel, but a new subscription (it would replace this one)
    assert screen.button_texts == ["⭐ Subscribe: Gold club", "⬅️ Back"]
    assert "active until" in (screen.text or "") and "it will not renew" in (screen.text or "")
    # when she turns it back on
    harness.emulator.reenable_subscription(charge)
    await harness.feed_pending()
    told = texts(harness, MIA)
    assert len(told) == 1 and told[0].startswith("Your membership Gold club will renew again")
    assert (await membership(harness)).canceled_by == ""
    # and the next month is charged as before
    harness.emulator.renew_subscription(charge)
    await harness.feed_pending()
    assert await booked_periods(harness) == [300, 300]
