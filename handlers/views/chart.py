"""Bar charts as PNG images, drawn server-side with Pillow (no network, no plotting stack).

Text in the image is drawn with the first of CHART_FONTS found (Debian's fonts-noto-cjk, which
the Docker image and CI install, or WenQuanYi), then DejaVu Sans, then Pillow's built-in font,
which has no CJK glyphs. `has_cjk_font()` says whether a CJK font was found: only then may a
chart carry words (which may be Chinese) in the image; otherwise it keeps its image text to digits
and signs (numbered rows, counts, percentages) and puts the words in the message beside it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch, Fedora
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # older Fedora
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
CHART_FONTS = (*CJK_FONTS, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
WIDTH = 800
BAR_HEIGHT = 34
GAP = 14
MARGIN = 24
LABEL_WIDTH = 300
NOTE_WIDTH = 110  # room after the longest bar for its value
COLORS = ((52, 120, 246), (255, 149, 0))  # raw bars, weighted bars

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=4)
def _font(size: int) -> Font:
    for candidate in CHART_FONTS:
        if Path(candidate).exists():
            try:
                return ImageFont.truetype(candidate, size)
            except OSError:
                continue
    return ImageFont.load_default(size)


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """The CJK font charts draw with, if one is installed (None: latin text only)."""
    for candidate in CJK_FONTS:
        if Path(candidate).exists():
            try:
                ImageFont.truetype(candidate, 12)
            except OSError:
                continue
            return candidate
    return None


def has_cjk_font() -> bool:
    """Whether chart images may carry words in any of the bot's languages."""
    return cjk_font_path() is not None


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """The text cut with an ellipsis to fit the width."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    notes: Sequence[Sequence[str]] | None = None,
    label_width: int = LABEL_WIDTH,
) -> bytes:
    """A horizontal bar chart: one row per label, one bar per series (name, values); PNG bytes.

    Each bar is followed by its value, or by notes[series][row] when given. The legend of the
    series' colours is drawn only when they have names.
    """
    title_font, font = _font(22), _font(16)
    rows = len(labels)
    bars = max(1, len(series))
    row_height = bars * BAR_HEIGHT + GAP
    legend = 28 if len(series) > 1 and any(name for name, _values in series) else 0
    height = MARGIN * 2 + 40 + legend + rows * row_height
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (MARGIN, MARGIN),
        _fit(draw, title, title_font, WIDTH - 2 * MARGIN),
        fill="black",
        font=title_font,
    )
    top = MARGIN + 40
    if legend:
        x = MARGIN
        for index, (name, _values) in enumerate(series):
            draw.rectangle((x, top + 4, x + 16, top + 20), fill=COLORS[index % len(COLORS)])
            draw.text((x + 22, top + 2), name, fill="black", font=font)
            x += 40 + int(draw.textlength(name, font=font))
        top += legend
    peak = max((max(values, default=0) for _name, values in series), default=0) or 1
    span = WIDTH - 2 * MARGIN - label_width - NOTE_WIDTH
    for row, label in enumerate(labels):
        y = top + row * row_height
        draw.text(
            (MARGIN, y + 6), _fit(draw, label, font, label_width - 10), fill="black", font=font
        )
        for index, (_name, values) in enumerate(series):
            value = values[row] if row < len(values) else 0
            bar_top = y + index * BAR_HEIGHT
            x0 = MARGIN + label_width
            x1 = x0 + max(2, round(span * value / peak))
            draw.rectangle(
                (x0, bar_top + 4, x1, bar_top + BAR_HEIGHT - 4), fill=COLORS[index % len(COLORS)]
            )
            note = str(value)
            if notes is not None and index < len(notes) and row < len(notes[index]):
                note = notes[index][row]
            draw.text((x1 + 8, bar_top + 8), note, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# ---------------------------------------------------------------- the /stats chart ----
# Numbers, ISO dates and panel letters, plus the panels' names when a CJK font is installed;
# the localized legend goes in the message caption either way.

STATS_WIDTH = 900
PANEL_GAP = 36
GMV_COLOR = (52, 120, 246)
ORDERS_COLOR = (255, 149, 0)
FUNNEL_COLOR = (88, 86, 214)
NPS_COLORS = ((52, 199, 89), (174, 174, 178), (255, 59, 48))  # promoters, passives, detractors


def _ticks(peak: int) -> list[int]:
    """Up to five round tick values from 0 to at least the peak."""
    step = 1
    while step * 4 < peak:
        for factor in (2, 5, 10):
            if step * factor * 4 >= peak:
                step *= factor
                break
        else:
            step *= 10
    return [step * n for n in range(5) if step * n <= max(peak, step * 4)]


def _number(value: int, scale: int) -> str:
    """A tick value (minor units over scale) in plain latin digits."""
    if scale == 1:
        return f"{value:,}"
    whole, rest = divmod(value, scale)
    return f"{whole:,}" if not rest else f"{value / scale:,.2f}"


def _daily_panel(
    draw: ImageDraw.ImageDraw,
    top: int,
    title: str,
    days: Sequence[tuple[str, int, int]],
    scale: int,
) -> int:
    """Columns of GMV per day with the orders as a line on the right axis; returns the bottom."""
    font, small = _font(16), _font(12)
    draw.text((MARGIN, top), title, fill="black", font=font)
    left, right = MARGIN + 70, STATS_WIDTH - MARGIN - 50
    plot_top, plot_bottom = top + 30, top + 290
    height = plot_bottom - plot_top
    gmv_ticks = _ticks(max((gmv for _d, _o, gmv in days), default=0))
    order_ticks = _ticks(max((orders for _d, orders, _g in days), default=0))
    for index, tick in enumerate(gmv_ticks):
        y = plot_bottom - round(height * tick / gmv_ticks[-1])
        draw.line((left, y, right, y), fill=(230, 230, 230))
        draw.text((MARGIN, y - 7), _number(tick, scale), fill=GMV_COLOR, font=small)
        if index < len(order_ticks):
            y2 = plot_bottom - round(height * order_ticks[index] / order_ticks[-1])
            draw.text((right + 6, y2 - 7), str(order_ticks[index]), fill=ORDERS_COLOR, font=small)
    draw.line((left, plot_bottom, right, plot_bottom), fill="black")
    slot = (right - left) / max(1, len(days))
    every = max(1, round(len(days) / 8))
    points: list[tuple[float, float]] = []
    for index, (label, orders, gmv) in enumerate(days):
        x0 = left + index * slot
        bar = round(height * gmv / gmv_ticks[-1])
        if bar:
            draw.rectangle(
                (x0 + slot * 0.15, plot_bottom - bar, x0 + slot * 0.85, plot_bottom), fill=GMV_COLOR
            )
        points.append((x0 + slot / 2, plot_bottom - height * orders / order_ticks[-1]))
        if index % every == 0:
            draw.text((x0, plot_bottom + 6), label, fill="black", font=small)
    if len(points) > 1:
        draw.line(points, fill=ORDERS_COLOR, width=3)
    for px, py in points:
        draw.ellipse((px - 4, py - 4, px + 4, py + 4), fill=ORDERS_COLOR)
    return plot_bottom + 26


def _funnel_panel(draw: ImageDraw.ImageDraw, top: int, title: str, steps: Sequence[int]) -> int:
    """One bar per funnel step, numbered 1..n, with its count and share of the first step."""
    font = _font(16)
    draw.text((MARGIN, top), title, fill="black", font=font)
    left, span = MARGIN + 40, STATS_WIDTH - 2 * MARGIN - 200
    peak = max(steps, default=0) or 1
    y = top + 32
    for index, value in enumerate(steps):
        draw.text((MARGIN + 8, y + 6), str(index + 1), fill="black", font=font)
        width = max(2, round(span * value / peak))
        draw.rectangle((left, y, left + width, y + 28), fill=FUNNEL_COLOR)
        share = f"  {round(100 * value / steps[0])}%" if steps and steps[0] and index else ""
        draw.text((left + width + 8, y + 6), f"{value}{share}", fill="black", font=font)
        y += 38
    return y


def _nps_panel(
    draw: ImageDraw.ImageDraw, top: int, title: str, score: int, counts: Sequence[int]
) -> int:
    """The NPS and one stacked bar of promoters, passives and detractors."""
    font, big = _font(16), _font(28)
    draw.text((MARGIN, top), title, fill="black", font=font)
    draw.text((MARGIN, top + 30), f"{score:+d}", fill="black", font=big)
    left, right = MARGIN + 110, STATS_WIDTH - MARGIN
    total = sum(counts)
    x = float(left)
    for count, color in zip(counts, NPS_COLORS, strict=True):
        if not total or not count:
            continue
        width = (right - left) * count / total
        draw.rectangle((x, top + 34, x + width, top + 70), fill=color)
        draw.text((x + 6, top + 43), str(count), fill="black", font=font)
        x += width
    if not total:
        draw.rectangle((left, top + 34, right, top + 70), outline=(174, 174, 178))
    return top + 80


def stats_chart(
    *,
    heading: str,
    days: Sequence[tuple[str, int, int]],
    scale: int,
    currency: str,
    funnel: Sequence[int],
    nps: int,
    nps_counts: Sequence[int],
    titles: Sequence[str] = (),
) -> bytes:
    """GMV and orders per day (A), the funnel (B) and NPS (C) in one PNG.

    `days` holds (label, orders, GMV in minor units); `scale` is 10**digits of the currency.
    `titles` (the three panels' names in the reader's language) are drawn after the letters
    only when a CJK font is installed; without one the image keeps to latin text.
    """
    named = list(titles) if len(titles) == 3 and has_cjk_font() else ["", "", ""]
    gmv_title = f"A  {named[0] or currency}"
    funnel_title = f"B  {named[1]}".rstrip()
    nps_title = f"C  {named[2] or 'NPS'}"
    height = 2 * MARGIN + 40 + 320 + PANEL_GAP + 32 + 38 * len(funnel) + PANEL_GAP + 80
    image = Image.new("RGB", (STATS_WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN), heading, fill="black", font=_font(20))
    bottom = _daily_panel(draw, MARGIN + 40, gmv_title, days, scale)
    bottom = _funnel_panel(draw, bottom + PANEL_GAP, funnel_title, funnel)
    _nps_panel(draw, bottom + PANEL_GAP, nps_title, nps, nps_counts)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# ---------------------------------------------------------------- line panels ----
# One small line chart per number, each on its own scale, stacked: the weekly digest's chart.

PANEL_HEIGHT = 150
# characters only a CJK font draws (ideographs, kana, hangul, full-width forms)
_CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
LINE_COLOR = (52, 120, 246)


def line_panels(
    heading: str,
    labels: Sequence[str],
    panels: Sequence[tuple[str, Sequence[float | None], Sequence[str]]],
) -> bytes:
    """Stacked line charts over the same points (`labels`, e.g. weeks): each panel is
    (title, values, value texts), drawn on its own scale from zero, numbered 1..n; a missing
    value breaks the line. Words (the heading, the titles) are drawn when a CJK font is
    installed or they are plain latin text; otherwise the panels keep their numbers only and
    the caption names them."""
    font, small = _font(16), _font(12)

    def drawable(text: str) -> bool:
        return has_cjk_font() or not _CJK.search(text)

    if not drawable(heading):
        heading = " ".join(word for word in heading.split() if drawable(word))
    height = MARGIN * 2 + 40 + len(panels) * (PANEL_HEIGHT + PANEL_GAP)
    image = Image.new("RGB", (STATS_WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (MARGIN, MARGIN),
        _fit(draw, heading, _font(20), STATS_WIDTH - 2 * MARGIN),
        fill="black",
        font=_font(20),
    )
    left, right = MARGIN + 20, STATS_WIDTH - MARGIN - 90
    slot = (right - left) / max(1, len(labels) - 1)
    for index, (title, values, texts) in enumerate(panels):
        top = MARGIN + 40 + index * (PANEL_HEIGHT + PANEL_GAP)
        name = f"{index + 1}  {title}" if title and drawable(title) else str(index + 1)
        draw.text((MARGIN, top), _fit(draw, name, font, right - MARGIN), fill="black", font=font)
        plot_top, plot_bottom = top + 28, top + PANEL_HEIGHT - 22
        draw.line((left, plot_bottom, right, plot_bottom), fill=(200, 200, 200))
        known = [v for v in values if v is not None]
        low = min(0.0, *known) if known else 0.0
        high = max(known) if known else 1.0
        span = (high - low) or 1.0
        points: list[tuple[float, float] | None] = []
        for at, value in enumerate(values):
            if value is None:
                points.append(None)
                continue
            y = plot_bottom - (plot_bottom - plot_top) * (value - low) / span
            points.append((left + at * slot, y))
        run: list[tuple[float, float]] = []
        for point in [*points, None]:
            if point is None:
                if len(run) > 1:
                    draw.line(run, fill=LINE_COLOR, width=3)
                run = []
                continue
            run.append(point)
        for at, point in enumerate(points):
            if point is None:
                continue
            x, y = point
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=LINE_COLOR)
            if at == len(points) - 1 and at < len(texts):
                draw.text((x + 10, y - 9), texts[at], fill="black", font=font)
            elif at < len(texts) and drawable(texts[at]):
                draw.text((x - 12, y - 22), texts[at], fill=(90, 90, 90), font=small)
        every = max(1, round(len(labels) / 8))
        for at, label in enumerate(labels):
            if at % every == 0 or at == len(labels) - 1:
                x = left + at * slot
                draw.text((x - 16, plot_bottom + 4), label, fill=(90, 90, 90), font=small)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
