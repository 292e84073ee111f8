"""Every state-changing update delivered twice has one effect: redelivered with the same update
id (polling after a crash), or under a new update id with the same callback query, message or
pre-checkout query (a second worker, a replayed webhook). After the first delivery the store
holds the effect and the user saw the answer; after the redeliveries the store is the same, row
for row, and the bot said nothing more."""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from models.broadcast import BroadcastRecipient, MarketingConsent
from models.coupons import MemberCoupon
from models.groupbuy import GroupBuy, GroupBuyPost
from models.idempotency import ProcessedUpdate
from models.loyalty import CheckIn
from models.member import Member
from models.nps import NpsSurvey
from models.order import Order, Payment
from models.poll import PollBallot
from models.product import Product
from models.referral import Referral
from models.rewards import Redemption
from models.role import StaffGrant
from models.suggestion import Suggestion
from services.groupbuy import participants
from services.ledger import AccountRef, balance
from services.points import points_balance
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_poll_chat import create_poll, poll_ids

Update = dict[str, Any]
NOT_EFFECTS = {"processed_update"}  # the claims themselves
# refreshed from Telegram's profile by every update the bot reads; not an effect of the update
NOT_EFFECT_COLUMNS = {"member.updated_at"}
NEWCOMER = 1099


# ------------------------------------------------------------------ the world ----------------
async def given_shop(h: Harness) -> None:
    """Both groups have the bot, Sam is staff selling oolong (offline) and moon cakes (Stars),
    the cast started the bot."""
    await h.join_groups()
    for user in (SAM, MIA, LEE, KAI):
        await h.send(user, user, "/start")
    await h.send(OWNER, OWNER, "/grant_staff @sam")
    await h.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 20")
    await h.send(SAM, SAM, "/product_add Moon cake | 25 XTR | stock 5 | telegram")


async def given_groupbuy(h: Harness) -> None:
    await given_shop(h)
    await h.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=10 limit=3")


async def given_mia_joined_twice(h: Harness) -> None:
    await given_groupbuy(h)
    await h.press(MIA, TEA, card(h), index=1)  # Join ×2


async def given_mia_ordered(h: Harness) -> None:
    await given_shop(h)
    await h.send(MIA, TEA, "/buy 1 2")


async def given_mia_paid(h: Harness) -> None:
    await given_mia_ordered(h)
    await h.send(LEE, TEA, "/paid @mia")


async def given_stars_invoice(h: Harness) -> None:
    await given_shop(h)
    await h.send(MIA, MIA, "/buy 2 2")


async def given_stars_checkout(h: Harness) -> None:
    await given_stars_invoice(h)
    h.emulator.pay_invoice(MIA, MIA, h.emulator.last_bot_message(MIA).message_id)
    await h.feed_pending()


async def given_stars_paid(h: Harness) -> None:
    await given_stars_checkout(h)
    h.emulator.complete_payment(pre_checkout_id(h))
    await h.feed_pending()


async def given_poll(h: Harness) -> None:
    await given_shop(h)
    await create_poll(h)


async def given_adopting(h: Harness) -> None:
    await given_shop(h)
    await h.send(MIA, MIA, "/suggest Smaller tins please")
    await h.send(SAM, SAM, "/suggestions")
    await tap(h, SAM, SAM, "✅ Adopt")


async def given_nps_question(h: Harness) -> None:
    await given_shop(h)
    await h.send(MIA, MIA, "/nps_me")


async def given_points(h: Harness) -> None:
    await given_shop(h)
    await h.send(SAM, SAM, "/reward_add Tea cup | 5 | 3")
    await h.send(MIA, TEA, "/checkin")
    await h.send(MIA, MIA, "/rewards")
    await h.press(MIA, MIA, h.emulator.last_bot_message(MIA).message_id, index=0)


async def given_points_to_give(h: Harness) -> None:
    await given_shop(h)
    await h.send(MIA, TEA, "/checkin")


async def given_checkin_card(h: Harness) -> None:
    await given_shop(h)
    await h.send(MIA, TEA, "/checkin")


async def given_coupon_offer(h: Harness) -> None:
    await given_shop(h)
    await h.send(SAM, SAM, "/coupon_new WELCOME10 10%")
    await h.send(SAM, SAM, "/coupon_grant WELCOME10 @mia")
    await h.send(MIA, TEA, "/buy 1 2")


async def given_broadcast_summary(h: Harness) -> None:
    await given_shop(h)
    await tap(h, MIA, MIA, "🔔 Offers", start=True)
    await tap(h, MIA, MIA, "✅ Yes, send me offers")
    await h.send(SAM, SAM, "/broadcast")
    await h.send(SAM, SAM, "New oolong, until Sunday")
    await tap(h, SAM, SAM, "⏭ Skip")
    await tap(h, SAM, SAM, "⏭ Skip")
    await tap(h, SAM, SAM, "Everyone: groups and members")
    await tap(h, SAM, SAM, "Now")


