"""Member care on a schedule: tiers recomputed (with news up and a gentle word before a
drop), birthday gifts, and points expiry with a week's warning.

The word before a drop asks for an order, so it is a promotion: it goes through the outbox as a
private promotion (services.broadcast.selling_reminder), under the same policy as a broadcast.

Every step claims its work in the database (a tier row, a birthday year, an idempotency
key), so a rerun, a restart or a second process does each thing once.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import CommittedNotifier
from bot.periodic import SweepJob
from bot.transactions import unit_of_work
from handlers.views.perks import points_text, tier_amount, tier_name, tier_news
from handlers.views.text import BackgroundSender, counted, sentences
from models.ledger import POINTS
from models.segments import SEGMENT_NEW
from services.broadcast import selling_reminder
from services.care import carry_out_care, claim_expiry_warning, expiring_within_week
from services.loyalty import birthday_gifts, local_day
from services.member import get_member
from services.points import (
    expire_points,
    members_with_points,
)
from services.segments import (
    SegmentRules,
    Transition,
    facts,
    move,
    segment_for,
)
from services.tiers import drop_ahead, members_to_recompute, recompute
from services.zones import private_zone

log = logging.getLogger(__name__)
CARE_JOB = "member-care"


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's end)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass
class CareReport:
    transitions: int = 0
    cared: int = 0  # members who received something from a care rule
    moved_up: int = 0
    warned_drop: int = 0
    birthdays: int = 0
    expired: int = 0
    warned_expiry: int = 0


class MemberCare(SweepJob):
    """Runs the care steps; `run` is the whole job, safe to call as often as wanted."""

    name = CARE_JOB

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[tuple[AsyncSession, BackgroundSender]]:
        """One transaction of care, and the sender as it sees it: what it tells a member goes
        out once the gift or the news it announces has committed (never from inside the
        transaction, and never about a grant a rollback took back)."""
        async with unit_of_work(self.sessions) as unit:
            yield unit.session, CommittedNotifier(self.notifier, unit)

    async def _reachable_locale(self, session: AsyncSession, member_id: int) -> str | None:
        """The member's locale when they can get private messages from the bot."""
        member = await get_member(session, member_id)
        return member.locale if member is not None and member.started else None

    async def run(self) -> CareReport:
        report = CareReport()
        with self.i18n.context():
            await self._tiers(report)
            await self._segments(report)
            await self._birthdays(report)
            if self.settings.points_expiry_months:
                await self._expiry(report)
        return report

    async def _tiers(self, report: CareReport) -> None:
        now = self.clock()
        currency = self.settings.tier_measure
        async with self.sessions() as session:
            members = await members_to_recompute(session)
        for member_id in members:
            try:
                async with self._unit() as (session, notifier):
                    change = await recompute(
                        session, member_id=member_id, currency=currency, now=now
                    )
                    if change.moved_up:
                        report.moved_up += 1
                        member = await get_member(session, member_id)
                        if member is not None and member.started:
                            news = await tier_news(change, self.i18n, member.locale)
                            if news:
                                notifier.send(member_id, news)
                        continue
                    drop = await drop_ahead(
                        session, member_id=member_id, currency=currency, now=now
                    )
                    if drop is None:
                        continue
                    report.warned_drop += 1
                    locale = await self._reachable_locale(session, member_id)
                    if locale is None:
                        continue
                    member = await get_member(session, member_id)
                    with self.i18n.use_locale(locale):
                        text = (
                            _(
                                "A friendly note: to stay {tier} for another month, earning "
                                "{amount} within 30 days is enough. Thank you for being with us!"
                            )
                            if currency == POINTS
                            else _(
                                "A friendly note: to stay {tier} for another month, an order of "
                                "{amount} within 30 days is enough. Thank you for being with us!"
                            )
                        ).format(
                            tier=tier_name(drop.current),
                            amount=tier_amount(drop.to_keep, self.settings, locale),
                        )
                    # it asks for an order: a promotion, so the policy decides whether and
                    # when it goes (consent, the member's cap, quiet hours, label and Stop)
                    await selling_reminder(
                        session,
                        member_id=member_id,
                        topic="tier_drop",
                        text=text,
                        timezone=await private_zone(
                            session,
                            member_id=member_id,
                            own=member.timezone if member else None,
                            default=self.settings.default_timezone,
                        ),
                        now=now,
                        rules=self.settings.pacing_rules(),
                    )
            except Exception:  # one member must not stop the others
                log.exception("tier care of member %s failed; the next run retries", member_id)

    def _segment_rules(self) -> SegmentRules:
        s = self.settings
        return SegmentRules(
            new_days=s.segment_new_days,
            active_days=s.segment_active_days,
            churn_days=s.segment_churn_days,
            loyal_orders=s.segment_loyal_orders,
            loyal_window_days=s.segment_loyal_window_days,
        )

    async def _segments(self, report: CareReport) -> None:
        """Every member's segment; entering one runs the care rules staff set for it.

        A member's first segment is silent unless it is `new` (so a first run on an old
        community does not fire win-back care at everyone at once).
        """
        now = self.clock()
        rules = self._segment_rules()
        async with self.sessions() as session:
            found = await facts(
                session, now=now, loyal_window=timedelta(days=rules.loyal_window_days)
            )
        for member_id, joined, last_paid, recent in found:
            segment = segment_for(
                joined_at=joined,
                last_paid_at=last_paid,
                paid_in_window=recent,
                now=now,
                rules=rules,
            )
            try:
                async with self._unit() as (session, notifier):
                    moved = await move(session, member_id=member_id, segment=segment, now=now)
                    if moved is None:
                        continue
                    report.transitions += 1
                    if moved.before is None and moved.after != SEGMENT_NEW:
                        continue
                    if await self._care(session, notifier, moved, now):
                        report.cared += 1
            except Exception:
                log.exception("segment care of member %s failed; the next run retries", member_id)

    async def _care(
        self, session: AsyncSession, notifier: BackgroundSender, moved: Transition, now: datetime
    ) -> bool:
        """Give what the matching rules say (services.care), and tell the member what they
        received: a receipt, not a promotion, so it goes at once."""
        outcome = await carry_out_care(
            session,
            moved=moved,
            now=now,
            default_timezone=self.settings.default_timezone,
            pacing=self.settings.pacing_rules(),
        )
        if outcome is None:
            return False
        member = outcome.member
        if member is not None and member.started:
            lines: list[str] = []
            with self.i18n.use_locale(member.locale):
                for gift in outcome.given:
                    if gift.points:
                        lines.append(
                            _("A gift from us: {points}.").format(
                                points=points_text(gift.points, member.locale)
                            )
                        )
                    if gift.coupon:
                        lines.append(_("A coupon for you: see /coupons."))
            if lines:
                notifier.send(moved.member_id, "\n".join(lines))
        return True

    async def _birthdays(self, report: CareReport) -> None:
        now = self.clock()
        async with self._unit() as (session, notifier):
            gifts = await birthday_gifts(
                session, now=now, default_timezone=self.settings.default_timezone
            )
            for gift in gifts:
                report.birthdays += 1
                if gift.started:
                    with self.i18n.use_locale(gift.locale):
                        text = _("Happy birthday! 🎂")
                        if gift.points:
                            text = sentences(
                                text,
                                _("Here is your birthday gift: {points}.").format(
                                    points=points_text(gift.points, gift.locale)
                                ),
                            )
                        notifier.send(gift.member_id, text)

    async def _expiry(self, report: CareReport) -> None:
        now = self.clock()
        months = self.settings.points_expiry_months
        cutoff = months_before(now, months)
        async with self.sessions() as session:
            members = await members_with_points(session)
        for member_id in members:
            async with self._unit() as (session, notifier):
                zone = self.settings.default_timezone
                today = local_day(now, zone)
                gone = await expire_points(
                    session,
                    member_id=member_id,
                    cutoff=cutoff,
                    key=f"expire:{member_id}:{today.isoformat()}",
                )
                locale = await self._reachable_locale(session, member_id)
                if gone:
                    report.expired += gone
                    if locale is not None:
                        with self.i18n.use_locale(locale):
                            text = _(
                                "Points earned more than {months} ago have expired: {points}."
                            ).format(
                                points=points_text(gone, locale), months=counted("month", months)
                            )
                            notifier.send(member_id, text)
                    continue
                soon = await expiring_within_week(session, member_id=member_id, cutoff=cutoff)
                if soon and await claim_expiry_warning(
                    session, member_id=member_id, today=today, points=soon
                ):
                    report.warned_expiry += 1
                    if locale is not None:
                        with self.i18n.use_locale(locale):
                            text = _(
                                "{points} will expire within a week. Spend them in /rewards."
                            ).format(points=points_text(soon, locale))
                            notifier.send(member_id, text)

    def seconds(self) -> int:
        return self.settings.care_seconds
