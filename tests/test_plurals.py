"""Counts read right in English ("1 point", "2 points", a streak of "1 day" and "2 days"), and a
Chinese screen writes a percentage discount as 折 (#21)."""

from __future__ import annotations

from aiogram.utils.i18n import I18n

from handlers.views.text import counted, discount_figures, sentences
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness


async def test_an_english_member_reads_one_point_and_two_points_one_day_and_two_days(
    harness: Harness,
) -> None:
    # given a brand that gives 1 point a check-in, and Mia who reads English
    harness.runtime.settings.checkin_points = 1
    await harness.join_groups()
    await harness.send(MIA, MIA, "/start")
    # when she checks in on a first day, then on the next
    assert await harness.send(MIA, TEA, "/checkin") == ["Mia checked in: +1 point. Streak: 1 day."]
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Check-in streak: 1 day" in me.splitlines()
    harness.clock.advance(days=1)
    assert await harness.send(MIA, TEA, "/checkin") == ["Mia checked in: +1 point. Streak: 2 days."]
    assert await harness.send(MIA, TEA, "/checkin") == [
        "Mia, you have already checked in today. Streak: 2 days."
    ]
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Check-in streak: 2 days" in me.splitlines()
    # then what she gives and what is left read in the singular and the plural
    await harness.send(KAI, KAI, "/start")
    assert await harness.send(MIA, MIA, "/gift @kai 1") == ["You gave 1 point to Kai."]
    await harness.send(MIA, TEA, "/checkin")  # already done today: nothing more
    harness.clock.advance(days=1)
    assert await harness.send(MIA, TEA, "/checkin") == ["Mia checked in: +1 point. Streak: 3 days."]
    assert await harness.send(MIA, MIA, "/gift @kai 2") == ["You gave 2 points to Kai."]
    # and Kai, who reads Traditional Chinese, has one form for both
    assert [m.text for m in harness.new_bot_messages(KAI)][-2:] == [
        "有成員送了你 1 積分。查看 /points。",  # unsigned gifts: from "a member"
        "有成員送了你 2 積分。查看 /points。",
    ]


async def test_a_counted_noun_reads_right_in_each_language(harness: Harness) -> None:
    # the fragments a sentence with several counts is made of
    i18n: I18n = harness.runtime.i18n
    with i18n.context(), i18n.use_locale("en"):
        assert [counted("group", n) for n in (0, 1, 2)] == ["0 groups", "1 group", "2 groups"]
        assert counted("person", 1) == "1 person" and counted("person", 3) == "3 people"
        assert counted("unit", 1200) == "1,200 units"
    with i18n.context(), i18n.use_locale("zh_Hans"):
        assert [counted("group", n) for n in (1, 2)] == ["1 个群", "2 个群"]
    with i18n.context(), i18n.use_locale("zh_Hant"):
        assert counted("member", 1) == "1 位會員"


async def test_a_chinese_screen_shows_a_two_percent_discount_as_98_zhe(harness: Harness) -> None:
    # given staff who give Silver members 2% off every order
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    saved = await harness.send(SAM, SAM, "/tier_set 1 discount=2")
    # then staff, reading English, see 2% off
    assert "   • 2% off every order" in "\n".join(saved)
    # and Lee, reading Simplified Chinese, sees 98折
    tiers = (await harness.send(LEE, LEE, "/tiers"))[0]
    assert "   • 每笔订单 98折" in tiers.splitlines()
    assert "2%" not in tiers


def test_discount_figures_give_the_share_paid_in_tenths() -> None:
    """98 for 2% off, 9 for 10% off, 85 for 15% off, 97.5 for 2.5% off, 5 for half price."""
    zhe = [discount_figures(bps, "zh_Hans")["zhe"] for bps in (200, 1000, 1500, 250, 5000)]
    assert zhe == ["98", "9", "85", "97.5", "5"]
    assert discount_figures(250, "en")["percent"] == "2.5%"


def test_sentences_keep_no_gap_after_a_chinese_full_stop() -> None:
    assert sentences("Order #3 reserved.", "Pay at pickup.") == "Order #3 reserved. Pay at pickup."
    assert sentences("订单 #3 已预留。", "取货时付款。") == "订单 #3 已预留。取货时付款。"
    assert sentences("Done.", "") == "Done."
