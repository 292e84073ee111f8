"""/stats in chat: staff read every community, a leader only the groups they lead (in the
group or in private), each with a summary in their language and a chart image."""

from __future__ import annotations

import io
import json
import re

from PIL import Image
from sqlmodel import select

from handlers.views.chart import STATS_WIDTH
from models.audit import AuditEntry
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tgemu import StoredMessage


async def shop(harness: Harness) -> None:
    """Mia pays 100 in Tea Lovers (to Lee) and 2 x 100 in Coffee Club (to Kai)."""
    await harness.join_groups()
    for user in (SAM, MIA, LEE, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 100 CNY | stock 100")
    for chat, leader, quantity in ((TEA, LEE, 1), (COFFEE, KAI, 2)):
        replies = await harness.send(MIA, chat, f"/buy 1 {quantity}")
        assert re.search(r"#\d+", " ".join(replies)), replies
        paid = await harness.send(leader, chat, "/paid @mia")
        assert paid and not paid[0].startswith("Sorry"), paid


async def stats(harness: Harness, user: int, chat: int, args: str = "") -> list[StoredMessage]:
    """What the bot answers to /stats there: the summary messages, then the chart."""
    harness.new_bot_messages(chat)
    harness.emulator.send_message(user, chat, f"/stats {args}".strip())
    await harness.feed_pending()
    return harness.new_bot_messages(chat)


def chart_of(harness: Harness, message: StoredMessage) -> Image.Image:
    """The chart decoded from the photo the bot sent, checked to be a PNG of sensible size."""
    assert message.kind == "photo"
    data = harness.emulator.file_bytes(message.raw["photo"][-1]["file_id"])
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    assert image.width == STATS_WIDTH and 600 <= image.height <= 1200
    assert 2_000 < len(data) < 500_000
    # not a blank canvas: the panels are drawn in colour
    assert len(image.getcolors(maxcolors=100_000) or []) > 10
    return image


async def test_staff_read_every_community_with_a_chart(harness: Harness) -> None:
    await shop(harness)
    # when Sam asks for the stats of the last 7 days in private
    answer = await stats(harness, SAM, SAM, "7d")
    # then the summary covers the whole brand and each group, with definitions
    *texts, photo = answer
    summary = "\n".join(m.text or "" for m in texts)
    assert "All communities" in summary
    assert "GMV: CN¥300.00; paid orders: 2" in summary
    assert "What members paid for orders paid in the period, less refunds." in summary
    assert "Average order value: CN¥150.00" in summary
    assert "Repurchase rate: 100% (repeat buyers: 1, buyers: 1)" in summary
    assert "Tea Lovers: GMV CN¥100.00, paid orders 1" in summary
    assert "Coffee Club: GMV CN¥200.00, paid orders 1" in summary
    # and the chart comes with its legend in the caption
    chart_of(harness, photo)
    assert "A: GMV per day in CNY" in (photo.text or "")
    assert "B: funnel: 1 cards posted, 2 joins" in (photo.text or "")
    # and /stats is in the staff member's own command menu
    menu = harness.emulator.commands[(json.dumps({"chat_id": SAM, "type": "chat"}), "")]
    assert {"command": "stats", "description": "Sales, members and NPS with a chart"} in menu


async def test_a_leader_sees_only_their_own_group(harness: Harness) -> None:
    await shop(harness)
    # when Lee, leader of Tea Lovers, asks in his group (the group reads English)
    answer = await stats(harness, LEE, TEA)
    *texts, photo = answer
    summary = "\n".join(m.text or "" for m in texts)
    # then he sees Tea Lovers' figures and nothing of Coffee Club
    assert "Tea Lovers" in summary and "Coffee Club" not in summary
    assert "GMV: CN¥100.00; paid orders: 1" in summary
    assert "CN¥200.00" not in summary and "CN¥300.00" not in summary
    assert "All communities" not in summary and "Points" not in summary
    assert "Referrals: qualified here: 0; viral coefficient —" in summary
    chart_of(harness, photo)
    # and in private he gets the same group, in his own language
    private = await stats(harness, LEE, LEE)
    *texts, photo = private
    summary = "\n".join(m.text or "" for m in texts)
    assert "Tea Lovers" in summary and "Coffee Club" not in summary
    assert "成交额" in summary and "100.00" in summary and "200.00" not in summary
    chart_of(harness, photo)
    assert "图A" in (photo.text or "")
    # when he asks in Coffee Club, which he does not lead, he is refused and nothing leaks
    refused = await stats(harness, LEE, COFFEE)
    assert [m.text for m in refused] == ["Sorry, only the leaders of this group can do that."]
    # and Kai, leader of Coffee Club, sees only Coffee Club's 200
    kai = "\n".join(m.text or "" for m in await stats(harness, KAI, COFFEE))
    assert "Coffee Club" in kai and "CN¥200.00" in kai and "CN¥100.00" not in kai
    # every try was audited, the refusal too
    async with harness.session() as session:
        rows = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.allowed).where(
                    AuditEntry.action == "stats.view"
                )
            )
        ).all()
    assert sorted(rows) == sorted([(LEE, True), (LEE, True), (LEE, False), (KAI, True)])


