"""The dashboard's charts, drawn as inline SVG (and the cohort table shaded as a heat map):
the geometry is computed here, the markup is in bot/web/templates/*_chart.html and
heat_table.html, which escape every label. Chart text is the browser's, so Chinese titles
render as Chinese."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.utils.i18n import gettext as _

from bot.web.layout import render
from services.validation import shown


def bars_svg(title: str, items: Sequence[tuple[str, int, str]], *, color: str = "#3478f6") -> str:
    """A horizontal bar chart: (label, value, value as text) per bar."""
    label_width, bar_room, row, top = 220, 360, 26, 30
    peak = max((value for _label, value, _text in items), default=0) or 1
    bars = []
    for n, (label, value, text) in enumerate(items):
        y = top + n * row
        width = max(int(bar_room * max(value, 0) / peak), 1 if value else 0)
        label = shown(label)  # a product or group title as typed: no bidi or invisible controls
        bars.append(
            {
                "x": label_width,
                "y": y + 3,
                "width": width,
                "label": label,
                "short": label if len(label) <= 28 else label[:27] + "…",
                "text": text,
                "text_x": label_width + width + 6,
                "text_y": y + 16,
            }
        )
    return render(
        "bars_chart.html",
        title=title,
        width=label_width + bar_room + 120,
        height=top + row * max(len(items), 1) + 10,
        color=color,
        bars=bars,
        nothing="" if items else _("Nothing in this period."),
        nothing_y=top + 16,
    )


def columns_svg(title: str, items: Sequence[tuple[str, int, str]], *, color: str) -> str:
    """A column chart over days: (day label, value, value as text) per column."""
    width, height, top, bottom, left = 760, 220, 28, 36, 8
    count = max(len(items), 1)
    slot = (width - left) / count
    peak = max((value for _label, value, _text in items), default=0) or 1
    room = height - top - bottom
    every = max(1, count // 10)  # about ten day labels under the axis
    columns = []
    for n, (label, value, text) in enumerate(items):
        bar = int(room * max(value, 0) / peak)
        x = left + n * slot
        columns.append(
            {
                "x": f"{x + slot * 0.15:.1f}",
                "y": height - bottom - bar,
                "width": f"{slot * 0.7:.1f}",
                "height": bar,
                "label": label,
                "text": text,
                "label_x": f"{x:.1f}" if n % every == 0 else "",
            }
        )
    return render(
        "columns_chart.html",
        title=title,
        width=width,
        height=height,
        left=left,
        axis=height - bottom,
        label_y=height - bottom + 16,
        color=color,
        columns=columns,
    )


def lines_svg(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    percent: bool = True,
) -> str:
    """A line chart over weeks: (name, color, values) per line; None leaves a gap. Values are
    fractions (0.4 = 40%) when `percent`, else plain numbers."""
    width, height, top, bottom, left, right = 760, 240, 48, 36, 44, 12
    count = max(len(labels), 1)
    step = (width - left - right) / max(count - 1, 1)
    values = [v for _name, _color, line in series for v in line if v is not None]
    peak = max(values, default=0.0)
    peak = 1.0 if percent and peak <= 1 else (peak or 1.0)
    room = height - top - bottom

    def y_of(value: float) -> float:
        return height - bottom - room * value / peak

    def tick(value: float) -> str:
        return f"{value * 100:.0f}%" if percent else f"{value:g}"

    legend, x = [], 0
    for name, color, _line in series:
        legend.append({"x": x, "text_x": x + 14, "color": color, "name": name})
        x += 24 + 7 * len(name)
    grids = [
        {"y": f"{y:.1f}", "text_y": f"{y + 4:.1f}", "tick": tick(peak * fraction)}
        for fraction in (0.0, 0.5, 1.0)
        for y in (y_of(peak * fraction),)
    ]
    every = max(1, count // 10)
    label_marks = [
        {"x": f"{left + n * step - 14:.1f}", "text": label}
        for n, label in enumerate(labels)
        if n % every == 0
    ]
    lines = []
    for name, color, line in series:
        runs: list[list[str]] = [[]]
        points = []
        for n, value in enumerate(line):
            if value is None:
                runs.append([])
                continue
            px, py = left + n * step, y_of(value)
            runs[-1].append(f"{px:.1f},{py:.1f}")
            points.append(
                {"x": f"{px:.1f}", "y": f"{py:.1f}", "label": labels[n], "tick": tick(value)}
            )
        joined = [" ".join(run) for run in runs if len(run) > 1]
        lines.append({"name": name, "color": color, "points": points, "runs": joined})
    return render(
        "lines_chart.html",
        title=title,
        width=width,
        height=height,
        left=left,
        right=width - right,
        label_y=height - bottom + 16,
        legend=legend,
        grids=grids,
        labels=label_marks,
        lines=lines,
    )


def heat_table(
    heading: str,
    columns: Sequence[str],
    rows: Sequence[tuple[str, str, Sequence[tuple[float | None, str]]]],
) -> str:
    """A cohort table: (row label, size, (share, text) per column) per row; each cell is
    shaded by its share (0-1), an empty share leaves it blank."""
    shaded = [
        (
            label,
            size,
            [
                ("" if share is None else f"{max(0.06, min(share, 1.0)):.2f}", text)
                for share, text in cells
            ],
        )
        for label, size, cells in rows
    ]
    return render("heat_table.html", heading=heading, head=columns, rows=shaded)
