"""Alerts: staff set a threshold on a number of the brand or of one group (`active_rate < 40%`,
`nps < 0`, `refund_rate > 5% -100123`), a job reads the numbers, and a crossed threshold tells
staff at most once a day per alert (the alert's `fired_on` claimed by a conditional UPDATE).

What each number is:
- active_rate, fission_rate, repurchase_rate: the last full local week's rate
  (services/metrics/), so a Monday's half-empty week never rings;
- nps: the NPS of the answers of the last 30 days;
- refund_rate: of the orders paid in the last 30 days, the share refunded since (wholly or in
  part).
Rates are kept in basis points (4000 = 40%), NPS as its score (-100..100).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.alerts import (
    ALERT_ABOVE,
    ALERT_ACTIVE,
    ALERT_BELOW,
    ALERT_FISSION,
    ALERT_NPS,
    ALERT_REFUNDS,
    ALERT_REPURCHASE,
    Alert,
)
from models.community import Community
from models.order import ORDER_PAID, Order, OrderEvent
from services.analytics import Ratio, Scope
from services.audit import record_action
from services.db import insert_for, rowcount, table_of
from services.errors import Refused
from services.metrics import Slice, metrics_report
from services.nps import nps_report
from services.parsing import normalize

METRICS = (ALERT_ACTIVE, ALERT_FISSION, ALERT_REPURCHASE, ALERT_NPS, ALERT_REFUNDS)
RATES = frozenset({ALERT_ACTIVE, ALERT_FISSION, ALERT_REPURCHASE, ALERT_REFUNDS})
LOOKBACK_DAYS = 30  # the window of nps and refund_rate
MAX_ALERTS = 50

# what staff may type for each number, in English and Chinese (compared in lower case)
METRIC_NAMES: dict[str, str] = {
    "active_rate": ALERT_ACTIVE,
    "active": ALERT_ACTIVE,
    "活跃率": ALERT_ACTIVE,
    "活躍率": ALERT_ACTIVE,
    "fission_rate": ALERT_FISSION,
    "fission": ALERT_FISSION,
    "裂变率": ALERT_FISSION,
    "裂變率": ALERT_FISSION,
    "repurchase_rate": ALERT_REPURCHASE,
    "repurchase": ALERT_REPURCHASE,
    "复购率": ALERT_REPURCHASE,
    "回购率": ALERT_REPURCHASE,
    "回購率": ALERT_REPURCHASE,
    "復購率": ALERT_REPURCHASE,
    "nps": ALERT_NPS,
    "净推荐值": ALERT_NPS,
    "淨推薦值": ALERT_NPS,
    "refund_rate": ALERT_REFUNDS,
    "refunds": ALERT_REFUNDS,
    "退款率": ALERT_REFUNDS,
}
OPERATORS: dict[str, str] = {
    "<": ALERT_BELOW,
    ">": ALERT_ABOVE,
    "below": ALERT_BELOW,
    "above": ALERT_ABOVE,
    "低于": ALERT_BELOW,
    "低於": ALERT_BELOW,
    "小于": ALERT_BELOW,
    "小於": ALERT_BELOW,
    "高于": ALERT_ABOVE,
    "高於": ALERT_ABOVE,
    "大于": ALERT_ABOVE,
    "大於": ALERT_ABOVE,
}
_RULE = re.compile(
    r"^(?P<metric>[^\s<>]+?)\s*(?P<op><|>|below|above|低于|低於|小于|小於|高于|高於|大于|大於)\s*"
    r"(?P<value>[-+]?[0-9]+(?:\.[0-9]+)?)\s*(?P<percent>%)?(?:\s+(?P<group>-[0-9]+))?$",
    re.IGNORECASE,
)


class AlertError(Refused):
    """An alert that cannot be set; `reason` a stable code handlers translate, `detail` what
    the reader typed at that point."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)  # the message is the reason alone, without what was typed
        self.detail = detail


class AlertRefusal(StrEnum):
    """The reasons an AlertError gives (its `reason`); the handlers map each to a message."""

    USAGE = "usage"
    METRIC = "metric"
    VALUE = "value"
    RATE = "rate"
    NPS = "nps"
    GROUP = "group"
    TOO_MANY = "too_many"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class AlertRule:
    metric: str
    op: str
    threshold: int  # basis points for a rate, the score for NPS
    community_id: int | None


