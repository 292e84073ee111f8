"""Rewards that are fulfilled, as members and staff live them in chat: a confirmation with the
cost and the balance after, a coupon reward that says where the coupon is, and a physical
reward that staff see in /fulfil and on the dashboard, hand over once, and the member is told."""

from __future__ import annotations

import aiohttp
from sqlmodel import select

from models.audit import AuditEntry
from models.rewards import FULFILMENT_HANDED_OVER, FULFILMENT_OPEN, Fulfilment, Redemption, Reward
from services.points import points_balance
from services.tables import TABLES, Query
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_loyalty import make_staff
from tgemu.core import StoredMessage

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures used by the tests below


async def points_of(harness: Harness, member_id: int) -> int:
    async with harness.session() as session:
        return await points_balance(session, member_id)


async def given_a_catalog(harness: Harness, *, language: str = "") -> None:
    """Sam is staff and offers a Tea sample for 5 points; Mia checked in twice (10 points)."""
    await harness.join_groups()
    for user in (SAM, MIA, LEE, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    assert await harness.send(SAM, SAM, "/reward_add Tea sample | 5 | 3") == [
        "Reward #1 added: Tea sample for 5 points."
    ]
    if language:
        await harness.send(MIA, MIA, "/language")
        menu = harness.emulator.last_bot_message(MIA)
        await harness.press(MIA, MIA, menu.message_id, index=menu.button_texts.index(language))
    await harness.send(MIA, TEA, "/checkin")
    harness.clock.advance(days=1)
    await harness.send(MIA, TEA, "/checkin")
    assert await points_of(harness, MIA) == 10


async def ask_to_redeem(harness: Harness) -> int:
    """Mia opens /rewards and taps the first Redeem; returns the question's message id."""
    await harness.send(MIA, MIA, "/rewards")
    catalog = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, catalog.message_id, index=0)
    return harness.emulator.last_bot_message(MIA).message_id


def shown(harness: Harness, chat: int, message_id: int) -> StoredMessage:
    """The message as the chat shows it now (after any edits)."""
    return next(m for m in harness.emulator.messages(chat) if m.message_id == message_id)


async def redemptions(harness: Harness) -> list[tuple[int, int]]:
    async with harness.session() as session:
        rows = (await session.execute(select(Redemption))).scalars().all()
    return [(r.member_id, r.cost) for r in rows]


async def tasks(harness: Harness) -> list[Fulfilment]:
    async with harness.session() as session:
        return list((await session.execute(select(Fulfilment))).scalars().all())


async def test_redeeming_asks_first_and_only_confirm_spends_once(harness: Harness) -> None:
    await given_a_catalog(harness)
    # when Mia taps Redeem, she is asked with the cost and what she will have left
    question = await ask_to_redeem(harness)
    message = shown(harness, MIA, question)
    assert message.text == "Redeem “Tea sample” for 5 points? You will have 5 points left."
    assert message.button_texts == ["✅ Confirm", "✖️ Cancel"]
    # and nothing is spent yet
    assert await points_of(harness, MIA) == 10
    assert await redemptions(harness) == []
    # when she cancels, nothing is redeemed and the question says so
    await harness.press(MIA, MIA, question, index=1)
    cancelled = shown(harness, MIA, question)
    assert cancelled.text.endswith("Cancelled: nothing was redeemed.")
    assert cancelled.button_texts == []
    assert await points_of(harness, MIA) == 10 and await redemptions(harness) == []
    # when she asks again and taps Confirm twice, the second tap before the first is answered
    question = await ask_to_redeem(harness)
    taps = [harness.emulator.press_button(MIA, MIA, question, index=0) for _ in range(2)]
    await harness.feed_pending()
    answers = [
        (harness.emulator.callback_answers.get(tap["callback_query"]["id"]) or {}).get("text")
        for tap in taps
    ]
    assert answers == ["Redeemed.", "That reward was already redeemed with this tap."]
    # then it is redeemed once, and she reads where it is and what she has left
    assert await redemptions(harness) == [(MIA, 5)]
    assert await points_of(harness, MIA) == 5
    assert harness.emulator.last_bot_message(MIA).text == (
        "You redeemed Tea sample for 5 points (redemption #1). Our staff will hand it to you "
        "and I will tell you when they have. You have 5 points left."
    )
    assert shown(harness, MIA, question).button_texts == []


async def test_a_member_short_of_points_reads_the_cost_and_the_balance(harness: Harness) -> None:
    await given_a_catalog(harness)
    await harness.send(SAM, SAM, "/reward_add Tea pot | 50")
    await harness.send(MIA, MIA, "/rewards")
    catalog = harness.emulator.last_bot_message(MIA)
    assert catalog.button_texts == ["Redeem Tea sample", "Redeem Tea pot", "⬅️ Back"]
    assert await harness.press(MIA, MIA, catalog.message_id, index=1) == (
        "Tea pot costs 50 points; you have 10 points."
    )
    assert await redemptions(harness) == []


