"""Faults: the Bot API answers 429s, 5xx and no answer at all at random (seeded) through a
whole run: joins from two groups, the settlement, payments marked by the leaders, and a broadcast.
Afterwards nothing is lost, nothing happened twice, and no chat shows a message twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from models.broadcast import RECIPIENT_FAILED, RECIPIENT_PENDING, RECIPIENT_SENT, BroadcastRecipient
from services import broadcast as outbox
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.faults import (
    deliver,
    deliver_pending,
    duplicates,
    groupbuy_status,
    orders_by_member,
    postings,
)
from tgemu import DROPPED

SEED = 20261122
MEMBERS = [3000 + i for i in range(24)]  # half in Tea Lovers, half in Coffee Club
PROMO = "Autumn oolong is back: 39.90 CNY"


async def given_a_drop_and_members(harness: Harness) -> tuple[int, int]:
    """Both groups with the bot, Sam (staff) opened a drop in both, members started the bot
    and opted in to promotions; returns the two cards' message ids."""
    emu = harness.emulator
    await harness.join_groups()
    for i, uid in enumerate(MEMBERS):
        emu.add_user(uid, f"Member{uid}", username=f"m{uid}", language_code="en")
        emu.set_member_status(TEA if i % 2 == 0 else COFFEE, uid, "member")
        emu.send_message(uid, uid, "/start")
    emu.send_message(MIA, MIA, "/start")
    emu.send_message(SAM, SAM, "/start")
    emu.send_message(OWNER, OWNER, "/grant_staff @sam")
    emu.send_message(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    emu.send_message(SAM, SAM, "/drop 1 24h min=3 stock=60 limit=3 pickup=Shop A")
    # the leaders look at their lists once, so the admin lists are known before the faults
    emu.send_message(LEE, TEA, "/orders")
    emu.send_message(KAI, COFFEE, "/orders")
    await harness.feed_pending()
    assert harness.emulator.last_bot_message(SAM).text == "Group-buy #1 posted in 2 groups."
    tea_card = next(m for m in emu.bot_messages(TEA) if m.text.startswith("🛒"))
    coffee_card = next(m for m in emu.bot_messages(COFFEE) if m.text.startswith("🛒"))
    async with harness.session() as session, session.begin():
        for uid in [*MEMBERS, MIA]:
            await outbox.set_consent(
                session, member_id=uid, opted_in=True, wording_version="t", now=harness.clock.now
            )
    return tea_card.message_id, coffee_card.message_id


async def test_random_429s_5xx_and_lost_answers_lose_nothing_and_repeat_nothing(
    harness: Harness,
) -> None:
    emu = harness.emulator
    tea_card, coffee_card = await given_a_drop_and_members(harness)
    # given Telegram fails one call in five at random: 429, 500, 502, or no answer at all
    # (the connection closes unanswered: to the bot the same failure as a timeout, without a
    # client timeout so short that a busy machine's ordinary answers would outlast it too)
    emu.inject_random_faults(seed=SEED, rate=0.2, statuses=(429, 500, 502, DROPPED))

    # when every member joins from their group (1, 2 or 3 units), Telegram redelivering an
    # update that did not go through
    wanted: dict[int, int] = {}
    for i, uid in enumerate(MEMBERS):
        chat, card = (TEA, tea_card) if i % 2 == 0 else (COFFEE, coffee_card)
        wanted[uid] = 1 + i % 3
        await deliver(harness, emu.press_button(uid, chat, card, index=i % 3))
    await harness.runtime.cards.flush()
    # and the deadline passes: the group-buy settles
    harness.clock.advance(hours=24, seconds=1)
    await harness.runtime.closer.close_due()
    # and the leaders mark every order paid, each in their group
    for i, uid in enumerate(MEMBERS):
        leader, chat = (LEE, TEA) if i % 2 == 0 else (KAI, COFFEE)
        emu.send_message(leader, chat, f"/paid @m{uid}")
        await deliver_pending(harness)
    # and the next morning (outside quiet hours), staff broadcast a promotion to every group
    # and opted-in member
    harness.clock.now = (harness.clock.now + timedelta(days=1)).replace(hour=10, minute=0)
    async with harness.session() as session, session.begin():
        broadcast_id, _summary = await outbox.create_broadcast(
            session,
            draft=outbox.Draft(
                text=PROMO, targets="everyone", scheduled_at=harness.clock.now, created_by=SAM
            ),
            rules=harness.runtime.settings.pacing_rules(),
            default_timezone=harness.runtime.settings.default_timezone,
        )
    for _round in range(20):  # 5xx rows are deferred with a backoff: let the clock run
        await harness.runtime.broadcasts.pump()
        harness.clock.advance(minutes=10)
    served = [status for _method, status in emu.faults_served]
    emu.clear_faults()

    # then the faults really happened, of every kind
    assert {429, 500, 502, DROPPED} <= set(served), served
    # and no join was lost or doubled: one order per member, at the quantity they chose
    assert await groupbuy_status(harness, 1) == "formed"
    orders = await orders_by_member(harness, 1)
    assert orders == {uid: [wanted[uid]] for uid in MEMBERS}
    # and every order was charged once: one "paid" posting each, no other posting twice
    paid = await postings(harness, "order:")
    assert sorted(k for k in paid if k.endswith(":paid")) == sorted(
        f"order:{n}:paid" for n in range(1, len(MEMBERS) + 1)
    )
    assert set(paid.values()) == {1}
    # and the broadcast reached every recipient at most once: a row is sent, or failed
    # because Telegram never answered (never resent, as it might have arrived)
    async with harness.session() as session:
        rows = (
            (
                await session.execute(
                    select(BroadcastRecipient).where(
                        col(BroadcastRecipient.broadcast_id) == broadcast_id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert {row.chat_id for row in rows} >= {TEA, COFFEE, MIA, *MEMBERS}
    for row in rows:
        copies = sum(1 for m in emu.bot_messages(row.chat_id) if PROMO in (m.text or ""))
        assert row.status != RECIPIENT_PENDING
        if row.status == RECIPIENT_SENT:
            assert copies == 1, row
        elif row.status == RECIPIENT_FAILED:
            assert row.reason == "uncertain" and copies == 0, row
    assert sum(row.status == RECIPIENT_SENT for row in rows) >= len(rows) // 2
    # and no chat shows any message twice
    assert duplicates(harness, [TEA, COFFEE, SAM, LEE, KAI, MIA, *MEMBERS]) == {}
