"""The dashboard's metrics page: every metric of the weeks ending with the period's last day,
as charts and a table, and the same figures as a CSV."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from aiogram.utils.i18n import gettext as _
from aiohttp import web
from babel.numbers import format_decimal
from markupsafe import Markup

from bot.web import dashboard_charts as charts
from bot.web.dashboard_core import (
    EXPORT_ACTION,
    DashboardCore,
    View,
    csv_headers,
    exported_groups,
)
from bot.web.dashboard_html import CSV_LINK
from bot.web.layout import render
from handlers.views.stats import rate_text
from handlers.views.text import format_money
from services.analytics import Ratio
from services.metrics import (
    DEFAULT_WEEKS,
    LTV_DAYS,
    RETENTION_WEEKS,
    MetricsReport,
    Slice,
    metrics_csv,
    metrics_report,
)
from services.metrics import DEFINITIONS as METRIC_DEFINITIONS


def _number_text(ratio: Ratio, locale: str) -> str:
    """A ratio as a decimal to one place ("2.5"), "—" when undefined."""
    fraction = ratio.fraction
    if fraction is None:
        return "—"
    return format_decimal(Decimal(round(fraction * 10)).scaleb(-1), "#,##0.0", locale=locale)


class MetricsPage(DashboardCore):
    """The metrics page and its CSV."""

    async def _metrics(self, view: View) -> MetricsReport:
        """The metrics of the weeks ending with the period's last day (at least 12 weeks)."""
        days = (view.period.last - view.period.first).days + 1
        # figures as they stood at the period's end: a past period is not judged with hindsight
        end = datetime.combine(view.period.last + timedelta(days=1), time(), view.zone)
        async with self.reads() as session:
            return await metrics_report(
                session,
                now=min(self.now(), end.astimezone(UTC)),
                timezone=view.zone.key,
                currency=self.settings.tier_currency,
                part=Slice(scope=view.scope),
                weeks=max(DEFAULT_WEEKS, -(-days // 7)),
            )

    async def metrics(self, _request: web.Request, view: View) -> tuple[str, str]:
        """Rates over weeks, join cohorts and co-creators, each with its definition."""
        report = await self._metrics(view)
        labels = [week.start.strftime("%m-%d") for week in report.weeks]
        charted = {
            **_activity_charts(report, labels),
            **_commerce_charts(report, labels, view.locale),
            "metric-cohorts": _cohorts_table(report, view.locale),
            "metric-uplift": _uplift_charts(report, view.locale),
        }
        heading = _("Weeks from {first} to {last} ({zone}); … means too early to tell").format(
            first=report.weeks[0].start.isoformat(),
            last=(report.weeks[-1].start + timedelta(days=6)).isoformat(),
            zone=view.zone.key,
        )
        params = view.params()
        blocks = [
            # the charts are HTML built from escaped text; the definitions are text
            (ident, Markup(charted[ident]), [_(METRIC_DEFINITIONS[key]) for key in keys])
            for ident, keys in BLOCKS
        ]
        body = render(
            "metrics.html",
            heading=heading,
            csv_href="csv/metrics" + (f"?{urlencode(params)}" if params else ""),
            csv=_(CSV_LINK),
            blocks=blocks,
        )
        return _("Metrics"), body

    async def _metrics_csv(self, request: web.Request, view: View) -> web.StreamResponse:
        """GET /dashboard/csv/metrics: every metric of the page over its weeks, audited."""
        report = await self._metrics(view)
        span = f"{report.weeks[0].start.isoformat()}_{report.weeks[-1].start.isoformat()}"
        detail = f"metrics {span} groups={exported_groups(view)}"
        await self._audit(view.reader.member_id, EXPORT_ACTION, True, detail, "leader")
        return web.Response(body=metrics_csv(report), headers=csv_headers(f"metrics_{span}.csv"))


# the page's blocks in order: each chart's id, and the metrics whose definitions follow it
BLOCKS = (
    ("metric-active", ("active",)),
    ("metric-interaction", ("interaction_rate",)),
    ("metric-fission", ("fission", "referral_conversion")),
    ("metric-repurchase", ("repurchase", "median_gap")),
    ("metric-cohorts", ("retention", "ltv")),
    ("metric-coupons", ("coupon_redemption", "discount_cost")),
    ("metric-uplift", ("uplift",)),
    ("metric-service", ("tickets", "trial_report")),
)


def _rates(report: MetricsReport, name: str) -> list[float | None]:
    """One rate of every week, as a fraction; None where it is undefined."""
    return [
        None if (f := getattr(week, name).fraction) is None else float(f) for week in report.weeks
    ]


def _activity_charts(report: MetricsReport, labels: list[str]) -> dict[str, str]:
    """The weekly charts of what members do: active, interaction, fission, repurchase."""
    active = charts.lines_svg(
        _("Active rate per week"), labels, [(_("Active"), "#3478f6", _rates(report, "active"))]
    )
    fission = charts.lines_svg(
        _("Fission and referral conversion per week"),
        labels,
        [
            (_("Fission"), "#34c759", _rates(report, "fission")),
            (_("Referral conversion"), "#ff9500", _rates(report, "referral_conversion")),
        ],
    )
    repurchase = charts.lines_svg(
        _("Repurchase rate per week"),
        labels,
        [(_("Repurchase"), "#af52de", _rates(report, "repurchase"))],
    ) + charts.lines_svg(
        _("Median days between orders"),
        labels,
        [(_("Days"), "#5856d6", [week.median_gap_days for week in report.weeks])],
        percent=False,
    )
    interaction = charts.lines_svg(
        _("Messages and taps per member per week"),
        labels,
        [(_("Per member"), "#0a84ff", _rates(report, "interaction_rate"))],
        percent=False,
    )
    return {
        "metric-active": active,
        "metric-interaction": interaction,
        "metric-fission": fission,
        "metric-repurchase": repurchase,
    }


def _commerce_charts(report: MetricsReport, labels: list[str], locale: str) -> dict[str, str]:
    """The weekly charts of after-sales service and of coupons."""
    currency = report.currency
    service = (
        charts.columns_svg(
            _("Tickets opened per week"),
            [
                (label, week.tickets_opened, str(week.tickets_opened))
                for label, week in zip(labels, report.weeks, strict=True)
            ],
            color="#ff3b30",
        )
        + charts.lines_svg(
            _("Hours to the first answer (median)"),
            labels,
            [(_("Hours"), "#ff9500", [week.first_answer_hours for week in report.weeks])],
            percent=False,
        )
        + charts.lines_svg(
            _("Tickets resolved and trial reports per week"),
            labels,
            [
                (_("Resolved"), "#34c759", _rates(report, "tickets_resolved")),
                (_("Trial reports"), "#af52de", _rates(report, "trial_report")),
            ],
        )
    )
    coupons = charts.lines_svg(
        _("Coupon redemption per week"),
        labels,
        [(_("Redeemed"), "#ff2d55", _rates(report, "coupon_redemption"))],
    ) + charts.columns_svg(
        _("Discount cost per week ({currency})").format(currency=currency),
        [
            (label, week.discount_cost, format_money(week.discount_cost, currency, locale))
            for label, week in zip(labels, report.weeks, strict=True)
        ],
        color="#ff9500",
    )
    return {"metric-service": service, "metric-coupons": coupons}


def _cohorts_table(report: MetricsReport, locale: str) -> str:
    """Retention and lifetime value of each join week's members, shaded by share."""
    currency = report.currency

    def share(ratio: Ratio | None) -> tuple[float | None, str]:
        if ratio is None:
            return None, "…"
        fraction = ratio.fraction
        return (None if fraction is None else float(fraction)), rate_text(ratio, locale)

    def value(ratio: Ratio | None) -> tuple[float | None, str]:
        if ratio is None:
            return None, "…"
        if ratio.fraction is None:
            return None, "—"
        return None, format_money(round(ratio.fraction), currency, locale)

    cohort_rows = [
        (
            cohort.start.isoformat(),
            str(cohort.size),
            [share(cohort.retention(k)) for k in RETENTION_WEEKS]
            + [value(cohort.value(d)) for d in LTV_DAYS],
        )
        for cohort in report.cohorts
    ]
    return charts.heat_table(
        _("Retention and lifetime value by join week"),
        [_("Joined in the week of"), _("Members")]
        + [_("Week {n}").format(n=k) for k in RETENTION_WEEKS]
        + [_("Value by day {days}").format(days=d) for d in LTV_DAYS],
        cohort_rows,
    )


def _uplift_charts(report: MetricsReport, locale: str) -> str:
    """Orders and spend per member: those who vote and suggest against the others."""
    currency = report.currency
    up = report.uplift
    co_orders, other_orders = up.orders_per_member
    co_spend, other_spend = up.spend_per_member
    who = (_("Voters and suggesters ({n})"), _("Other members ({n})"))
    orders_chart = charts.bars_svg(
        _("Paid orders per member"),
        [
            (label.format(n=n), ratio.bps or 0, _number_text(ratio, locale))
            for label, n, ratio in (
                (who[0], up.cocreators, co_orders),
                (who[1], up.others, other_orders),
            )
        ],
        color="#34c759",
    )
    spend_chart = charts.bars_svg(
        _("Spend per member ({currency})").format(currency=currency),
        [
            (
                label.format(n=n),
                round(ratio.fraction or 0),
                format_money(round(ratio.fraction or 0), currency, locale),
            )
            for label, n, ratio in (
                (who[0], up.cocreators, co_spend),
                (who[1], up.others, other_spend),
            )
        ],
        color="#3478f6",
    )
    return orders_chart + spend_chart