async def test_confirming_in_simplified_chinese(harness: Harness) -> None:
    await given_a_catalog(harness, language="简体中文")
    question = await ask_to_redeem(harness)
    assert shown(harness, MIA, question).text == (
        "用 5 积分兑换“Tea sample”吗？兑换后你还剩 5 积分。"
    )
    assert shown(harness, MIA, question).button_texts == ["✅ 确认", "✖️ 取消"]
    assert await harness.press(MIA, MIA, question, index=0) == "已兑换。"
    assert harness.emulator.last_bot_message(MIA).text == (
        "你用 5 积分兑换了Tea sample（兑换编号 #1）。我们的员工会把它交给你，交付后我会通知你。"
        "你还剩 5 积分。"
    )
    question = await ask_to_redeem(harness)
    await harness.press(MIA, MIA, question, index=1)
    assert shown(harness, MIA, question).text.endswith("已取消，没有兑换任何奖品。")
    assert await redemptions(harness) == [(MIA, 5)]


async def test_a_coupon_reward_says_where_the_coupon_is(harness: Harness) -> None:
    await given_a_catalog(harness)
    await harness.send(SAM, SAM, "/coupon_new SAVE10 10%")
    await harness.send(SAM, SAM, "/reward_add Ten off | 5 | 10 | coupon save10")
    await harness.send(MIA, MIA, "/rewards")
    catalog = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, catalog.message_id, index=1)
    question = harness.emulator.last_bot_message(MIA).message_id
    assert await harness.press(MIA, MIA, question, index=0) == "Redeemed."
    assert harness.emulator.last_bot_message(MIA).text == (
        "You redeemed Ten off for 5 points. Your coupon SAVE10 is in /coupons: use it with "
        "/usecoupon SAVE10, or with its button when you order. You have 5 points left."
    )
    assert "🎟 SAVE10" in (await harness.send(MIA, MIA, "/coupons"))[0]
    # and a coupon opens no task for staff
    assert await tasks(harness) == []


async def test_a_physical_reward_is_handed_over_once_and_the_member_told(
    harness: Harness,
) -> None:
    await given_a_catalog(harness)
    question = await ask_to_redeem(harness)
    harness.new_bot_messages(SAM)
    await harness.press(MIA, MIA, question, index=0)
    # then staff are told, and the task waits in /fulfil with a button naming Mia
    assert [m.text for m in harness.new_bot_messages(SAM)] == [
        "🎁 Mia redeemed Tea sample: hand it over and mark it in /fulfil."
    ]
    listing = await harness.send(SAM, SAM, "/fulfil")
    assert listing[0].splitlines()[0] == "Rewards to hand over (1 in all)"
    assert listing[0].splitlines()[1].startswith("#1 Mia: Tea sample, redeemed ")
    card = harness.emulator.last_bot_message(SAM)
    assert card.button_texts == ["✅ Handed over to Mia: Tea sample"]
    # and on the dashboard's table of rewards to hand over (staff only)
    async with harness.session() as session:
        query = Query(scope=None, period=None)  # type: ignore[arg-type]
        rows = [row async for row in TABLES["fulfilment"].rows(session, query)]
        led = Query(scope=frozenset({TEA}), period=None)  # type: ignore[arg-type]
        leader_rows = [row async for row in TABLES["fulfilment"].rows(session, led)]
    assert [(r[0], r[2], r[3], r[5], r[6]) for r in rows] == [
        (1, MIA, "Mia", "Tea sample", FULFILMENT_OPEN)
    ]
    assert leader_rows == []
    # when a member forges the staff button, it is refused and nothing changes
    assert await harness.press(MIA, SAM, card.message_id, callback_data="ff:1", force=True) == (
        "Sorry, only brand staff can do that."
    )
    assert [t.status for t in await tasks(harness)] == [FULFILMENT_OPEN]
    # when Sam taps Handed over, twice
    harness.new_bot_messages(MIA)
    assert await harness.press(SAM, SAM, card.message_id, index=0) == "Marked handed over to Mia."
    assert await harness.press(SAM, SAM, card.message_id, callback_data="ff:1", force=True) == (
        "Tea sample was already handed over to its member by Sam."
    )
    # then it is handed over once, by Sam, audited, and Mia is told once
    [task] = await tasks(harness)
    assert (task.status, task.handed_over_by) == (FULFILMENT_HANDED_OVER, SAM)
    assert task.handed_over_at is not None
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "🎁 Your Tea sample has been handed over to you. Enjoy!"
    ]
    async with harness.session() as session:
        audited = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.allowed).where(
                    AuditEntry.action == "perks.handover.done"
                )
            )
        ).all()
        redemption = await session.get(Redemption, 1)
    assert audited == [(SAM, True)]
    assert redemption is not None and redemption.delivered
    # and the list has nothing left
    assert shown(harness, SAM, card.message_id).text == ("No reward is waiting to be handed over.")
    assert await harness.send(SAM, SAM, "/fulfil") == ["No reward is waiting to be handed over."]


