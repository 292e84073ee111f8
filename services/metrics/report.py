"""The metrics report: every figure for a slice over its weeks."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics import Ratio
from services.metrics._common import _weeks, week_bounds
from services.metrics.cohorts import _cohorts, _uplift
from services.metrics.figures import DEFAULT_WEEKS, MAX_WEEKS, MetricsReport, Slice, WeekFigures
from services.metrics.weekly import (
    _coupons,
    _interactions,
    _members,
    _newcomers,
    _repurchase,
    _tickets,
    _trial_reports,
)


async def metrics_report(
    session: AsyncSession,
    *,
    now: datetime,
    timezone: str,
    currency: str,
    part: Slice = Slice(),  # noqa: B008  a frozen dataclass, safe to share as a default
    weeks: int = DEFAULT_WEEKS,
) -> MetricsReport:
    """The slice's weekly rates, join cohorts and co-creator uplift over the last `weeks`
    local weeks (the current one included); money in `currency`."""
    count = max(1, min(weeks, MAX_WEEKS))
    last = now.astimezone(ZoneInfo(timezone)).date()
    bounds = week_bounds(last, count, timezone)
    table = _weeks([(s, e) for _f, s, e in bounds])
    dialect = (await session.connection()).dialect.name
    span = (bounds[0][1], bounds[-1][2])
    members = await _members(session, table, part, span)
    newcomers = await _newcomers(session, table, part)
    buyers, medians = await _repurchase(session, table, part, dialect, span)
    given, cost = await _coupons(session, table, part, currency, span)
    interactions = await _interactions(session, bounds, part)
    tickets, answer_hours = await _tickets(session, table, part, dialect)
    trials = await _trial_reports(session, table, part)
    figures = []
    for index, (first, _start, _end) in enumerate(bounds):
        present, active = members.get(index, (0, 0))
        new, referred, qualified = newcomers.get(index, (0, 0, 0))
        paying, repeat = buyers.get(index, (0, 0))
        coupons, used = given.get(index, (0, 0))
        opened, resolved = tickets.get(index, (0, 0))
        accepted, reported = trials.get(index, (0, 0))
        figures.append(
            WeekFigures(
                start=first,
                members=int(present),
                active=Ratio(int(active), int(present)),
                new_members=int(new),
                fission=Ratio(int(referred), int(new)),
                referral_conversion=Ratio(int(qualified), int(referred)),
                repurchase=Ratio(int(repeat), int(paying)),
                median_gap_days=medians.get(index),
                coupon_redemption=Ratio(int(used), int(coupons)),
                discount_cost=int(cost.get(index, (0,))[0]),
                interaction_rate=Ratio(interactions.get(index, 0), int(present)),
                tickets_opened=int(opened),
                first_answer_hours=answer_hours.get(index),
                tickets_resolved=Ratio(int(resolved), int(opened)),
                trial_report=Ratio(int(reported), int(accepted)),
            )
        )
    # a cohort is the week's new members (one referral row at most per newcomer)
    sizes = {index: int(row[0]) for index, row in newcomers.items()}
    cohorts = await _cohorts(session, table, part, dialect, bounds, currency, now, sizes)
    uplift = await _uplift(session, part, bounds[0][1], bounds[-1][2])
    return MetricsReport(
        timezone=timezone,
        currency=currency,
        slice=part,
        weeks=tuple(figures),
        cohorts=tuple(cohorts),
        uplift=uplift,
    )
