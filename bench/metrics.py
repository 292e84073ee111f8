"""Benchmark: the dashboard's Metrics page (services.metrics.metrics_report) on a brand of 100
groups and 50,000 members with two years of orders. Prints one JSON line.

    python bench/metrics.py                # full: 100 groups, 50,000 members, 2 years
    python bench/metrics.py --quick        # CI: 10 groups, 3,000 members, 2 years
    python bench/metrics.py --backend postgresql \\
        --database postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/metrics.py --backend postgresql \\
        --store postgresql+asyncpg://postgres@127.0.0.1:5432/metrics   # seed once, then reuse

The store is seeded with bulk inserts from a fixed random seed: members seen in one group
(one in ten in a second, one in ten gone again), a third of them invited by an earlier member,
about four paid orders a member over the two years (a coupon on some), daily check-ins, poll
ballots and suggestions. Then the page's report is built as the dashboard builds it (12 weeks,
cohorts, co-creators): for the whole brand, for one group and for a leader's five groups, each
timed after one warm-up. `--check` exits 1 unless every page takes under 2 s and the figures
are sane (an active rate between 0 and 1 in the last full week). On PostgreSQL the seeded
tables are analyzed first, as autovacuum does after a bulk load; without statistics the planner
nests loops and the pages take many times longer.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bench.common import scratch_store, store_parser
from bot.config import Settings
from bot.db import create_engine, create_session_factory
from bot.migrate import upgrade
from models.community import Community, CommunityMember
from models.coupons import CouponTemplate, MemberCoupon
from models.loyalty import CheckIn
from models.member import Member
from models.order import ORDER_PAID, Order, OrderEvent
from models.poll import Poll, PollBallot
from models.referral import REFERRAL_PENDING, REFERRAL_REWARDED, Referral, ReferralCode
from models.suggestion import Suggestion
from models.tiers import MemberTier
from services.metrics import Slice, metrics_report

BATCH = 5_000
END = datetime(2026, 11, 30, 12, tzinfo=UTC)
START = END - timedelta(days=730)
BUDGET_S = 2.0


def _group(n: int) -> int:
    return -1_001_000_000_000 - n


async def _insert(sessions: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for first in range(0, len(rows), BATCH):
        async with sessions() as session, session.begin():
            await session.execute(insert(model), rows[first : first + BATCH])


def _at(rng: random.Random, after: datetime) -> datetime:
    span = (END - after).total_seconds()
    return after + timedelta(seconds=rng.random() * span)


async def seed(sessions: Any, groups: int, members: int) -> dict[str, int]:
    rng = random.Random(26)
    await _insert(
        sessions,
        Community,
        [{"id": _group(g), "title": f"group {g}", "approval": "approved"} for g in range(groups)],
    )
    joined = {
        m: START + timedelta(seconds=rng.random() * 730 * 86400) for m in range(1, members + 1)
    }
    await _insert(
        sessions,
        Member,
        [{"id": m, "first_name": f"m{m}", "created_at": at} for m, at in joined.items()],
    )
    home = {m: rng.randrange(groups) for m in joined}
    seen = []
    for m, at in joined.items():
        places = {home[m]} | ({rng.randrange(groups)} if rng.random() < 0.1 else set())
        for g in places:
            left = _at(rng, at) if rng.random() < 0.1 else None
            seen.append(
                {
                    "community_id": _group(g),
                    "member_id": m,
                    "first_seen_at": at,
                    "last_seen_at": left or at,
                    "left_at": left,
                }
            )
    await _insert(sessions, CommunityMember, seen)
    await _insert(
        sessions, ReferralCode, [{"id": m, "code": f"c{m}", "member_id": m} for m in joined]
    )
    order_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    coupon_rows: list[dict[str, Any]] = []
    await _insert(
        sessions,
        CouponTemplate,
        [
            {
                "id": 1,
                "code": "BENCH",
                "kind": "fixed",
                "value": 500,
                "currency": "CNY",
                "created_by": 1,
            }
        ],
    )
    order_id = 0
    for m, at in joined.items():
        for _n in range(rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8))):
            order_id += 1
            paid_at = _at(rng, at)
            amount = rng.randrange(1_000, 20_000)
            coupon = None
            if rng.random() < 0.1:
                coupon = len(coupon_rows) + 1
                coupon_rows.append(
                    {
                        "id": coupon,
                        "template_id": 1,
                        "member_id": m,
                        "status": "used",
                        "order_id": order_id,
                        "source": f"bench:{order_id}",
                        "granted_at": at + (paid_at - at) / 2,
                        "used_at": paid_at,
                    }
                )
            order_rows.append(
                {
                    "id": order_id,
                    "member_id": m,
                    "chat_id": _group(home[m]),
                    "title": "tea",
                    "quantity": 1,
                    "unit_price": amount,
                    "currency": "CNY",
                    "payment_mode": "offline",
                    "status": ORDER_PAID,
                    "paid_amount": amount,
                    "discount": 500 if coupon else 0,
                    "coupon_id": coupon,
                    "created_at": paid_at,
                    "updated_at": paid_at,
                }
            )
            event_rows.append({"order_id": order_id, "to_status": ORDER_PAID, "at": paid_at})
        if rng.random() < 0.05:
            coupon_rows.append(
                {
                    "id": len(coupon_rows) + 1,
                    "template_id": 1,
                    "member_id": m,
                    "status": "held",
                    "source": "bench:held",
                    "granted_at": _at(rng, at),
                }
            )
    await _insert(sessions, MemberCoupon, coupon_rows)
    await _insert(sessions, Order, order_rows)
    await _insert(sessions, OrderEvent, event_rows)
    referrals = []
    for m, at in joined.items():
        if m > 1 and rng.random() < 0.33:
            referrer = rng.randrange(1, m)
            qualified = rng.random() < 0.6
            referrals.append(
                {
                    "invitee_id": m,
                    "referrer_id": referrer,
                    "code_id": referrer,
                    "status": REFERRAL_REWARDED if qualified else REFERRAL_PENDING,
                    "qualified_at": _at(rng, at) if qualified else None,
                    "created_at": at,
                }
            )
    await _insert(sessions, Referral, referrals)
    await _insert(
        sessions,
        MemberTier,
        [{"member_id": m, "rank": rng.choice((1, 2, 3))} for m in joined if rng.random() < 0.3],
    )
    checkins: dict[tuple[int, Any], dict[str, Any]] = {}
    for m, at in joined.items():
        for _n in range(rng.randrange(0, 6)):
            day = _at(rng, at)
            checkins[(m, day.date())] = {
                "member_id": m,
                "day": day.date(),
                "chat_id": _group(home[m]),
                "created_at": day,
            }
    await _insert(sessions, CheckIn, list(checkins.values()))
    polls = 100
    await _insert(
        sessions,
        Poll,
        [
            {
                "id": p + 1,
                "question": f"poll {p}",
                "option_count": 2,
                "closes_at": START + timedelta(days=7 * p + 7),
                "created_by": 1,
                "created_at": START + timedelta(days=7 * p),
            }
            for p in range(polls)
        ],
    )
    ballots: dict[tuple[int, int], dict[str, Any]] = {}
    for m, at in joined.items():
        if rng.random() < 0.3:
            for _n in range(rng.randrange(1, 4)):
                voted = _at(rng, at)
                poll = min(polls, max(1, (voted - START).days // 7 + 1))
                ballots[(poll, m)] = {
                    "poll_id": poll,
                    "member_id": m,
                    "chat_id": _group(home[m]),
                    "options": 1,
                    "updated_at": voted,
                }
    await _insert(sessions, PollBallot, list(ballots.values()))
    await _insert(
        sessions,
        Suggestion,
        [
            {
                "member_id": m,
                "community_id": _group(home[m]),
                "text": "more oolong",
                "created_at": _at(rng, at),
            }
            for m, at in joined.items()
            if rng.random() < 0.1
        ],
    )
    return {
        "orders": len(order_rows),
        "checkins": len(checkins),
        "ballots": len(ballots),
        "referrals": len(referrals),
        "coupons": len(coupon_rows),
    }


async def page_seconds(sessions: Any, part: Slice) -> tuple[float, Any]:
    """Seconds to build one Metrics page's report (after a warm-up run), and the report."""

    async def build() -> Any:
        async with sessions() as session:
            return await metrics_report(
                session, now=END, timezone="Asia/Shanghai", currency="CNY", part=part
            )

    await build()
    started = time.perf_counter()
    report = await build()
    return time.perf_counter() - started, report


