"""/metrics in private (issue #26): the main rates of the last 8 weeks as one chart with a
caption in the reader's language; staff read the brand, a leader their groups, members
nothing."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from models.audit import AuditEntry
from tests.conftest import LEE, MIA, SAM, TEA, Harness
from tests.test_analytics_chat import shop
from tgemu import StoredMessage


async def metrics(harness: Harness, user: int) -> list[StoredMessage]:
    harness.new_bot_messages(user)
    harness.emulator.send_message(user, user, "/metrics")
    await harness.feed_pending()
    return harness.new_bot_messages(user)


def image_of(harness: Harness, message: StoredMessage) -> Image.Image:
    assert message.kind == "photo"
    image = Image.open(io.BytesIO(harness.emulator.file_bytes(message.raw["photo"][-1]["file_id"])))
    image.load()
    assert image.format == "PNG"
    assert len(image.getcolors(maxcolors=100_000) or []) > 10  # drawn, not blank
    return image


async def test_staff_get_the_brands_rates_of_eight_weeks_as_a_chart(harness: Harness) -> None:
    await shop(harness)
    await harness.send(MIA, TEA, "lovely tea")  # an interaction this week
    await harness.runtime.interactions.run()
    # when Sam (staff) sends /metrics in private
    (photo,) = await metrics(harness, SAM)
    image_of(harness, photo)
    caption = photo.raw["caption"]
    # then the caption names the weeks, the brand, and last full week's four rates
    assert caption.startswith("Metrics, weeks of ")
    assert "the whole brand" in caption
    for line in (
        "1. Active rate:",
        "2. Messages and taps per member:",
        "3. Fission rate:",
        "4. Repurchase rate:",
    ):
        assert line in caption, caption
    assert "/dashboard" in caption


async def test_a_leader_reads_their_groups_in_their_language_and_members_are_refused(
    harness: Harness,
) -> None:
    await shop(harness)
    # Lee (leader of Tea Lovers, Chinese) gets the chart for his group only
    (photo,) = await metrics(harness, LEE)
    image_of(harness, photo)
    caption = photo.raw["caption"]
    assert "互动" in caption or "人均" in caption, caption
    assert "活跃率" in caption
    assert "whole brand" not in caption and "整个品牌" not in caption
    # Mia, a member, is refused with words, not a chart
    (refusal,) = await metrics(harness, MIA)
    assert refusal.kind != "photo" and refusal.text
    async with harness.session() as session:
        actions = (
            await session.execute(
                select(AuditEntry.actor_id, AuditEntry.allowed).where(
                    AuditEntry.action == "metrics.view"
                )
            )
        ).all()
    assert sorted(tuple(a) for a in actions) == [(LEE, True), (MIA, False)]
