"""Chart images with Chinese labels: with a CJK font installed (fonts-noto-cjk; CI sets
TEST_REQUIRE_CJK_FONT=1 and fails without one), the labels are drawn as real glyphs, not blank
and not the same tofu box for every character."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageChops

from handlers.views.chart import (
    LABEL_WIDTH,
    MARGIN,
    bar_chart,
    has_cjk_font,
    line_panels,
    stats_chart,
)


@pytest.fixture(autouse=True)
def cjk_font() -> None:
    if has_cjk_font():
        return
    if os.environ.get("TEST_REQUIRE_CJK_FONT") == "1":
        pytest.fail("no CJK font found: install fonts-noto-cjk (see .ci/run and the Dockerfile)")
    pytest.skip("no CJK font on this host (CI installs fonts-noto-cjk and requires it)")


def label_area(png: bytes, row: int) -> Image.Image:
    """The label column of one bar's row, in grey."""
    image = Image.open(io.BytesIO(png)).convert("L")
    top = MARGIN + 40 + row * (34 + 14)
    return image.crop((MARGIN, top, MARGIN + LABEL_WIDTH - 10, top + 34))


def ink(image: Image.Image) -> int:
    """How many pixels are drawn (darker than near-white)."""
    return sum(image.histogram()[:200])


def chart_with(label: str) -> bytes:
    return bar_chart("销量", [label], [("", [5])], notes=[["5"]])


def test_chinese_labels_are_drawn_as_glyphs() -> None:
    # given a chart whose bars are labelled in Chinese
    png = bar_chart("每周销量", ["乌龙茶", "咖啡豆"], [("", [3, 5])], notes=[["3", "5"]])
    # then each label's area holds ink
    first, second = label_area(png, 0), label_area(png, 1)
    assert ink(first) > 40 and ink(second) > 40
    # and different words look different (a font without CJK draws the same box for each)
    assert ImageChops.difference(first, second).getbbox() is not None
    one, other = label_area(chart_with("中"), 0), label_area(chart_with("国"), 0)
    assert ink(one) > 10 and ImageChops.difference(one, other).getbbox() is not None


def test_the_stats_chart_names_its_panels_in_chinese() -> None:
    def draw(titles: tuple[str, ...]) -> Image.Image:
        png = stats_chart(
            heading="2026-11-01 .. 2026-11-07",
            days=[("11-01", 1, 100)],
            scale=100,
            currency="CNY",
            funnel=[3, 2, 1, 1],
            nps=10,
            nps_counts=[2, 1, 1],
            titles=titles,
        )
        image = Image.open(io.BytesIO(png)).convert("L")
        return image.crop((MARGIN, MARGIN + 40, MARGIN + 400, MARGIN + 62))  # panel A's title

    named, bare = draw(("每日成交额（CNY）", "转化漏斗", "净推荐值")), draw(())
    assert ink(named) > ink(bare) > 0


def test_the_digest_chart_names_its_lines_in_chinese() -> None:
    def title(names: tuple[str, str]) -> Image.Image:
        png = line_panels(
            "每周摘要 2026-11-30 – 2026-12-06",
            ["11-23", "11-30"],
            [(names[0], [40.0, 83.3], ["40%", "83.3%"]), (names[1], [0, 1], ["0", "1"])],
        )
        image = Image.open(io.BytesIO(png)).convert("L")
        return image.crop((MARGIN, MARGIN + 40, MARGIN + 300, MARGIN + 62))  # line 1's title

    named, other, bare = title(("活跃率", "新成员")), title(("复购率", "新成员")), title(("", ""))
    assert ink(named) > ink(bare) > 0
    assert ImageChops.difference(named, other).getbbox() is not None