@dataclass(frozen=True, slots=True)
class AlertView:
    id: int
    metric: str
    op: str
    threshold: int
    community_id: int | None
    title: str  # the group's title ("" for the whole brand)
    fired_on: date | None
    fired_value: int | None


def parse_rule(text: str) -> AlertRule:
    """`METRIC OP VALUE [GROUP]` as staff type it, e.g. `active_rate < 40%`, `nps < 0`,
    `退款率 > 5% -1001234567890`; raises AlertError naming what could not be read."""
    typed = normalize(text)
    if not typed:
        raise AlertError(AlertRefusal.USAGE)
    found = _RULE.match(typed)
    if found is None:
        word = typed.split()[0]
        if word.lower() not in METRIC_NAMES and not re.match(r"^[^\s<>]+?\s*[<>]", typed):
            raise AlertError(AlertRefusal.METRIC, word)
        raise AlertError(AlertRefusal.USAGE)
    metric = METRIC_NAMES.get(found["metric"].lower())
    if metric is None:
        raise AlertError(AlertRefusal.METRIC, found["metric"])
    op = OPERATORS[found["op"].lower()]
    try:
        value = Decimal(found["value"])
    except InvalidOperation as exc:  # the pattern admits only numbers; kept for the types
        raise AlertError(AlertRefusal.VALUE, found["value"]) from exc
    if metric in RATES:
        if not 0 <= value <= 100:
            raise AlertError(AlertRefusal.RATE, found["value"])
        threshold = int((value * 100).to_integral_value())
    else:
        if found["percent"] or not -100 <= value <= 100 or value != value.to_integral_value():
            raise AlertError(AlertRefusal.NPS, found["value"] + (found["percent"] or ""))
        threshold = int(value)
    group = int(found["group"]) if found["group"] else None
    return AlertRule(metric, op, threshold, group)


def _view(row: Alert, title: str) -> AlertView:
    assert row.id is not None
    return AlertView(
        row.id,
        row.metric,
        row.op,
        row.threshold,
        row.community_id,
        title,
        row.fired_on,
        row.fired_value,
    )


async def add_alert(
    session: AsyncSession, *, rule: AlertRule, actor_id: int, now: datetime
) -> AlertView:
    """Set an alert (audited); raises AlertError for an unknown group, a duplicate, too many."""
    title = ""
    if rule.community_id is not None:
        group = await session.get(Community, rule.community_id)
        if group is None:
            raise AlertError(AlertRefusal.GROUP, str(rule.community_id))
        title = group.title or ""
    count = (await session.execute(select(func.count()).select_from(Alert))).scalar_one()
    if count >= MAX_ALERTS:
        raise AlertError(AlertRefusal.TOO_MANY, str(MAX_ALERTS))
    values = {
        "metric": rule.metric,
        "op": rule.op,
        "threshold": rule.threshold,
        "community_id": rule.community_id,
        "created_by": actor_id,
        "created_at": now,
    }
    # the rule's unique index decides a duplicate (two staff setting it at once included)
    inserted = await session.execute(
        insert_for(session, table_of(Alert)).values(**values).on_conflict_do_nothing()
    )
    if not rowcount(inserted):
        raise AlertError(AlertRefusal.DUPLICATE)
    group_key = func.coalesce(col(Alert.community_id), 0)
    alert_id = (
        await session.execute(
            select(col(Alert.id)).where(
                col(Alert.metric) == rule.metric,
                col(Alert.op) == rule.op,
                col(Alert.threshold) == rule.threshold,
                group_key == (rule.community_id or 0),
            )
        )
    ).scalar_one()
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=None,
        action="alert.added",
        allowed=True,
        now=now,
        detail=f"#{alert_id} {rule.metric} {rule.op} {rule.threshold}",
    )
    row = await session.get(Alert, alert_id)
    assert row is not None
    return _view(row, title)


async def list_alerts(session: AsyncSession) -> list[AlertView]:
    """Every alert, oldest first, with its group's title."""
    rows = await session.execute(
        select(Alert, Community.title)
        .outerjoin(Community, col(Community.id) == col(Alert.community_id))
        .order_by(col(Alert.id))
        .execution_options(populate_existing=True)
    )
    return [_view(alert, title or "") for alert, title in rows.all()]


