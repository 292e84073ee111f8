"""Pacing policy for promotional posts: when may the next one reach a chat? Pure, no I/O.

A community gets at most `group_week_cap` promotional posts in any rolling 7 days, at least
`min_gap` apart, and none in its quiet hours (local time of its IANA zone; the window may cross
midnight). A member gets private promotions only after opting in, at most `member_week_cap` in
any rolling 7 days, and never in their quiet hours either. A recipient that cannot be served
now gets the next moment it can (deferred, never dropped); one that can never be served gets a
`Skip` with the reason.

`history` holds every promotional post of the chat that counts: the ones already sent and the
ones already planned for later (so two broadcasts planned back to back respect each other).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEK = timedelta(days=7)
# a plan never looks further than this; past it the rules cannot be met (a cap of 0)
HORIZON = timedelta(days=366)

# Skip reasons, stored on the outbox row
SKIP_NOT_OPTED_IN = "not_opted_in"  # the member never agreed to promotions, or said /stop
SKIP_UNREACHABLE = "unreachable"  # the member blocked the bot (HTTP 403)
SKIP_NEVER = "never"  # the rules allow no post at all (a cap of 0)


@dataclass(frozen=True, slots=True)
class PacingRules:
    """The limits a promotional post must fit in (bot.config.Settings gives the defaults)."""

    group_week_cap: int = 3
    member_week_cap: int = 2
    # a leader's own group-buys in their own group, counted apart from the brand's promotions
    leader_week_cap: int = 5
    min_gap: timedelta = timedelta(hours=4)
    # quiet hours in the recipient's local time; start == end means none
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)


@dataclass(frozen=True, slots=True)
class Reach:
    """What the policy needs to know about a member for a private promotion."""

    opted_in: bool
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class Skip:
    """The recipient can never be served by this broadcast; `reason` is one of SKIP_*."""

    reason: str


def in_quiet_hours(moment: datetime, rules: PacingRules, timezone: str) -> bool:
    """Whether the moment falls in the quiet hours of the time zone."""
    start, end = rules.quiet_start, rules.quiet_end
    if start == end:
        return False
    local = moment.astimezone(ZoneInfo(timezone)).time()
    if start < end:  # e.g. 13:00-15:00, within one day
        return start <= local < end
    return local >= start or local < end  # e.g. 22:00-08:00, across midnight


def quiet_end_after(moment: datetime, rules: PacingRules, timezone: str) -> datetime:
    """The first moment at or after `moment` that is outside the quiet hours."""
    if not in_quiet_hours(moment, rules, timezone):
        return moment
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    day = local.date()
    if local.time() >= rules.quiet_end and rules.quiet_start > rules.quiet_end:
        day += timedelta(days=1)  # in the evening part of a window across midnight
    end = datetime.combine(day, rules.quiet_end, tzinfo=zone).astimezone(UTC)
    # a zone's clock change can make the local time ambiguous or absent: never go backwards
    return max(end, moment)


def _cap_ok(candidate: datetime, stamps: list[datetime], cap: int) -> tuple[bool, datetime | None]:
    """Whether one more post at `candidate` keeps every 7-day window within the cap; if not,
    a later moment worth trying."""
    before = [s for s in stamps if candidate - WEEK < s <= candidate]
    if len(before) >= cap:
        # wait until enough of the posts before it have left its window
        return False, before[len(before) - cap] + WEEK
    # a window that ends at a later planned post also holds this one
    for later in (s for s in stamps if candidate < s < candidate + WEEK):
        in_window = [s for s in stamps if later - WEEK < s <= later]
        if len(in_window) + 1 > cap:
            return False, later + timedelta(seconds=1)
    return True, None


def within_cap(moment: datetime, history: Iterable[datetime], cap: int) -> bool:
    """Whether one more post at `moment` keeps every 7-day window of the history within `cap`."""
    return _cap_ok(moment, sorted(s.astimezone(UTC) for s in history), cap)[0]


def next_slot(
    history: Iterable[datetime],
    now: datetime,
    rules: PacingRules,
    timezone: str,
    *,
    private: bool = False,
    reach: Reach | None = None,
) -> datetime | Skip:
    """The earliest moment from `now` at which one more promotional post may reach the chat.

    `private` posts go to a member and need `reach` (opted in, not unreachable); group posts
    use the community cap. The answer is in UTC, or a `Skip` when no moment ever fits.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if private:
        if reach is None or reach.unreachable:
            return Skip(SKIP_UNREACHABLE if reach is not None else SKIP_NOT_OPTED_IN)
        if not reach.opted_in:
            return Skip(SKIP_NOT_OPTED_IN)
    cap = rules.member_week_cap if private else rules.group_week_cap
    if cap <= 0:
        return Skip(SKIP_NEVER)
    stamps = sorted(s.astimezone(UTC) for s in history)
    candidate = now.astimezone(UTC)
    limit = candidate + HORIZON
    while candidate <= limit:
        moved = quiet_end_after(candidate, rules, timezone)
        if moved != candidate:
            candidate = moved
            continue
        near = [s for s in stamps if abs(s - candidate) < rules.min_gap]
        if near:
            candidate = max(near) + rules.min_gap
            continue
        ok, later = _cap_ok(candidate, stamps, cap)
        if not ok:
            assert later is not None and later > candidate
            candidate = later
            continue
        return candidate
    return Skip(SKIP_NEVER)


def plan(
    count: int,
    history: Iterable[datetime],
    now: datetime,
    rules: PacingRules,
    timezone: str,
    *,
    private: bool = False,
) -> list[datetime]:
    """The slots of `count` posts one after another (how a queue of drops would land)."""
    stamps = list(history)
    slots: list[datetime] = []
    for _ in range(count):
        slot = next_slot(stamps, now, rules, timezone, private=private, reach=Reach(True))
        if isinstance(slot, Skip):
            break
        slots.append(slot)
        stamps.append(slot)
    return slots
