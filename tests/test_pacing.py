"""The pacing policy, with explicit datetimes: caps, gaps, quiet hours, consent, deferral."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_settings
from services.pacing import (
    SKIP_NEVER,
    SKIP_NOT_OPTED_IN,
    SKIP_UNREACHABLE,
    WEEK,
    PacingRules,
    Reach,
    Skip,
    in_quiet_hours,
    next_slot,
    plan,
)

RULES = PacingRules()  # 3 a week per group, 2 per member, 4 h apart, quiet 22:00-08:00
SHANGHAI = "Asia/Shanghai"  # UTC+8, no daylight saving
LONDON = "Europe/London"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, zone: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def test_a_free_chat_in_the_day_is_served_now() -> None:
    now = utc("2026-11-23 10:00")
    assert next_slot([], now, RULES, "UTC") == now


def test_the_settings_give_the_documented_defaults() -> None:
    rules = load_settings(_env_file=None).pacing_rules()
    assert rules == RULES
    off = load_settings(_env_file=None, promo_quiet_hours="off").pacing_rules()
    assert not in_quiet_hours(utc("2026-11-23 03:00"), off, "UTC")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-23 22:00", "2026-11-24 08:00"),  # the quiet hours begin
        ("2026-11-23 23:59", "2026-11-24 08:00"),  # before midnight
        ("2026-11-24 00:30", "2026-11-24 08:00"),  # after midnight
        ("2026-11-24 07:59", "2026-11-24 08:00"),
        ("2026-11-24 08:00", "2026-11-24 08:00"),  # they end
        ("2026-11-23 21:59", "2026-11-23 21:59"),
    ],
)
def test_quiet_hours_across_midnight_defer_to_the_morning(now: str, expected: str) -> None:
    assert next_slot([], utc(now), RULES, "UTC") == utc(expected)


def test_quiet_hours_are_the_community_s_local_time() -> None:
    # 15:00 UTC is 23:00 in Shanghai: quiet there until 08:00 local, 00:00 UTC
    now = utc("2026-11-23 15:00")
    assert next_slot([], now, RULES, SHANGHAI) == utc("2026-11-24 00:00")
    # and the same moment is mid-afternoon in London: served at once
    assert next_slot([], now, RULES, LONDON) == now
    # 23:30 UTC is 07:30 in Shanghai: half an hour to wait
    assert next_slot([], utc("2026-11-23 23:30"), RULES, SHANGHAI) == utc("2026-11-24 00:00")


def test_quiet_hours_follow_daylight_saving() -> None:
    # London in summer is UTC+1: 21:30 UTC is 22:30 local, quiet until 08:00 BST = 07:00 UTC
    assert next_slot([], utc("2026-07-01 21:30"), RULES, LONDON) == utc("2026-07-02 07:00")
    # the night the clocks go back (25 Oct 2026): quiet until 08:00 GMT = 08:00 UTC
    assert next_slot([], utc("2026-10-24 23:00"), RULES, LONDON) == utc("2026-10-25 08:00")


def test_quiet_hours_within_one_day() -> None:
    siesta = PacingRules(quiet_start=time(13, 0), quiet_end=time(15, 0))
    assert next_slot([], utc("2026-11-23 14:00"), siesta, "UTC") == utc("2026-11-23 15:00")
    assert next_slot([], utc("2026-11-23 23:00"), siesta, "UTC") == utc("2026-11-23 23:00")


def test_the_minimum_gap_after_the_last_post() -> None:
    history = [utc("2026-11-23 09:00")]
    assert next_slot(history, utc("2026-11-23 10:00"), RULES, "UTC") == utc("2026-11-23 13:00")


def test_the_gap_that_ends_in_quiet_hours_waits_for_the_morning() -> None:
    history = [utc("2026-11-23 19:00")]  # next allowed 23:00, which is quiet
    assert next_slot(history, utc("2026-11-23 20:00"), RULES, "UTC") == utc("2026-11-24 08:00")


def test_a_planned_post_later_counts_too() -> None:
    # a post is planned at 12:00; one asked for at 10:00 would be too close before it
    history = [utc("2026-11-23 12:00")]
    assert next_slot(history, utc("2026-11-23 10:00"), RULES, "UTC") == utc("2026-11-23 16:00")


def test_the_weekly_cap_is_a_rolling_window() -> None:
    # three posts this week, the first on Monday 09:00
    history = [utc("2026-11-23 09:00"), utc("2026-11-24 09:00"), utc("2026-11-25 09:00")]
    now = utc("2026-11-26 09:00")
    # the fourth waits until the first leaves the 7-day window
    assert next_slot(history, now, RULES, "UTC") == utc("2026-11-30 09:00")
    # a cap of 4 would allow it now
    assert next_slot(history, now, PacingRules(group_week_cap=4), "UTC") == now


def test_the_window_that_ends_at_a_planned_post_holds_the_cap() -> None:
    # two posts sent, one planned three days from now: a new one now would make four in the
    # 7 days that end at the planned one
    history = [utc("2026-11-20 09:00"), utc("2026-11-21 09:00"), utc("2026-11-26 09:00")]
    slot = next_slot(history, utc("2026-11-23 09:00"), RULES, "UTC")
    assert isinstance(slot, datetime)
    assert slot > utc("2026-11-26 09:00")
    _assert_fits([*history, slot], RULES.group_week_cap)


def test_members_have_their_own_cap() -> None:
    history = [utc("2026-11-23 09:00"), utc("2026-11-24 09:00")]
    now = utc("2026-11-25 09:00")
    slot = next_slot(history, now, RULES, "UTC", private=True, reach=Reach(opted_in=True))
    assert slot == utc("2026-11-30 09:00")  # two a week
    assert next_slot(history, now, RULES, "UTC") == now  # a group would get a third


def test_private_promotions_need_an_opt_in_and_a_reachable_member() -> None:
    now = utc("2026-11-23 10:00")
    assert next_slot([], now, RULES, "UTC", private=True, reach=None) == Skip(SKIP_NOT_OPTED_IN)
    opted_out = Reach(opted_in=False)
    assert next_slot([], now, RULES, "UTC", private=True, reach=opted_out) == Skip(
        SKIP_NOT_OPTED_IN
    )
    blocked = Reach(opted_in=True, unreachable=True)
    assert next_slot([], now, RULES, "UTC", private=True, reach=blocked) == Skip(SKIP_UNREACHABLE)
    assert next_slot([], now, RULES, "UTC", private=True, reach=Reach(opted_in=True)) == now


def test_a_cap_of_zero_never_serves() -> None:
    none = PacingRules(group_week_cap=0)
    assert next_slot([], utc("2026-11-23 10:00"), none, "UTC") == Skip(SKIP_NEVER)


def test_deferred_posts_keep_their_order_and_every_rule() -> None:
    # a burst of five drops asked for at 21:00 in Shanghai (13:00 UTC)
    slots = plan(5, [], utc("2026-11-23 13:00"), RULES, SHANGHAI)
    assert slots == sorted(slots)
    assert slots[0] == utc("2026-11-23 13:00")  # 21:00 local, just before the quiet hours
    assert slots[1] == utc("2026-11-24 00:00")  # 08:00 local the next morning
    assert slots[2] == utc("2026-11-24 04:00")  # four hours later
    # the fourth and fifth wait a week after the first and second
    assert slots[3] == utc("2026-11-30 13:00")
    assert slots[4] == utc("2026-12-01 00:00")
    _assert_fits(slots, RULES.group_week_cap)
    assert not any(in_quiet_hours(s, RULES, SHANGHAI) for s in slots)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        next_slot([], datetime(2026, 11, 23, 10, 0), RULES, "UTC")  # noqa: DTZ001


def _assert_fits(stamps: list[datetime], cap: int) -> None:
    ordered = sorted(stamps)
    for i, first in enumerate(ordered):
        assert sum(1 for s in ordered[i:] if s < first + WEEK) <= cap
    for a, b in pairwise(ordered):
        assert b - a >= RULES.min_gap


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=-14 * 24 * 60, max_value=14 * 24 * 60), max_size=8),
    start=st.integers(min_value=0, max_value=7 * 24 * 60),
    zone=st.sampled_from(["UTC", SHANGHAI, LONDON, "America/New_York", "Pacific/Kiritimati"]),
)
def test_every_slot_keeps_every_rule(offsets: list[int], start: int, zone: str) -> None:
    """Property: whatever the history (even one that broke the rules before), the slot is not
    before now, not in quiet hours, at least the gap from every post, and no 7-day window that
    holds it holds more than the cap."""
    base = utc("2026-11-23 00:00")
    history = [base + timedelta(minutes=m) for m in offsets]
    now = base + timedelta(minutes=start)
    slot = next_slot(history, now, RULES, zone)
    assert isinstance(slot, datetime)
    assert slot >= now
    assert not in_quiet_hours(slot, RULES, zone)
    assert all(abs(slot - s) >= RULES.min_gap for s in history)
    stamps = [*history, slot]
    for end in (s for s in stamps if slot <= s < slot + WEEK):
        assert sum(1 for s in stamps if end - WEEK < s <= end) <= RULES.group_week_cap
