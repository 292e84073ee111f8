"""The main relationship rates of the last weeks as `/metrics` shows them in private: one chart
of line panels (handlers/views/chart.py) and a short caption, in the reader's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from handlers.views.chart import line_panels
from handlers.views.stats import rate_text
from handlers.views.text import N_
from services.analytics import Ratio
from services.metrics import MetricsReport, WeekFigures

WEEKS = 8  # the weeks /metrics looks back over, this one included

# (WeekFigures field, name): the panels, top to bottom
PANELS = (
    ("active", N_("Active rate")),
    ("interaction_rate", N_("Messages and taps per member")),
    ("fission", N_("Fission rate")),
    ("repurchase", N_("Repurchase rate")),
)


def _per_member(ratio: Ratio, locale: str) -> str:
    fraction = ratio.fraction
    return "—" if fraction is None else format_decimal(round(float(fraction), 1), locale=locale)


def _texts(key: str, locale: str) -> tuple[Callable[[Ratio], float | None], Callable[[Ratio], str]]:
    """How a figure is plotted (percent for rates) and written."""
    if key == "interaction_rate":
        return (
            lambda r: None if r.fraction is None else float(r.fraction),
            lambda r: _per_member(r, locale),
        )
    return (
        lambda r: None if r.fraction is None else float(r.fraction * 100),
        lambda r: rate_text(r, locale),
    )


def metrics_chart(report: MetricsReport, locale: str) -> bytes:
    """The rates' panels over the report's weeks, labelled in the reader's language."""
    panels = []
    for key, name in PANELS:
        plot, text = _texts(key, locale)
        ratios: list[Ratio] = [getattr(week, key) for week in report.weeks]
        panels.append((_(name), [plot(r) for r in ratios], [text(r) for r in ratios]))
    labels = [week.start.strftime("%m-%d") for week in report.weeks]
    return line_panels(_heading(report), labels, panels)


def _heading(report: MetricsReport) -> str:
    last = report.weeks[-1].start + timedelta(days=6)
    return _("Metrics, weeks of {first} – {last}").format(
        first=report.weeks[0].start.isoformat(), last=last.isoformat()
    )


def metrics_caption(report: MetricsReport, locale: str, whole_brand: bool) -> str:
    """`Metrics, weeks of …` and last week's figures, one line each, then where to read more."""
    done: WeekFigures = report.weeks[-2] if len(report.weeks) > 1 else report.weeks[-1]
    lines = [
        _heading(report) + (" · " + _("the whole brand") if whole_brand else ""),
        _("Last full week ({week}):").format(week=done.start.isoformat()),
    ]
    for number, (key, name) in enumerate(PANELS, start=1):
        _plot, text = _texts(key, locale)
        line = _("{name}: {value}").format(name=_(name), value=text(getattr(done, key)))
        lines.append(f"{number}. {line}")
    lines.append(_("Definitions and more figures: /dashboard, Metrics."))
    return "\n".join(lines)