async def test_members_are_refused_and_bad_periods_explained(harness: Harness) -> None:
    await shop(harness)
    # a member who leads no group is refused in private
    assert [m.text for m in await stats(harness, MIA, MIA)] == [
        "Sorry, only group leaders and brand staff can do that."
    ]
    # staff typing a period the bot cannot read get the forms it understands
    for bad in ("someday", "2026-11-20..2026-11-01", "0d", "2026-02-30", "1d12h"):
        answer = await stats(harness, SAM, SAM, bad)
        assert [m.text for m in answer] == [
            "I could not read that period. Send /stats for the last 30 days, /stats 7d, "
            "or /stats 2026-11-01..2026-11-20."
        ], bad
    # a fixed range is read as whole days, shown in the reader's locale
    answer = await stats(harness, SAM, SAM, "2026-11-01..2026-11-20")
    assert "Stats from Nov 1, 2026 to Nov 20, 2026" in (answer[0].text or "")
    assert answer[-1].kind == "photo"


async def test_tier_names_read_in_the_readers_language_and_staff_names_as_typed(
    harness: Harness,
) -> None:
    await shop(harness)
    # given staff named tier 1 themselves, and Lee, who reads 简体中文, is staff too
    renamed = await harness.send(SAM, SAM, "/tier_set 1 name=银卡")
    assert renamed and not renamed[0].startswith("Sorry"), renamed
    await harness.send(OWNER, OWNER, "/grant_staff @lee")
    # when Lee asks for the brand's stats in private
    *texts, _photo = await stats(harness, LEE, LEE, "7d")
    summary = "\n".join(m.text or "" for m in texts)
    (tiers,) = [line for line in summary.splitlines() if "普通会员" in line]
    # then the default tiers read in Chinese, and the tier staff named reads as they typed it
    assert re.search(r"普通会员 \d+、银卡 0、黄金会员 0、钻石会员 0", tiers), tiers
    for english in ("Member", "Silver", "Gold", "Diamond"):
        assert english not in summary
    # and Sam, who reads English, sees the English defaults beside the same typed name
    *texts, _photo = await stats(harness, SAM, SAM, "7d")
    english = "\n".join(m.text or "" for m in texts)
    assert re.search(r"Tiers: Member \d+, 银卡 0, Gold 0, Diamond 0", english), english


async def test_zh_an_empty_period_reads_zero_in_the_brands_currency(harness: Harness) -> None:
    # given a 简体中文 group where nothing was sold, and its leader Lee
    await harness.join_groups()
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    # when Lee asks for the group's figures
    messages = await stats(harness, LEE, TEA)
    summary = "\n".join(m.text or "" for m in messages if m.kind != "photo")
    # then money reads as money, in the brand's currency, not a bare 0
    assert "成交额：¥0.00；已付订单：0" in summary, summary
    assert "客单价：¥0.00" in summary, summary
    assert "（—，" not in (messages[-1].text or "")  # the chart's legend names CNY
    assert "CNY" in (messages[-1].text or "")
