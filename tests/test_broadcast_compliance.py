"""The compliance lint: absolute claims per locale with their spans, and incomplete drops."""

from __future__ import annotations

from services.compliance import (
    ABSOLUTE_CLAIM,
    MISSING_DEADLINE,
    MISSING_PRICE,
    highlight,
    lint,
    plain_text,
)


def claims(text: str, **kwargs: object) -> list[str]:
    return [f.word for f in lint(text, **kwargs) if f.kind == ABSOLUTE_CLAIM]  # type: ignore[arg-type]


def test_absolute_claims_in_every_locale_are_found_with_their_spans() -> None:
    text = "全网最低！国家级工艺，第一品牌 — the <b>best</b> tea, No.1 in town, 100% natural"
    findings = [f for f in lint(text) if f.kind == ABSOLUTE_CLAIM]
    assert [f.word for f in findings] == ["全网最低", "国家级", "第一", "best", "No.1", "100%"]
    plain = plain_text(text)
    assert all(plain[f.start : f.end] == f.word for f in findings)


def test_traditional_chinese_and_case_are_covered() -> None:
    assert claims("國家級認證，BEST choice") == ["國家級", "BEST"]


def test_words_inside_other_words_are_not_claims() -> None:
    assert claims("bestow the bestseller a number oneself") == []


def test_extra_words_come_from_the_settings() -> None:
    assert claims("顶级 and 神器", extra_words=["神器"]) == ["顶级", "神器"]


def test_a_drop_without_price_or_deadline_is_flagged() -> None:
    kinds = [f.kind for f in lint("New oolong tea is here!", drop=True)]
    assert kinds == [MISSING_PRICE, MISSING_DEADLINE]
    assert lint("New oolong: ¥39.90 until Sunday 20:00", drop=True) == []
    assert lint("新品乌龙茶 39.9元，今晚截止", drop=True) == []
    assert lint("New oolong tea is here!") == []  # not a drop: nothing to miss


def test_the_preview_highlights_each_claim_and_escapes_the_rest() -> None:
    text = "The <i>best</i> tea & 最好的 cup"
    shown = highlight(text, lint(text))
    assert shown == "The <u><b>best</b></u> tea &amp; <u><b>最</b></u>好的 cup"