async def given_offers_asked(h: Harness) -> None:
    await given_shop(h)
    await tap(h, MIA, MIA, "🔔 Offers", start=True)


async def given_opted_in(h: Harness) -> None:
    await given_offers_asked(h)
    await tap(h, MIA, MIA, "✅ Yes, send me offers")


async def given_forgetme_asked(h: Harness) -> None:
    await given_shop(h)
    await h.send(MIA, MIA, "/forgetme")


async def given_newcomer_invited(h: Harness) -> None:
    await given_shop(h)
    h.emulator.add_user(NEWCOMER, "Noa", username="noa", language_code="en")


# ------------------------------------------------------------------ actions ------------------
def card(h: Harness, chat: int = TEA) -> int:
    return h.emulator.last_bot_message(chat).message_id


async def tap(h: Harness, user: int, chat: int, label: str, *, start: bool = False) -> None:
    """The user taps the labelled button of the bot's last message (of /start's menu)."""
    if start:
        await h.send(user, user, "/start")
    press(h, user, chat, label)
    await h.feed_pending()


def press(h: Harness, user: int, chat: int, label: str) -> Update:
    message = next(m for m in reversed(h.emulator.bot_messages(chat)) if label in m.button_texts)
    return h.emulator.press_button(
        user, chat, message.message_id, index=message.button_texts.index(label)
    )


