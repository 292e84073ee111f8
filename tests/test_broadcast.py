"""Broadcasts in chat: members opt in and out, staff compose, confirm, override and control."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.types import BufferedInputFile
from sqlalchemy import func, select
from sqlmodel import col

from bot.config import Settings
from handlers.groupbuy import GroupBuyCallback
from models.audit import AuditEntry
from models.broadcast import Broadcast, MarketingConsent
from models.tiers import MemberTier
from services import broadcast as outbox
from services.db import upsert
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_broadcast_outbox import MORNING, make_harness
from tests.test_config import run_cli
from tests.test_emulator import png
from tests.test_groupbuy_chat import open_drop
from tgemu import Emulator

# the promotion policy's default caps, gap and quiet hours (tests/conftest.py UNPACED)
pytestmark = pytest.mark.pacing


async def tap(harness: Harness, chat: int, label: str, *, user: int) -> str | None:
    last = harness.emulator.last_bot_message(chat)
    assert label in last.button_texts, (label, last.button_texts)
    return await harness.press(user, chat, last.message_id, index=last.button_texts.index(label))


async def opted_in(harness: Harness, member_id: int) -> bool:
    async with harness.session() as session:
        return await outbox.is_opted_in(session, member_id=member_id)


async def setup(harness: Harness) -> None:
    harness.clock.now = MORNING
    await harness.join_groups()
    for uid in (SAM, MIA, KAI, LEE):
        await harness.send(uid, uid, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def test_a_member_opts_in_with_the_button_and_out_with_stop_at_once(
    harness: Harness,
) -> None:
    await setup(harness)
    assert not await opted_in(harness, MIA)
    # when Mia taps 🔔 Offers on the menu, reads the wording and says yes
    await tap(harness, MIA, "🔔 Offers", user=MIA)
    assert "At most 2 a week" in (harness.emulator.last_bot_message(MIA).text or "")
    await tap(harness, MIA, "✅ Yes, send me offers", user=MIA)
    assert await opted_in(harness, MIA)
    async with harness.session() as session:
        consent = await session.get(MarketingConsent, MIA)
    assert consent is not None and consent.wording_version == "2026-11"
    # and /stop opts her out at once
    replies = await harness.send(MIA, MIA, "/stop")
    assert replies[0].startswith("Done: no more offers")
    assert not await opted_in(harness, MIA)
    # in Traditional Chinese too
    kai = await harness.send(KAI, KAI, "/stop")
    assert kai[0].startswith("好的：我們不會再")


async def test_staff_compose_preview_and_confirm_a_drop_that_lands_once(
    harness: Harness,
) -> None:
    await setup(harness)
    await tap(harness, MIA, "🔔 Offers", user=MIA)
    await tap(harness, MIA, "✅ Yes, send me offers", user=MIA)
    # given Sam starts a broadcast with HTML text
    replies = await harness.send(SAM, SAM, "/broadcast")
    assert replies[0].startswith("New broadcast.")
    body = "<b>New oolong</b> 39.90 CNY, until Sunday 20:00"
    replies = await harness.send(SAM, SAM, body)
    # then the preview is the message as members will see it
    preview = harness.emulator.bot_messages(SAM)[-2]
    assert preview.text == "New oolong 39.90 CNY, until Sunday 20:00"
    assert preview.entities and preview.entities[0]["type"] == "bold"
    await tap(harness, SAM, "⏭ Skip", user=SAM)  # no photo
    await harness.send(SAM, SAM, "Shop now | https://example.com/oolong")
    await tap(harness, SAM, "Everyone: groups and members", user=SAM)
    await tap(harness, SAM, "Now", user=SAM)
    summary = harness.emulator.last_bot_message(SAM)
    assert "It reaches 3 chats: 2 groups and 1 member." in (summary.text or "")
    assert "Skipped: 4 (not opted in)." in (summary.text or "")  # Olivia, Sam, Lee, Kai
    assert "First delivery 2026-11-23 10:00, last 2026-11-23 10:00 (UTC)" in (summary.text or "")
    assert summary.button_texts == [
        "✅ Confirm",
        "📚 Send as content (not counted)",
        "🅱️ Variant B",
        "🎯 Hold-out",
        "🌐 Add a translation",
        "⬅️ Back",
        "✖️ Cancel",
    ]
    # the full preview is what a member gets in private: labelled, with 🔕 Stop promotions
    full_preview = harness.emulator.bot_messages(SAM)[-2]
    assert (full_preview.text or "").startswith("📢 Promotion from Community Shop\n")
    assert full_preview.button_texts == ["Shop now", "🔕 Stop promotions"]
    # when Sam confirms and the sender runs
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    assert "Broadcast #1 is scheduled for 3 chats." in (
        harness.emulator.last_bot_message(SAM).text or ""
    )
    await harness.runtime.broadcasts.pump()
    # then each group and Mia got it once, with the button (and in private the ad label and
    # 🔕 Stop promotions)
    for chat in (TEA, COFFEE, MIA):
        got = [m for m in harness.emulator.bot_messages(chat) if "New oolong" in (m.text or "")]
        private = ["🔕 Stop promotions"] if chat == MIA else []
        assert len(got) == 1 and got[0].button_texts == ["Shop now", *private]
        assert (got[0].text or "").startswith("📢 Promotion from") == (chat == MIA)
    assert not any("New oolong" in (m.text or "") for m in harness.emulator.bot_messages(LEE))
    # and /broadcast_status reports it
    status = await harness.send(SAM, SAM, "/broadcast_status 1")
    assert "Sent 3, waiting 0, deferred 0, skipped 4, failed 0 of 7." in status[0]
    # and so does the operator's command line, with a progress bar
    await harness.runtime.broadcasts.housekeeping()
    cli = run_cli(
        "broadcast-status", "1", env={"DATABASE_URL": harness.runtime.settings.database_url}
    )
    assert cli.returncode == 0, cli.stderr
    assert "broadcast #1 (everyone): done" in cli.stdout
    assert "[##############################] 7/7 100%" in cli.stdout
    assert "sent 3, waiting 0, deferred 0, skipped 4, failed 0" in cli.stdout


async def test_bad_html_is_refused_with_a_clear_message(harness: Harness) -> None:
    await setup(harness)
    await harness.send(SAM, SAM, "/broadcast")
    replies = await harness.send(SAM, SAM, "<b>New oolong")
    assert replies[-1].startswith("Telegram cannot read that formatting")
    replies = await harness.send(SAM, SAM, "<b>New</b> oolong")
    assert replies[-1].startswith("Above is how it will look.")


async def test_findings_need_a_reason_that_is_audited(harness: Harness) -> None:
    await setup(harness)
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "The best tea, 100% natural & 最好喝")
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "All groups", user=SAM)
    await tap(harness, SAM, "Now", user=SAM)
    summary = harness.emulator.last_bot_message(SAM)
    assert "best, 100%, 最" in (summary.text or "")
    assert summary.button_texts == [
        "⚠️ Send anyway",
        "📚 Send as content (not counted)",
        "🌐 Add a translation",
        "⬅️ Back",
        "✖️ Cancel",
    ]
    underlined = [e for e in summary.entities or [] if e["type"] == "underline"]
    assert len(underlined) == 3
    await tap(harness, SAM, "⚠️ Send anyway", user=SAM)
    assert (await harness.send(SAM, SAM, "ok"))[0].startswith("Give a reason")
    replies = await harness.send(SAM, SAM, "Approved by legal, ticket 42")
    # the reason alone schedules nothing: a careful sender confirms once more
    assert replies[0].startswith("Reason noted: Approved by legal, ticket 42")
    assert harness.emulator.last_bot_message(SAM).button_texts == [
        "✅ Confirm",
        "⬅️ Back",
        "✖️ Cancel",
    ]
    async with harness.session() as session:
        assert (await session.execute(select(func.count()).select_from(Broadcast))).scalar() == 0
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    replies = [m.text or "" for m in harness.new_bot_messages(SAM)]
    assert replies[-1].startswith("Broadcast #1 is scheduled for 2 chats.")
    async with harness.session() as session:
        entries = (
            (
                await session.execute(
                    select(AuditEntry).where(col(AuditEntry.action) == "broadcast.override")
                )
            )
            .scalars()
            .all()
        )
    assert len(entries) == 1 and "Approved by legal" in entries[0].detail


async def test_members_and_leaders_cannot_broadcast(harness: Harness) -> None:
    await setup(harness)
    assert await harness.send(MIA, MIA, "/broadcast") == ["Sorry, only brand staff can do that."]
    assert await harness.send(LEE, LEE, "/broadcasts") == ["抱歉，只有品牌员工可以这样做。"]


async def test_staff_pause_and_cancel_from_the_list(harness: Harness) -> None:
    await setup(harness)
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Tea tasting on Saturday")
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "All groups", user=SAM)
    await harness.send(SAM, SAM, "2026-11-24 09:00")
    summary = harness.emulator.last_bot_message(SAM).text or ""
    assert "First delivery 2026-11-24 09:00" in summary
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    listing = await harness.send(SAM, SAM, "/broadcasts")
    assert listing[0].startswith("Broadcast #1 (all groups): scheduled")
    answer = await tap(harness, SAM, "⏸ #1", user=SAM)
    assert answer == "Saved."
    assert "paused" in (harness.emulator.last_bot_message(SAM).text or "")
    await tap(harness, SAM, "✖️ #1", user=SAM)
    assert "cancelled" in (harness.emulator.last_bot_message(SAM).text or "")
    harness.clock.advance(days=1)
    assert await harness.runtime.broadcasts.pump() == 0


async def test_staff_tag_a_group_and_target_the_tag(harness: Harness) -> None:
    await setup(harness)
    assert (await harness.send(SAM, TEA, "/tag Tea shanghai"))[0] == (
        "Tags of this group: shanghai, tea"
    )
    assert (await harness.send(SAM, TEA, "/tag b@d"))[0].startswith("A tag is 1-32")
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Tea tasting on Saturday")
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "Groups with a tag", user=SAM)
    await harness.send(SAM, SAM, "tea")
    await tap(harness, SAM, "Now", user=SAM)
    assert "It reaches 1 chat: 1 group and 0 members." in (
        harness.emulator.last_bot_message(SAM).text or ""
    )


async def test_staff_target_members_by_tier_and_by_segment(harness: Harness) -> None:
    await setup(harness)
    await tap(harness, MIA, "🔔 Offers", user=MIA)
    await tap(harness, MIA, "✅ Yes, send me offers", user=MIA)
    await harness.runtime.care.run()  # everyone gets a segment: new
    # Kai said yes too; Mia is Gold (as if her spend said so), Kai stays a Member
    async with harness.session() as session, session.begin():
        await outbox.set_consent(
            session, member_id=KAI, opted_in=True, wording_version="2026-11", now=MORNING
        )
        await session.execute(
            upsert(
                session,
                MemberTier,
                {"member_id": MIA, "rank": 2, "spend": 0, "updated_at": MORNING},
                keys=["member_id"],
            )
        )

    async def reach(*taps: str) -> str:
        await harness.send(SAM, SAM, "/broadcast")
        await harness.send(SAM, SAM, "Members' evening")
        await tap(harness, SAM, "⏭ Skip", user=SAM)
        await tap(harness, SAM, "⏭ Skip", user=SAM)
        for label in taps:
            await tap(harness, SAM, label, user=SAM)
        await tap(harness, SAM, "Now", user=SAM)
        summary = harness.emulator.last_bot_message(SAM).text or ""
        await tap(harness, SAM, "✖️ Cancel", user=SAM)
        return summary

    assert "It reaches 1 chat: 0 groups and 1 member." in await reach(
        "Members of a tier and above…", "Silver"
    )
    assert "It reaches 2 chats: 0 groups and 2 members." in await reach(
        "Members in a segment…", "new"
    )
    churned = await reach("Members in a segment…", "churned")
    assert churned.startswith("Ready to send. It reaches 0 chats: 0 groups and 0 members.")


async def test_a_drop_with_photo_and_group_buy_button_at_a_staff_local_time_survives_a_restart(
    harness: Harness, emulator: Emulator, settings: Settings
) -> None:
    # given a group-buy posted in both groups, Mia opted in, and Sam's time zone is Shanghai
    harness.clock.now = MORNING
    await open_drop(harness)
    await harness.send(MIA, MIA, "/start")
    await tap(harness, MIA, "🔔 Offers", user=MIA)
    await tap(harness, MIA, "✅ Yes, send me offers", user=MIA)
    await harness.send(SAM, SAM, "/timezone Asia/Shanghai")
    # when Sam composes a drop with a photo and a button that opens the group-buy
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Oolong drop: 39.90 CNY until Tuesday")
    photo = await harness.runtime.bot.send_photo(SAM, BufferedInputFile(png(64, 48), "drop.png"))
    assert photo.photo is not None
    emulator.inject_update(
        {
            "message": {
                "message_id": 90_001,
                "date": int(MORNING.timestamp()),
                "chat": {"id": SAM, "type": "private", "first_name": "Sam"},
                "from": {"id": SAM, "is_bot": False, "first_name": "Sam"},
                "photo": [size.model_dump(exclude_none=True) for size in photo.photo],
            }
        }
    )
    await harness.feed_pending()
    assert (await harness.send(SAM, SAM, "Join the drop | groupbuy 99"))[0] == (
        "There is no group-buy #99."
    )
    await harness.send(SAM, SAM, "Join the drop | groupbuy 1")
    await tap(harness, SAM, "Everyone: groups and members", user=SAM)
    # and schedules it for 18:00 tomorrow in his time zone (10:00 UTC)
    await harness.send(SAM, SAM, "2026-11-24 18:00")
    summary = emulator.last_bot_message(SAM).text or ""
    assert "It reaches 3 chats: 2 groups and 1 member." in summary
    assert "First delivery 2026-11-24 18:00, last 2026-11-24 18:00 (Asia/Shanghai)" in summary
    preview = emulator.bot_messages(SAM)[-2]
    assert (preview.kind, preview.text) == (
        "photo",
        "📢 Promotion from Community Shop\nOolong drop: 39.90 CNY until Tuesday",
    )
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    # then nothing goes before its time
    assert await harness.runtime.broadcasts.pump() == 0
    # and after a restart at that time, the new process sends it once to each chat
    await harness.runtime.close()
    later = await make_harness(emulator, settings)
    later.clock.now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    try:
        await later.runtime.broadcasts.housekeeping()
        assert await later.runtime.broadcasts.pump() == 3
        assert await later.runtime.broadcasts.pump() == 0
        for chat in (TEA, COFFEE, MIA):
            got = [m for m in emulator.bot_messages(chat) if "Oolong drop" in (m.text or "")]
            assert len(got) == 1 and got[0].kind == "photo"
            private = ["🔕 Stop promotions"] if chat == MIA else []
            assert got[0].button_texts == ["Join the drop", *private]
            assert got[0].reply_markup is not None
            data = got[0].reply_markup["inline_keyboard"][0][0]["callback_data"]
            assert GroupBuyCallback.unpack(data).groupbuy_id == 1
        # and Mia's button opens the group-buy's card in her chat
        drop = [m for m in emulator.bot_messages(MIA) if m.kind == "photo"][-1]
        await later.press(MIA, MIA, drop.message_id, index=0)
        card = emulator.last_bot_message(MIA).text or ""
        assert "Oolong tea" in card and "Price now: CN¥39.90" in card
        assert card.endswith(
            "Join it with the button under its card in your group.\n"
            "Times on this card are UTC time."  # she set no zone: the zone is named
        )
    finally:
        await later.runtime.close()


async def test_a_button_chosen_again_after_back_replaces_the_first_one(harness: Harness) -> None:
    # given a group-buy, and Sam composing a broadcast whose button first opens a link
    harness.clock.now = MORNING
    await open_drop(harness)
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Oolong drop: 39.90 CNY until Tuesday")
    await tap(harness, SAM, "⏭ Skip", user=SAM)  # no photo
    await harness.send(SAM, SAM, "Shop now | https://example.com/oolong")
    # when he goes back and makes the button open the group-buy instead
    await tap(harness, SAM, "⬅️ Back", user=SAM)
    await harness.send(SAM, SAM, "Join the drop | groupbuy 1")
    await tap(harness, SAM, "Everyone: groups and members", user=SAM)
    await tap(harness, SAM, "Now", user=SAM)
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    # then the broadcast keeps only the button he chose last
    async with harness.session() as session:
        saved = (await session.execute(select(Broadcast))).scalar_one()
    assert (saved.button_text, saved.button_groupbuy_id, saved.button_url) == (
        "Join the drop",
        1,
        None,
    )
