"""The report as rows and CSV, one line per metric and week."""

from __future__ import annotations

import csv
import io

from services.analytics import Ratio
from services.metrics.figures import LTV_DAYS, RETENTION_WEEKS, MetricsReport

CSV_COLUMNS = ("week", "metric", "numerator", "denominator", "value")


RATE_METRICS = (
    "active",
    "fission",
    "referral_conversion",
    "repurchase",
    "coupon_redemption",
)


def metric_rows(report: MetricsReport) -> list[tuple[str, str, int | str, int | str, str]]:
    """Every metric over time as (week, metric, numerator, denominator, value) rows: rates as
    fractions to 4 places, money in minor units, cohort figures under their join week."""

    def rate(ratio: Ratio) -> str:
        fraction = ratio.fraction
        return "" if fraction is None else f"{float(fraction):.4f}"

    rows: list[tuple[str, str, int | str, int | str, str]] = []
    for week in report.weeks:
        first = week.start.isoformat()
        for name in RATE_METRICS:
            ratio: Ratio = getattr(week, name)
            rows.append((first, name, ratio.numerator, ratio.denominator, rate(ratio)))
        gap = "" if week.median_gap_days is None else f"{week.median_gap_days:.1f}"
        rows.append((first, "median_gap_days", "", "", gap))
        rows.append((first, f"discount_cost_{report.currency}", "", "", str(week.discount_cost)))
        rows.append(
            (
                first,
                "interaction_rate",
                week.interaction_rate.numerator,
                week.interaction_rate.denominator,
                rate(week.interaction_rate),
            )
        )
        rows.append((first, "tickets_opened", "", "", str(week.tickets_opened)))
        hours = "" if week.first_answer_hours is None else f"{week.first_answer_hours:.1f}"
        rows.append((first, "first_answer_hours", "", "", hours))
        for name in ("tickets_resolved", "trial_report"):
            ratio = getattr(week, name)
            rows.append((first, name, ratio.numerator, ratio.denominator, rate(ratio)))
    for cohort in report.cohorts:
        first = cohort.start.isoformat()
        rows.append((first, "cohort_size", "", "", str(cohort.size)))
        for k in RETENTION_WEEKS:
            kept = cohort.retention(k)
            if kept is not None:
                rows.append(
                    (first, f"retention_w{k}", kept.numerator, kept.denominator, rate(kept))
                )
        for days in LTV_DAYS:
            value = cohort.value(days)
            if value is not None:
                average = "" if value.fraction is None else str(round(value.fraction))
                rows.append(
                    (
                        first,
                        f"ltv_{days}d_{report.currency}",
                        value.numerator,
                        value.denominator,
                        average,
                    )
                )
    period = f"{report.weeks[0].start.isoformat()}/{report.weeks[-1].start.isoformat()}"
    up = report.uplift
    co_orders, other_orders = up.orders_per_member
    co_spend, other_spend = up.spend_per_member
    for name, per_member in (
        ("cocreator_orders_per_member", co_orders),
        ("other_orders_per_member", other_orders),
        (f"cocreator_spend_per_member_{report.currency}", co_spend),
        (f"other_spend_per_member_{report.currency}", other_spend),
    ):
        text = rate(per_member)
        if "spend" in name and per_member.fraction is not None:
            text = str(round(per_member.fraction))  # minor units per member
        rows.append((period, name, per_member.numerator, per_member.denominator, text))
    return rows


def metrics_csv(report: MetricsReport) -> bytes:
    """The report as CSV (UTF-8 with a BOM, as the dashboard's other CSVs, for spreadsheets)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(metric_rows(report))
    return ("\ufeff" + buffer.getvalue()).encode()