def pre_checkout_id(h: Harness) -> str:
    return str(h.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"])


async def invite(h: Harness) -> Update:
    reply = await h.send(MIA, MIA, "/invite")
    code = re.search(r"\?start=([\w-]+)", reply[0])
    assert code is not None
    return h.emulator.send_message(NEWCOMER, NEWCOMER, f"/start {code.group(1)}")


async def vote(h: Harness) -> Update:
    posted = await poll_ids(h, 1)
    return h.emulator.answer_poll(MIA, posted[TEA], [1])


# ------------------------------------------------------------------ effects ------------------
async def count(h: Harness, model: type[SQLModel], *where: Any) -> int:
    async with h.session() as session:
        return int(
            (
                await session.execute(select(func.count()).select_from(model).where(*where))
            ).scalar_one()
        )


async def mia_units(h: Harness) -> int:
    async with h.session() as session:
        return sum(p.quantity for p in await participants(session, 1) if p.member_id == MIA)


async def points_of(h: Harness, member: int) -> int:
    async with h.session() as session:
        return await points_balance(session, member)


async def revenue(h: Harness, currency: str) -> int:
    async with h.session() as session:
        return await balance(session, AccountRef("brand_revenue"), currency)


async def order_status(h: Harness) -> str:
    async with h.session() as session:
        order = await session.get(Order, 1)
    assert order is not None
    return order.status


async def consent(h: Harness) -> bool:
    async with h.session() as session:
        row = await session.get(MarketingConsent, MIA)
    return row is not None and row.opted_in


async def started(h: Harness) -> bool:
    async with h.session() as session:
        row = await session.get(Member, NEWCOMER)
    return row is not None and row.started


async def stock(h: Harness) -> int:
    async with h.session() as session:
        row = await session.get(Product, 1)
    assert row is not None
    return row.stock


async def groupbuy_status(h: Harness) -> str:
    async with h.session() as session:
        row = await session.get(GroupBuy, 1)
    assert row is not None
    return row.status


async def forgotten(h: Harness) -> bool:
    async with h.session() as session:
        row = await session.get(Member, MIA)
    assert row is not None
    return row.forgotten_at is not None


def answering(method: str) -> Callable[[Harness], Awaitable[int]]:
    """How many times the bot called the method (what Telegram, and so the user, saw)."""

    async def calls(h: Harness) -> int:
        return len(h.emulator.calls_of(method))

    return calls


# ------------------------------------------------------------------ the table ----------------
@dataclass(frozen=True)
class Case:
    """One state-changing update: the world before it, the update, and its one effect."""

    name: str
    given: Callable[[Harness], Awaitable[None]]
    update: Callable[[Harness], Awaitable[Update]]
    effect: Callable[[Harness], Awaitable[object]]
    expected: object


def say(user: int, chat: int, text: str) -> Callable[[Harness], Awaitable[Update]]:
    async def update(h: Harness) -> Update:
        return h.emulator.send_message(user, chat, text)

    return update


def tapping(user: int, chat: int, label: str) -> Callable[[Harness], Awaitable[Update]]:
    async def update(h: Harness) -> Update:
        return press(h, user, chat, label)

    return update


CASES = [
    Case("groupbuy join button", given_groupbuy, tapping(MIA, TEA, "Join ×1"), mia_units, 1),
    Case("groupbuy +1 again", given_mia_joined_twice, tapping(MIA, TEA, "Join ×1"), mia_units, 3),
    Case("groupbuy -1 button", given_mia_joined_twice, tapping(MIA, TEA, "−1"), mia_units, 1),
    Case("groupbuy leave button", given_mia_joined_twice, tapping(MIA, TEA, "Leave"), mia_units, 0),
    Case(
        "/groupbuy",
        given_shop,
        say(LEE, TEA, "/groupbuy 1 24h min=2 stock=10 limit=3"),
        lambda h: count(h, GroupBuyPost),
        1,
    ),
    Case(
        "/drop",
        given_shop,
        say(SAM, SAM, "/drop 1 24h min=3 stock=10 limit=3"),
        lambda h: count(h, GroupBuyPost, col(GroupBuyPost.chat_id).in_([TEA, COFFEE])),
        2,
    ),
    Case("/start", given_newcomer_invited, say(NEWCOMER, NEWCOMER, "/start"), started, True),
    Case(
        "/gift", given_points_to_give, say(MIA, MIA, "/gift @lee 3"), lambda h: points_of(h, LEE), 3
    ),
    Case(
        "/donate", given_points_to_give, say(MIA, MIA, "/donate 4"), lambda h: points_of(h, MIA), 1
    ),
    Case("/product_set", given_shop, say(SAM, SAM, "/product_set 1 stock 3"), stock, 3),
    Case(
        "/gb_close", given_mia_joined_twice, say(LEE, TEA, "/gb_close 1"), groupbuy_status, "failed"
    ),
    Case("/checkin", given_shop, say(MIA, TEA, "/checkin"), lambda h: points_of(h, MIA), 5),
    Case(
        "check-in button",
        given_checkin_card,
        tapping(KAI, TEA, "✅ Check in"),
        lambda h: count(h, CheckIn, col(CheckIn.member_id) == KAI),
        1,
    ),
    Case("/buy", given_shop, say(MIA, TEA, "/buy 1 2"), lambda h: count(h, Order), 1),
    Case(
        "/paid", given_mia_ordered, say(LEE, TEA, "/paid @mia"), lambda h: revenue(h, "CNY"), 7180
    ),
    Case("/pickedup", given_mia_paid, say(LEE, TEA, "/pickedup @mia"), order_status, "fulfilled"),
    Case(
        "pre-checkout",
        given_stars_invoice,
        lambda h: invoice_paid(h),
        answering("answerPreCheckoutQuery"),
        1,
    ),
    Case(
        "successful payment",
        given_stars_checkout,
        lambda h: completed(h),
        lambda h: count(h, Payment),
        1,
    ),
    Case(
        "/refund",
        given_stars_paid,
        say(SAM, SAM, "/refund 1"),
        answering("refundStarPayment"),
        1,
    ),
    Case("poll vote", given_poll, vote, lambda h: count(h, PollBallot), 1),
    Case(
        "/suggest",
        given_shop,
        say(MIA, MIA, "/suggest Smaller tins"),
        lambda h: count(h, Suggestion),
        1,
    ),
    Case(
        "adopt (the reply)",
        given_adopting,
        say(SAM, SAM, "Coming this spring!"),
        lambda h: points_of(h, MIA),
        50,
    ),
    Case(
        "NPS score button",
        given_nps_question,
        tapping(MIA, MIA, "9"),
        lambda h: count(h, NpsSurvey, col(NpsSurvey.score) == 9),
        1,
    ),
    Case(
        "/start with an invite code",
        given_newcomer_invited,
        invite,
        lambda h: count(h, Referral),
        1,
    ),
    Case(
        "reward redemption button",
        given_points,
        tapping(MIA, MIA, "✅ Confirm"),
        lambda h: count(h, Redemption),
        1,
    ),
    Case(
        "/coupon_grant",
        given_shop,
        lambda h: coupon_granted(h),
        lambda h: count(h, MemberCoupon),
        1,
    ),
    Case(
        "coupon button",
        given_coupon_offer,
        tapping(MIA, TEA, "🎟 Use WELCOME10 (−CN¥7.18)"),
        lambda h: count(h, MemberCoupon, col(MemberCoupon.order_id).is_not(None)),
        1,
    ),
    Case(
        "/broadcast confirm",
        given_broadcast_summary,
        tapping(SAM, SAM, "✅ Confirm"),
        lambda h: count(h, BroadcastRecipient),
        7,
    ),
    Case(
        "/grant_staff",
        given_shop,
        say(OWNER, OWNER, "/grant_staff @mia"),
        lambda h: count(h, StaffGrant, col(StaffGrant.member_id) == MIA),
        1,
    ),
    Case(
        "offers: yes",
        given_offers_asked,
        tapping(MIA, MIA, "✅ Yes, send me offers"),
        consent,
        True,
    ),
    Case("/stop", given_opted_in, say(MIA, MIA, "/stop"), consent, False),
    Case(
        "/forgetme: yes",
        given_forgetme_asked,
        tapping(MIA, MIA, "🗑 Yes, erase my data"),
        forgotten,
        True,
    ),
]


async def invoice_paid(h: Harness) -> Update:
    return h.emulator.pay_invoice(MIA, MIA, h.emulator.last_bot_message(MIA).message_id)


async def completed(h: Harness) -> Update:
    return h.emulator.complete_payment(pre_checkout_id(h))


async def coupon_granted(h: Harness) -> Update:
    await h.send(SAM, SAM, "/coupon_new WELCOME10 10%")
    return h.emulator.send_message(SAM, SAM, "/coupon_grant WELCOME10 @mia")


async def store(h: Harness) -> dict[str, list[str]]:
    """Every row of every table but the claims, in a stable order."""
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name not in NOT_EFFECTS]
    async with h.session() as session:
        return {
            table.name: sorted(
                repr(tuple(row))
                for row in await session.execute(
                    select(
                        *(c for c in table.c if f"{table.name}.{c.name}" not in NOT_EFFECT_COLUMNS)
                    )
                )
            )
            for table in tables
        }


