"""Alerts (/alert_set, /alerts, /alert_remove and bot/alerts.py) on a controlled clock, over the
store of tests/test_digest.py (brand zone Asia/Shanghai), plus:
- a refund of part of B's order of Dec 2: of Tea's 4 orders paid in the 30 days before
  Monday Dec 7, 01:00 UTC (Nov 10, Nov 25, Dec 1, Dec 2), 1 refunded = 25%;
- NPS answers on Dec 7 from A (9), B (3), C (5), D (6) in Tea: 1 promoter, 3 detractors = -50.
The brand's active rate last week (Nov 30 - Dec 6) is 5/6 = 83.3%, Tea's 4/5 = 80%.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.alerts import AlertWatch
from models.nps import NpsSurvey
from models.order import Order
from tests.conftest import MIA, OWNER, SAM, TEA, Harness
from tests.test_digest import ZONE, A, B, C, D, seed, settings

__all__ = ["settings"]  # the fixture of the brand's zone (Asia/Shanghai), as the digest's

MONDAY = datetime(2026, 12, 7, 1, tzinfo=UTC)  # 09:00 in Shanghai


async def ready(harness: Harness) -> AlertWatch:
    harness.clock.now = MONDAY
    await harness.join_groups()
    for user in (OWNER, SAM, MIA):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await seed(harness)
    async with harness.session() as session, session.begin():
        await session.execute(
            update(Order)
            .where(Order.member_id == B)  # type: ignore[arg-type]
            .values(refunded_amount=500)
        )
        for member, score in ((A, 9), (B, 3), (C, 5), (D, 6)):
            answered = MONDAY - timedelta(minutes=50)
            session.add(
                NpsSurvey(
                    member_id=member,
                    community_id=TEA,
                    asked_at=answered,
                    score=score,
                    answered_at=answered,
                )
            )
    for chat in (OWNER, SAM, MIA):
        harness.new_bot_messages(chat)
    return harness.runtime.alerts


def texts(harness: Harness, chat: int) -> list[str]:
    return [message.text or "" for message in harness.new_bot_messages(chat)]


async def test_a_crossed_alert_fires_once_a_day_while_it_holds(harness: Harness) -> None:
    job = await ready(harness)
    # given staff set four alerts, in English, in Chinese and with full-width signs
    assert await harness.send(SAM, SAM, "/alert_set active_rate < 90%") == [
        "Alert #1 set: Active rate below 90% in the whole brand. I check it every few minutes "
        "and tell staff once a day while it holds."
    ]
    assert (await harness.send(SAM, SAM, f"/alert_set 活跃率 低于 75% {TEA}"))[0].startswith(
        "Alert #2 set: Active rate below 75% in Tea Lovers."
    )
    assert (await harness.send(SAM, SAM, f"/alert_set 退款率＞５％ {TEA}"))[0].startswith(
        "Alert #3 set: Refund rate above 5% in Tea Lovers."
    )
    assert (await harness.send(OWNER, OWNER, f"/alert_set nps < 0 {TEA}"))[0].startswith(
        "Alert #4 set: NPS below 0 in Tea Lovers."
    )
    # when the job runs on Monday 09:00 in Shanghai
    assert await job.run() == 3
    # then both staff are told of each crossed alert; Tea's active rate (80%) is not below 75%
    expected = [
        "⚠️ Alert #1: Active rate below 90% in the whole brand. It is now 83.33%. "
        "/alerts lists your alerts.",
        "⚠️ Alert #3: Refund rate above 5% in Tea Lovers. It is now 25%. /alerts lists your alerts.",
        "⚠️ Alert #4: NPS below 0 in Tea Lovers. It is now -50. /alerts lists your alerts.",
    ]
    assert texts(harness, SAM) == expected
    assert texts(harness, OWNER) == expected
    assert texts(harness, MIA) == []
    # when the job runs again that day, up to 23:00 in Shanghai (15:00 UTC)
    harness.clock.now = MONDAY + timedelta(hours=14)
    assert await job.run() == 0
    assert texts(harness, SAM) == []
    # then at 00:30 on Tuesday in Shanghai (still Monday in UTC) the alerts still crossed fire
    harness.clock.now = MONDAY + timedelta(hours=15, minutes=30)
    assert await job.run() == 3
    assert len(texts(harness, SAM)) == 3
    # /alerts lists them with the day each last fired
    listing = (await harness.send(SAM, SAM, "/alerts"))[0].splitlines()
    assert listing[0] == "Alerts"
    assert listing[1] == (
        "#1 Active rate below 90% in the whole brand · last fired 2026-12-08 at 83.33%"
    )
    assert listing[2] == "#2 Active rate below 75% in Tea Lovers"
    # when one is removed, it no longer fires the next day
    assert await harness.send(SAM, SAM, "/alert_remove 3") == ["Alert #3 removed."]
    assert await harness.send(SAM, SAM, "/alert_remove 3") == [
        "There is no alert #3. /alerts lists them with their numbers."
    ]
    harness.clock.now += timedelta(days=1)
    assert await job.run() == 2


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("active_rate < 140%", "A rate's threshold is a percentage from 0% to 100%, not 140."),
        ("nps < 5%", "NPS is a whole number from -100 to 100 (no %), not 5%."),
        ("nps > 200", "NPS is a whole number from -100 to 100 (no %), not 200."),
        (
            "happiness < 3",
            "“happiness” is not a number I watch: use active_rate, fission_rate, "
            "repurchase_rate, nps or refund_rate.",
        ),
        (
            "refund_rate > 5% -100999",
            "I do not know the group -100999. Send /groups to see the groups and their ids.",
        ),
    ],
)
async def test_bad_thresholds_get_a_clear_message(harness: Harness, line: str, answer: str) -> None:
    await ready(harness)
    assert await harness.send(SAM, SAM, f"/alert_set {line}") == [answer]


async def test_usage_duplicates_and_who_may_set_alerts(harness: Harness) -> None:
    await ready(harness)
    for line in ("/alert_set", "/alert_set active_rate 40%", "/alert_set nps <"):
        [usage] = await harness.send(SAM, SAM, line)
        assert usage.startswith("Send /alert_set NUMBER < or > THRESHOLD [GROUP]"), line
    assert (await harness.send(SAM, SAM, "/alert_set nps < 0"))[0].startswith("Alert #1 set")
    assert await harness.send(SAM, SAM, "/alert_set NPS < 0") == [
        "That alert is set already. /alerts lists them."
    ]
    assert await harness.send(MIA, MIA, "/alert_set nps < 0") == [
        "Sorry, only brand staff can do that."
    ]
    assert await harness.send(SAM, SAM, "/alert_remove x") == [
        "Send /alert_remove ID with the number of an alert from /alerts."
    ]
    [listed] = await harness.send(SAM, SAM, "/alerts")
    assert listed.splitlines()[1:] == [
        "#1 NPS below 0 in the whole brand",
        "Remove one with /alert_remove ID.",
    ]
    # the whole-brand NPS of the last 30 days is -50: it fires
    assert await harness.runtime.alerts.run() == 1
    assert harness.runtime.settings.default_timezone == ZONE
