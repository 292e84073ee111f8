"""The weekly digest: on Monday, staff get the brand's five numbers that moved most last week
(against the week before) and each leader the same for the groups they lead.

The week is a local Monday-to-Sunday week in the brand's time zone. The digest of the week that
began on Monday M is due from M at `hour` o'clock until the next Monday (a bot that was down on
Monday catches up); it says how the week before M went. One `DigestSend` row per person and
week, inserted before the message goes, makes it go once whatever the sweeps and workers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.community import COMMUNITY_ACTIVE, Community
from models.digest import DigestOptOut, DigestSend
from models.role import LEADER_ACTIVE, LeaderDesignation
from services.analytics import Ratio, Scope
from services.db import rowcount, upsert
from services.member import get_member
from services.metrics import MetricsReport, Slice, WeekFigures, metrics_report
from services.role import staff_ids

MOVERS = 5  # numbers in a digest
CHART_WEEKS = 8  # weeks the digest's chart shows, the last full one included

# The numbers a digest chooses from, in the order that breaks ties, with their kind:
# rate (a Ratio), count (an int), money (minor units), days (a float).
CANDIDATES: tuple[tuple[str, str], ...] = (
    ("active", "rate"),
    ("members", "count"),
    ("new_members", "count"),
    ("fission", "rate"),
    ("referral_conversion", "rate"),
    ("repurchase", "rate"),
    ("median_gap_days", "days"),
    ("coupon_redemption", "rate"),
    ("discount_cost", "money"),
)

Value = Ratio | int | float | None


@dataclass(frozen=True, slots=True)
class Mover:
    """One number of the digest: last week's value against the week before's."""

    key: str  # a WeekFigures field
    kind: str  # rate, count, money or days
    before: Value
    after: Value
    series: tuple[Value, ...]  # the value over the chart's weeks, oldest first

    @property
    def change(self) -> Fraction:
        """After minus before (rates as fractions, money in minor units)."""
        return magnitude(self.after) - magnitude(self.before)


@dataclass(frozen=True, slots=True)
class Digest:
    """What one reader's digest says."""

    week: date  # the Monday the digest is for (it speaks of the week before)
    weeks: tuple[date, ...]  # the chart's weeks (their Mondays), oldest first
    scope: Scope
    groups: tuple[str, ...]  # the titles of the groups in scope (none: the whole brand)
    currency: str
    movers: tuple[Mover, ...]

    @property
    def empty(self) -> bool:
        """Nothing to tell: every number is zero both weeks (a brand with no members yet)."""
        return all(
            magnitude(mover.before) == 0 and magnitude(mover.after) == 0 for mover in self.movers
        )


@dataclass(frozen=True, slots=True)
class Recipient:
    member_id: int
    locale: str
    scope: Scope  # None: the whole brand (staff); else the groups they lead


def magnitude(value: Value) -> Fraction:
    """A value as an exact number (an undefined rate counts as nothing)."""
    if isinstance(value, Ratio):
        return value.fraction or Fraction(0)
    if value is None:
        return Fraction(0)
    return Fraction(value)


def defined(value: Value) -> bool:
    return value is not None and not (isinstance(value, Ratio) and value.fraction is None)


def movement(before: Value, after: Value) -> Fraction:
    """How much a number moved, comparable across kinds: the change over the larger of the two
    values (0 to 1 for values of one sign; 0 when neither is above zero)."""
    old, new = magnitude(before), magnitude(after)
    largest = max(abs(old), abs(new))
    return abs(new - old) / largest if largest else Fraction(0)


def _value(week: WeekFigures, key: str) -> Value:
    value: Value = getattr(week, key)
    return value


def movers(report: MetricsReport, count: int = MOVERS) -> tuple[Mover, ...]:
    """The `count` numbers that moved most between the report's last two weeks (defined in
    both), largest move first; ties in CANDIDATES' order."""
    if len(report.weeks) < 2:
        return ()
    before, after = report.weeks[-2], report.weeks[-1]
    found = []
    for order, (key, kind) in enumerate(CANDIDATES):
        old, new = _value(before, key), _value(after, key)
        if not (defined(old) and defined(new)):
            continue
        series = tuple(_value(week, key) for week in report.weeks)
        found.append((-movement(old, new), order, Mover(key, kind, old, new, series)))
    found.sort(key=lambda item: (item[0], item[1]))
    return tuple(mover for _score, _order, mover in found[:count])