def redelivered(update: Update) -> Update:
    """The same update body under a new update id."""
    return {key: copy.deepcopy(value) for key, value in update.items() if key != "update_id"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_an_update_delivered_twice_has_one_effect(harness: Harness, case: Case) -> None:
    h = harness
    await case.given(h)
    update = await case.update(h)
    # the first delivery has the effect, and the user sees the bot answer it
    before = len(h.emulator.calls)
    await h.feed_pending()
    assert await case.effect(h) == case.expected
    assert len(h.emulator.calls) > before
    after = await store(h)
    calls = len(h.emulator.calls)
    # when the same update comes again, then under a new update id
    await h.runtime.dp.feed_raw_update(h.runtime.bot, copy.deepcopy(update))
    h.emulator.inject_update(redelivered(update))
    await h.feed_pending()
    # then nothing changed and the bot said nothing more
    assert await store(h) == after
    assert h.emulator.calls[calls:] == []
    assert await case.effect(h) == case.expected


async def test_a_payment_reported_again_in_a_new_message_is_recorded_once(
    harness: Harness,
) -> None:
    h = harness
    await given_stars_checkout(h)
    update = h.emulator.complete_payment(pre_checkout_id(h))
    await h.feed_pending()
    assert await count(h, Payment) == 1 and await revenue(h, "XTR") == 50
    thanks = [m.text for m in h.new_bot_messages(MIA)]
    assert thanks == ["Thank you! Order #1 is paid: ⭐ 50.", "Order #1 earned you 50 points."]
    after = await store(h)
    # when Telegram reports the same charge in another service message
    again = redelivered(update)
    again["message"]["message_id"] += 1000
    h.emulator.inject_update(again)
    await h.feed_pending()
    # then the charge is recorded once, and Mia is thanked once
    assert await store(h) == after
    assert h.new_bot_messages(MIA) == []


async def test_claims_of_old_updates_are_pruned_after_their_window(harness: Harness) -> None:
    """The retention job keeps the claims of handled updates for PROCESSED_UPDATE_DAYS (a
    redelivery within it still has one effect), then prunes them so the tables do not grow."""
    h = harness
    await h.join_groups()
    update = h.emulator.send_message(MIA, TEA, "/checkin")
    await h.runtime.dp.feed_raw_update(h.runtime.bot, copy.deepcopy(update))
    assert (await claims(h)) > (0, 0)
    # six days on, the claims are still there and the same update changes nothing
    h.clock.advance(days=6)
    await h.runtime.retention.run()
    assert (await claims(h)) > (0, 0)
    await h.runtime.dp.feed_raw_update(h.runtime.bot, copy.deepcopy(update))
    async with h.session() as session:
        assert await session.scalar(select(func.count()).select_from(CheckIn)) == 1
    # past the window they are gone
    h.clock.advance(days=2)
    await h.runtime.retention.run()
    assert await claims(h) == (0, 0)


async def claims(h: Harness) -> tuple[int, int]:
    async with h.session() as session:
        updates = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
        deliveries = await session.scalar(
            select(func.count()).where(col(ProcessedUpdate.delivery_key).is_not(None))
        )
    return int(updates or 0), int(deliveries or 0)
