"""Member care rules carried out: what the rules staff set for a segment give a member who
enters it (points, a coupon, staff's words through the outbox), with the member's A/B arm
recorded; and the week's warning before points expire, claimed once.

The scheduled job (bot/care.py) decides when and tells the member; these verbs run inside its
transaction and return what was given, for it to put into words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.broadcast import VARIANT_B, VARIANT_HOLDOUT
from models.points import PointsDay
from services.abtest import arm_for
from services.attribution import record_exposure
from services.broadcast import add_care_recipient, care_broadcast
from services.coupons import CouponError, grant
from services.db import upsert
from services.member import MemberView, get_member
from services.pacing import PacingRules
from services.points import REASON_CARE, award, points_flow
from services.segments import RuleView, Transition, rules_for
from services.zones import private_zone

log = logging.getLogger(__name__)
EXPIRY_WARNING = "expiry_warning"  # a PointsDay reason marking the day a warning went out


@dataclass(frozen=True, slots=True)
class CareOutcome:
    """The member the rules were carried out for (None: unknown) and what each rule gave."""

    member: MemberView | None
    given: list[CareGiven]


@dataclass(frozen=True, slots=True)
class CareGiven:
    """What one care rule gave a member: points (0 for none) and whether a coupon."""

    rule_id: int
    points: int
    coupon: bool


async def carry_out_care(
    session: AsyncSession,
    *,
    moved: Transition,
    now: datetime,
    default_timezone: str,
    pacing: PacingRules,
) -> CareOutcome | None:
    """Give what the care rules for this transition say, once per transition (the keys name
    it); None when no rule matches. A member held out of a rule's A/B test gets nothing from
    it and is recorded, to measure what the rule wins back."""
    rules = await rules_for(session, moved)
    if not rules:
        return None
    member = await get_member(session, moved.member_id)
    stamp = f"{moved.member_id}:{moved.after}:{now.date().isoformat()}"
    given: list[CareGiven] = []
    for rule in rules:
        # the member's arm is stable (a hash of the rule and the member)
        arm = arm_for(
            f"care:{rule.id}",
            moved.member_id,
            holdout_pct=rule.holdout_pct,
            variants=2 if rule.text_b else 1,
        )
        points, coupon_id = 0, None
        if arm != VARIANT_HOLDOUT:
            points, coupon_id = await _give(
                session, rule, moved, member, arm, stamp, now, default_timezone, pacing
            )
        await record_exposure(
            session,
            rule_id=rule.id,
            member_id=moved.member_id,
            arm=arm,
            at=now,
            key=f"{rule.id}:{stamp}",
            points=points,
            coupon_id=coupon_id,
        )
        given.append(CareGiven(rule_id=rule.id, points=points, coupon=coupon_id is not None))
    return CareOutcome(member=member, given=given)


async def _give(
    session: AsyncSession,
    rule: RuleView,
    moved: Transition,
    member: MemberView | None,
    arm: str,
    stamp: str,
    now: datetime,
    default_timezone: str,
    pacing: PacingRules,
) -> tuple[int, int | None]:
    """What one rule gives the member in their arm: the points and the coupon given."""
    points = 0
    coupon_id: int | None = None
    if rule.points:
        granted = await award(
            session,
            member_id=moved.member_id,
            reason=REASON_CARE,
            points=rule.points,
            key=f"care:{rule.id}:{stamp}",
            day=now.date(),
            memo=f"care rule #{rule.id}",
            at=now,
        )
        points = granted.points
    if rule.coupon_template_id is not None:
        try:
            coupon = await grant(
                session,
                template_id=rule.coupon_template_id,
                member_id=moved.member_id,
                source=f"care:{rule.id}:{stamp}"[:64],
                now=now,
            )
            coupon_id = coupon.id
        except CouponError as exc:
            log.info("care rule %s: no coupon for %s (%s)", rule.id, moved.member_id, exc)
    text = rule.text_b if arm == VARIANT_B and rule.text_b else rule.text
    if text and member is not None:
        # staff's words go through the outbox: consent, caps and quiet hours hold
        broadcast_id = await care_broadcast(
            session, rule_id=rule.id, text=escape(text, quote=False), now=now
        )
        await add_care_recipient(
            session,
            broadcast_id=broadcast_id,
            member_id=moved.member_id,
            timezone=await private_zone(
                session, member_id=moved.member_id, own=member.timezone, default=default_timezone
            ),
            now=now,
            rules=pacing,
            variant=arm if rule.holdout_pct or rule.text_b else None,
        )
    return points, coupon_id


async def expiring_within_week(session: AsyncSession, *, member_id: int, cutoff: datetime) -> int:
    """The member's points that expire within a week of a run that expires those earned
    before `cutoff`."""
    earned, spent = await points_flow(
        session, member_id=member_id, earned_before=cutoff + timedelta(days=7)
    )
    return max(0, earned - spent)


async def claim_expiry_warning(
    session: AsyncSession, *, member_id: int, today: date, points: int
) -> bool:
    """Record today's warning that points expire soon; False when one went out in the last
    seven days."""
    recent = (
        await session.execute(
            select(col(PointsDay.day)).where(
                col(PointsDay.member_id) == member_id,
                col(PointsDay.reason) == EXPIRY_WARNING,
            )
        )
    ).scalars()
    if any(0 <= today.toordinal() - day.toordinal() < 7 for day in recent):
        return False
    await session.execute(
        upsert(
            session,
            PointsDay,
            {"member_id": member_id, "reason": EXPIRY_WARNING, "day": today, "total": points},
            keys=["member_id", "reason", "day"],
        )
    )
    return True