def digest_week(now: datetime, *, timezone: str, hour: int) -> date | None:
    """The Monday whose digest is due at `now` (None on a Monday before `hour`)."""
    local = now.astimezone(ZoneInfo(timezone))
    monday = local.date() - timedelta(days=local.weekday())
    if local.weekday() == 0 and local.time() < time(hour):
        return None
    return monday


async def build_digest(
    session: AsyncSession, *, week: date, timezone: str, currency: str, scope: Scope
) -> Digest:
    """The digest for the Monday `week`: the full weeks before it, up to CHART_WEEKS of them."""
    start = datetime.combine(week, time.min, ZoneInfo(timezone))
    report = await metrics_report(
        session,
        now=start - timedelta(microseconds=1),  # the Sunday before: full weeks only
        timezone=timezone,
        currency=currency,
        part=Slice(scope=scope),
        weeks=CHART_WEEKS,
    )
    titles: tuple[str, ...] = ()
    if scope is not None:
        rows = await session.execute(
            select(col(Community.title))
            .where(col(Community.id).in_(sorted(scope)))
            .order_by(col(Community.title), col(Community.id))
        )
        titles = tuple(title or "" for title in rows.scalars().all())
    return Digest(
        week=week,
        weeks=tuple(w.start for w in report.weeks),
        scope=scope,
        groups=titles,
        currency=currency,
        movers=movers(report),
    )


async def digest_recipients(
    session: AsyncSession, *, owner_ids: Iterable[int], default_locale: str
) -> list[Recipient]:
    """Staff and owners (the whole brand) and every active leader (their groups), who have
    started a private chat with the bot and not opted out; each person once."""
    staff = set(await staff_ids(session)) | set(owner_ids)
    leads = await session.execute(
        select(col(LeaderDesignation.member_id), col(LeaderDesignation.community_id))
        .join(Community, col(Community.id) == col(LeaderDesignation.community_id))
        .where(
            col(LeaderDesignation.status) == LEADER_ACTIVE,
            col(Community.status) == COMMUNITY_ACTIVE,
        )
    )
    groups: dict[int, set[int]] = {}
    for member_id, community_id in leads.all():
        groups.setdefault(int(member_id), set()).add(int(community_id))
    out = set((await session.execute(select(col(DigestOptOut.member_id)))).scalars().all())
    recipients = []
    for member_id in sorted(staff | groups.keys()):
        if member_id in out:
            continue
        member = await get_member(session, member_id)
        if member is None or not member.started:
            continue
        scope: Scope = None if member_id in staff else frozenset(groups[member_id])
        recipients.append(Recipient(member_id, member.locale or default_locale, scope))
    return recipients


async def sent_this_week(session: AsyncSession, *, week: date) -> set[int]:
    """Who already got the digest of `week`."""
    rows = await session.execute(select(col(DigestSend.member_id)).where(DigestSend.week == week))
    return {int(member_id) for member_id in rows.scalars().all()}


async def claim_digest(session: AsyncSession, *, member_id: int, week: date, now: datetime) -> bool:
    """Record that the member's digest of `week` goes now; False when it went already."""
    result = await session.execute(
        upsert(
            session,
            DigestSend,
            {"member_id": member_id, "week": week, "sent_at": now},
            keys=["member_id", "week"],
        )
    )
    return bool(rowcount(result))


async def digest_enabled(session: AsyncSession, *, member_id: int) -> bool:
    return await session.get(DigestOptOut, member_id) is None


async def set_digest(
    session: AsyncSession, *, member_id: int, enabled: bool, now: datetime
) -> bool:
    """Opt the member in or out of the weekly digest; False when that was so already."""
    if enabled:
        result = await session.execute(
            delete(DigestOptOut).where(col(DigestOptOut.member_id) == member_id)
        )
    else:
        result = await session.execute(
            upsert(
                session,
                DigestOptOut,
                {"member_id": member_id, "at": now},
                keys=["member_id"],
            )
        )
    return bool(rowcount(result))
