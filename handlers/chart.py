"""Bar charts as PNG images, drawn server-side with Pillow (no network, no plotting stack).

Text in the image is drawn with the first of CHART_FONTS found (a Noto Sans CJK or WenQuanYi
install, say), then DejaVu Sans, then Pillow's built-in font, which has no CJK glyphs. So a chart
that must read right on any host keeps its image text to digits and signs (numbered rows, counts,
percentages) and puts words, which may be Chinese, in the message beside it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CHART_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
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