@asynccontextmanager
async def _store(args: Any) -> AsyncIterator[str]:
    """The scratch store, or the kept one `--store` names (an existing, empty or seeded one)."""
    if args.store:
        yield args.store
        return
    async with scratch_store(args.backend, args.database, "metrics") as url:
        yield url


async def _seeded(sessions: Any) -> dict[str, int] | None:
    """The counts of a store seeded before (`--store`), or None when it is empty."""
    async with sessions() as session:
        if not (await session.execute(text("SELECT count(*) FROM member"))).scalar_one():
            return None
        counts = {}
        for name, table in COUNTED.items():
            counts[name] = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
        return counts


COUNTED = {
    "orders": "orders",
    "checkins": "checkin",
    "ballots": "poll_ballot",
    "referrals": "referral",
    "coupons": "member_coupon",
}


async def run(args: Any) -> dict[str, Any]:
    groups, members = (10, 3_000) if args.quick else (100, 50_000)
    async with _store(args) as url:
        engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        try:
            await upgrade(engine)
            sessions = create_session_factory(engine)
            started = time.perf_counter()
            counts = await _seeded(sessions) if args.store else None
            if counts is None:
                counts = await seed(sessions, groups, members)
                if engine.dialect.name == "postgresql":  # as autovacuum would after a bulk load
                    async with engine.begin() as connection:
                        await connection.execute(text("ANALYZE"))
            seeding = time.perf_counter() - started
            brand_s, brand = await page_seconds(sessions, Slice())
            group_s, _group_report = await page_seconds(sessions, Slice(frozenset({_group(0)})))
            leader = frozenset(_group(g) for g in range(min(5, groups)))
            leader_s, _leader_report = await page_seconds(sessions, Slice(leader))
        finally:
            await engine.dispose()
    last_full = brand.weeks[-2]
    return {
        "bench": "metrics",
        "backend": args.backend,
        "groups": groups,
        "members": members,
        **counts,
        "seed_s": round(seeding, 1),
        "brand_page_s": round(brand_s, 3),
        "group_page_s": round(group_s, 3),
        "leader_page_s": round(leader_s, 3),
        "active_bps_last_week": last_full.active.bps,
        "members_last_week": last_full.members,
    }


def main(argv: list[str]) -> None:
    parser = store_parser(__doc__)
    parser.add_argument(
        "--store",
        help="a kept database URL: seeded on the first run, reused (not seeded again) after",
    )
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 unless every page takes under {BUDGET_S} s"
    )
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(json.dumps(figures))
    slowest = max(figures["brand_page_s"], figures["group_page_s"], figures["leader_page_s"])
    active = figures["active_bps_last_week"]
    if args.check and (slowest >= BUDGET_S or active is None or not 0 < active <= 10_000):
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
