"""Member segments (services/segments.py): which segment a member is in, by how recently and
how often they order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.segments import SegmentRules, segment_for


def test_segments_follow_recency_and_frequency() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    rules = SegmentRules()

    def seg(joined_days: int, last_paid_days: int | None, recent: int = 1) -> str:
        last = None if last_paid_days is None else now - timedelta(days=last_paid_days)
        return segment_for(
            joined_at=now - timedelta(days=joined_days),
            last_paid_at=last,
            paid_in_window=recent,
            now=now,
            rules=rules,
        )

    assert seg(3, None) == "new"
    assert seg(30, None) == "at_risk"
    assert seg(200, None) == "churned"
    assert seg(400, 10) == "active"
    assert seg(400, 10, recent=3) == "loyal"
    assert seg(400, 90, recent=3) == "at_risk"
    assert seg(400, 121) == "churned"