async def test_the_dashboard_lists_rewards_to_hand_over_for_staff_only(
    harness: Harness, dashboard: str
) -> None:
    # given Mia redeemed a physical reward
    await given_a_catalog(harness)
    await harness.press(MIA, MIA, await ask_to_redeem(harness), index=0)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        # when Sam opens the dashboard's Rewards to hand over page
        async with http.get(await login_link(harness, SAM), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/rewards") as response:
            assert response.status == 200
            page = await response.text()
    # then the task is there with the member and the reward
    assert "Rewards to hand over" in page
    assert "<td>Mia</td>" in page and "<td>Tea sample</td>" in page
    # and Lee, a leader, reads that rewards are handed over by staff, and no member's task
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(await login_link(harness, LEE), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/rewards?lang=en") as response:
            page = await response.text()
    assert "Rewards are handed over by brand staff." in page
    assert "Tea sample" not in page


async def test_members_redeem_rewards_while_stock_and_points_last(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    assert await harness.send(MIA, MIA, "/rewards") == ["There are no rewards to redeem yet."]
    assert await harness.send(MIA, MIA, "/reward_add Tea cup | 5 | 1") == [
        "Sorry, only brand staff can do that."
    ]
    assert await harness.send(SAM, SAM, "/reward_add Tea cup | five") == [
        "Send /reward_add Title | points | stock, for example /reward_add Tea cup | 500 | 20. "
        "Add | coupon CODE to give a coupon instead of a thing."
    ]
    assert await harness.send(SAM, SAM, "/reward_add Tea <cup> | 5 | 1") == [
        "Reward #1 added: Tea <cup> for 5 points."
    ]
    await harness.send(MIA, TEA, "/checkin")
    await harness.send(KAI, COFFEE, "/checkin")
    catalog = (await harness.send(MIA, MIA, "/rewards"))[0]
    assert "#1 Tea <cup>: 5 points (1 left)" in catalog
    menu = harness.emulator.last_bot_message(MIA)
    assert menu.button_texts == ["Redeem Tea <cup>", "⬅️ Back"]
    await harness.press(MIA, MIA, menu.message_id, index=0)
    question = harness.emulator.last_bot_message(MIA)
    assert question.text == "Redeem “Tea <cup>” for 5 points? You will have 0 points left."
    assert await harness.press(MIA, MIA, question.message_id, index=0) == "Redeemed."
    assert harness.emulator.last_bot_message(MIA).text == (
        "You redeemed Tea <cup> for 5 points (redemption #1). Our staff will hand it to you "
        "and I will tell you when they have. You have 0 points left."
    )
    # the last one is gone: Kai is told, and keeps his points
    await harness.send(KAI, KAI, "/rewards")
    kai_menu = harness.emulator.last_bot_message(KAI)
    assert kai_menu.button_texts == ["⬅️ 返回"]  # no Redeem: only the way back
    await harness.send(SAM, SAM, "/reward_add Tea pot | 50")
    await harness.send(KAI, KAI, "/rewards")
    kai_menu = harness.emulator.last_bot_message(KAI)
    # Kai reads Traditional Chinese
    assert await harness.press(KAI, KAI, kai_menu.message_id, index=0) == (
        "「Tea pot」需要 50 積分，你只有 5 積分。"
    )
    assert await points_of(harness, KAI) == 5
    async with harness.session() as session:
        rewards = (await session.execute(select(Reward).order_by(Reward.id))).scalars().all()
        redemptions = (await session.execute(select(Redemption))).scalars().all()
    assert [r.stock for r in rewards] == [0, None]
    assert [(r.member_id, r.cost) for r in redemptions] == [(MIA, 5)]
    # staff take a reward out of the catalog
    assert await harness.send(SAM, SAM, "/reward_off 2") == ["Reward #2 is no longer offered."]
    assert await harness.send(SAM, SAM, "/reward_off 9") == [
        "There is no reward #9. /rewards lists them with their numbers."
    ]
    assert "Tea pot" not in (await harness.send(KAI, KAI, "/rewards"))[0]