async def remove_alert(
    session: AsyncSession, *, alert_id: int, actor_id: int, now: datetime
) -> bool:
    """Remove an alert (audited); False when there is none with that number."""
    result = await session.execute(delete(Alert).where(col(Alert.id) == alert_id))
    removed = bool(rowcount(result))
    if removed:
        await record_action(
            session,
            actor_id=actor_id,
            chat_id=None,
            action="alert.removed",
            allowed=True,
            now=now,
            detail=f"#{alert_id}",
        )
    return removed


def crossed(op: str, value: int, threshold: int) -> bool:
    return value < threshold if op == ALERT_BELOW else value > threshold


def local_day(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


class Readings:
    """The numbers of one check, each read once however many alerts watch it."""

    def __init__(self, *, now: datetime, timezone: str, currency: str) -> None:
        self.now = now
        self.timezone = timezone
        self.currency = currency
        self._weekly: dict[Scope, tuple[Ratio, Ratio, Ratio]] = {}
        self._nps: dict[int | None, int | None] | None = None

    async def value(
        self, session: AsyncSession, metric: str, community_id: int | None
    ) -> int | None:
        """The number as the alert compares it (None: nothing to measure yet)."""
        scope: Scope = None if community_id is None else frozenset({community_id})
        if metric == ALERT_NPS:
            return (await self._scores(session)).get(community_id)
        if metric == ALERT_REFUNDS:
            return (await refund_rate(session, scope=scope, now=self.now)).bps
        if scope not in self._weekly:
            self._weekly[scope] = await self._last_week(session, scope)
        active, fission, repurchase = self._weekly[scope]
        ratio = {ALERT_ACTIVE: active, ALERT_FISSION: fission, ALERT_REPURCHASE: repurchase}[metric]
        return ratio.bps

    async def _last_week(self, session: AsyncSession, scope: Scope) -> tuple[Ratio, Ratio, Ratio]:
        local = self.now.astimezone(ZoneInfo(self.timezone))
        monday = local.date() - timedelta(days=local.weekday())
        start = datetime.combine(monday, time.min, ZoneInfo(self.timezone))
        report = await metrics_report(
            session,
            now=start - timedelta(microseconds=1),
            timezone=self.timezone,
            currency=self.currency,
            part=Slice(scope=scope),
            weeks=1,
        )
        week = report.weeks[-1]
        return week.active, week.fission, week.repurchase

    async def _scores(self, session: AsyncSession) -> dict[int | None, int | None]:
        if self._nps is None:
            report = await nps_report(
                session, since=self.now - timedelta(days=LOOKBACK_DAYS), until=self.now, comments=0
            )
            scores: dict[int | None, int | None] = {
                None: report.overall.score if report.overall.total else None
            }
            for line in report.communities:
                if line.community_id is not None and line.total:
                    scores[line.community_id] = line.score
            self._nps = scores
        return self._nps


async def refund_rate(session: AsyncSession, *, scope: Scope, now: datetime) -> Ratio:
    """Of the orders paid in the last LOOKBACK_DAYS (in the scope's groups), those refunded
    since, wholly or in part."""
    paid = (
        select(col(Order.id), col(Order.refunded_amount))
        .join(OrderEvent, col(OrderEvent.order_id) == col(Order.id))
        .where(
            col(OrderEvent.to_status) == ORDER_PAID,
            col(OrderEvent.at) >= now - timedelta(days=LOOKBACK_DAYS),
            col(OrderEvent.at) < now,
        )
        .distinct()
    )
    if scope is not None:
        paid = paid.where(col(Order.chat_id).in_(sorted(scope)))
    orders = paid.subquery("paid")
    row = (
        await session.execute(
            select(func.count(), func.count().filter(orders.c.refunded_amount > 0)).select_from(
                orders
            )
        )
    ).one()
    return Ratio(int(row[1]), int(row[0]))


async def claim_firing(session: AsyncSession, *, alert_id: int, day: date, value: int) -> bool:
    """Mark the alert fired on `day`; False when it fired that day already (or is gone)."""
    result = await session.execute(
        update(Alert)
        .where(
            col(Alert.id) == alert_id,
            or_(col(Alert.fired_on).is_(None), col(Alert.fired_on) < day),
        )
        .values(fired_on=day, fired_value=value)
    )
    return bool(rowcount(result))
