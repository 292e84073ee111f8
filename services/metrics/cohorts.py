"""Join-week cohorts (retention and lifetime value) and the co-creator uplift."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import CommunityMember
from models.poll import PollBallot
from models.suggestion import Suggestion
from services.metrics._common import (
    _activity,
    _days_between,
    _in,
    _joined,
    _member_filter,
    _paid,
    _Weeks,
    _weeks,
)
from services.metrics.figures import LTV_DAYS, RETENTION_WEEKS, Cohort, Slice, Uplift


async def _cohorts(
    session: AsyncSession,
    weeks: _Weeks,
    part: Slice,
    dialect: str,
    bounds: list[tuple[date, datetime, datetime]],
    currency: str,
    now: datetime,
    sizes: dict[int, int],
) -> list[Cohort]:
    """Each week's joiners (`sizes`: how many): active k weeks after, and paid within N days
    of joining."""
    joined = _joined(part)
    cohort = (
        select(weeks.of(joined.c.joined).label("w"), joined.c.member_id, joined.c.joined)
        .where(weeks.within(joined.c.joined))
        .subquery("cohort")
    )
    retained = await _retained(session, cohort, part, bounds, now)
    ltv = await _lifetime_values(session, cohort, part, dialect, bounds, currency)
    cohorts = []
    for index, (first, _start, end) in enumerate(bounds):
        size = int(sizes.get(index, 0))
        cohorts.append(
            Cohort(
                start=first,
                size=size,
                retained={
                    k: retained.get((index, k), 0) if end + timedelta(weeks=k) <= now else None
                    for k in RETENTION_WEEKS
                },
                ltv={
                    # the whole cohort has had `days` days once its last joiner has
                    d: ltv.get((index, d), 0) if end + timedelta(days=d) <= now else None
                    for d in LTV_DAYS
                },
            )
        )
    return cohorts


async def _retained(
    session: AsyncSession,
    cohort: Any,
    part: Slice,
    bounds: list[tuple[date, datetime, datetime]],
    now: datetime,
) -> dict[tuple[int, int], int]:
    """(cohort week, k): how many of the cohort acted in the k-th week after theirs."""
    retained: dict[tuple[int, int], int] = {}
    # one pass over the activity since the first week for every k: a cohort member counts for
    # k when they acted in the k-th week after their cohort's (the weeks ended by now are the
    # window's first ones, so an index in `later` is its cohort's)
    kept = []
    first_later: datetime | None = None
    for k in RETENTION_WEEKS:
        ahead = [
            (start + timedelta(weeks=k), end + timedelta(weeks=k))
            for _first, start, end in bounds
            if end + timedelta(weeks=k) <= now
        ]
        if ahead:
            later = _weeks(ahead, f"later{k}")
            kept.append((k, later))
            first_later = min(first_later or ahead[0][0], ahead[0][0])
    if kept and first_later is not None:
        activity = _activity(part, first_later, now)
        query = (
            select(
                cohort.c.w,
                *(
                    func.count(
                        func.distinct(
                            case((later.of(activity.c.at) == cohort.c.w, activity.c.member_id))
                        )
                    )
                    for _k, later in kept
                ),
            )
            .select_from(activity)
            .join(cohort, cohort.c.member_id == activity.c.member_id)
            .group_by(cohort.c.w)
        )
        for w, *counts in (await session.execute(query)).all():
            for (k, _later), count in zip(kept, counts, strict=True):
                retained[(int(w), k)] = int(count)
    return retained


async def _lifetime_values(
    session: AsyncSession,
    cohort: Any,
    part: Slice,
    dialect: str,
    bounds: list[tuple[date, datetime, datetime]],
    currency: str,
) -> dict[tuple[int, int], int]:
    """(cohort week, N): what the cohort paid in `currency` within N days of joining."""
    paid = _paid(part, bounds[0][1], bounds[-1][2] + timedelta(days=max(LTV_DAYS)))
    ltv: dict[tuple[int, int], int] = {}
    age = _days_between(dialect, paid.c.paid_at, cohort.c.joined)
    query = (
        select(
            cohort.c.w,
            *(
                func.coalesce(func.sum(case((age < days, paid.c.amount), else_=0)), 0)
                for days in LTV_DAYS
            ),
        )
        .join(paid, paid.c.member_id == cohort.c.member_id)
        .where(paid.c.currency == currency, age >= 0, age < max(LTV_DAYS))
        .group_by(cohort.c.w)
    )
    for w, *totals in (await session.execute(query)).all():
        for days, total in zip(LTV_DAYS, totals, strict=True):
            ltv[(int(w), days)] = int(total)
    return ltv


async def _uplift(session: AsyncSession, part: Slice, start: datetime, end: datetime) -> Uplift:
    """Co-creators of the period against the other members of the scope, same period."""
    voters: Any = select(col(PollBallot.member_id).label("member_id")).where(
        col(PollBallot.updated_at) >= start,
        col(PollBallot.updated_at) < end,
        _in(col(PollBallot.chat_id), part.scope),
    )
    suggesters: Any = select(col(Suggestion.member_id).label("member_id")).where(
        col(Suggestion.created_at) >= start,
        col(Suggestion.created_at) < end,
        _in(col(Suggestion.community_id), part.scope),
    )
    cocreators = union_all(voters, suggesters).subquery("cocreators")
    members = (
        select(col(CommunityMember.member_id).label("member_id"))
        .where(
            _in(col(CommunityMember.community_id), part.scope),
            _member_filter(col(CommunityMember.member_id), part.tier),
            col(CommunityMember.first_seen_at) < end,
            or_(col(CommunityMember.left_at).is_(None), col(CommunityMember.left_at) >= start),
        )
        .distinct()
        .subquery("members")
    )
    paid = _paid(part, start, end)
    spent = (
        select(
            paid.c.member_id,
            func.count().label("orders"),
            func.sum(paid.c.amount).label("spend"),
        )
        .where(paid.c.paid_at >= start, paid.c.paid_at < end)
        .group_by(paid.c.member_id)
        .subquery("spent")
    )
    is_cocreator = members.c.member_id.in_(select(cocreators.c.member_id))
    query = (
        select(
            is_cocreator,
            func.count(),
            func.coalesce(func.sum(spent.c.orders), 0),
            func.coalesce(func.sum(spent.c.spend), 0),
        )
        .select_from(members)
        .outerjoin(spent, spent.c.member_id == members.c.member_id)
        .group_by(is_cocreator)
    )
    rows = {bool(flag): (int(n), int(o), int(s)) for flag, n, o, s in await session.execute(query)}
    yes, no = rows.get(True, (0, 0, 0)), rows.get(False, (0, 0, 0))
    return Uplift(yes[0], no[0], yes[1], no[1], yes[2], no[2])
