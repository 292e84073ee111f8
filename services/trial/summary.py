"""What staff read of a trial: its reports as a set (the average per aspect), each invitation
as a CSV row with its photos, and /stats' report rate over a period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.member import Member
from models.trial import (
    INVITE_ACCEPTED,
    INVITE_DECLINED,
    INVITE_MISSED,
    Trial,
    TrialInvite,
    TrialMedia,
)
from services.trial.read import get_trial
from services.trial.values import TrialError, TrialRefusal, TrialView


@dataclass(frozen=True, slots=True)
class Summary:
    """A trial's reports as a set: who answered, who reported, the average per aspect."""

    trial: TrialView
    invited: int
    accepted: int
    declined: int
    missed: int
    reported: int
    good: int
    averages: dict[str, float] = field(default_factory=dict)

    @property
    def report_rate(self) -> float | None:
        return self.reported / self.accepted if self.accepted else None


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One ambassador's line in the CSV."""

    member_id: int
    name: str
    status: str
    order_id: int | None
    ratings: dict[str, int]
    report: str
    photos: int
    reported_at: datetime | None
    good: bool
    shared: bool


async def trial_summary(session: AsyncSession, trial_id: int) -> Summary:
    """The trial's figures (TrialError no_trial when there is no such trial)."""
    trial = await get_trial(session, trial_id)
    if trial is None:
        raise TrialError(TrialRefusal.NO_TRIAL, str(trial_id))
    rows = (
        (await session.execute(select(TrialInvite).where(col(TrialInvite.trial_id) == trial_id)))
        .scalars()
        .all()
    )
    sums: dict[str, list[int]] = {a: [] for a in trial.aspects}
    for row in rows:
        for aspect, value in (row.ratings or {}).items():
            sums.setdefault(aspect, []).append(int(value))
    return Summary(
        trial=trial,
        invited=len(rows),
        accepted=sum(1 for r in rows if r.status == INVITE_ACCEPTED),
        declined=sum(1 for r in rows if r.status == INVITE_DECLINED),
        missed=sum(1 for r in rows if r.status == INVITE_MISSED),
        reported=sum(1 for r in rows if r.reported_at is not None),
        good=sum(1 for r in rows if r.good),
        averages={a: sum(v) / len(v) for a, v in sums.items() if v},
    )


async def report_rows(session: AsyncSession, trial_id: int) -> list[ReportRow]:
    """Every invitation of the trial with its report, for the CSV."""
    rows = await session.execute(
        select(TrialInvite, Member)
        .join(Member, col(Member.id) == col(TrialInvite.member_id))
        .where(col(TrialInvite.trial_id) == trial_id)
        .order_by(col(TrialInvite.reported_at).is_(None), col(TrialInvite.member_id))
    )
    return [
        ReportRow(
            member_id=invite.member_id,
            name=member.first_name or (f"@{member.username}" if member.username else ""),
            status=invite.status,
            order_id=invite.order_id,
            ratings=dict(invite.ratings or {}),
            report=invite.report,
            photos=invite.photos,
            reported_at=invite.reported_at,
            good=invite.good,
            shared=invite.shared_at is not None,
        )
        for invite, member in rows.all()
    ]


async def report_photos(session: AsyncSession, trial_id: int) -> dict[int, list[tuple[int, str]]]:
    """The photos of the trial's reports: member id -> [(place, file id)], in order."""
    rows = await session.execute(
        select(TrialMedia)
        .where(col(TrialMedia.trial_id) == trial_id)
        .order_by(col(TrialMedia.member_id), col(TrialMedia.position))
    )
    photos: dict[int, list[tuple[int, str]]] = {}
    for media in rows.scalars().all():
        photos.setdefault(media.member_id, []).append((media.position, media.file_id))
    return photos


async def report_photo(
    session: AsyncSession, *, trial_id: int, member_id: int, position: int
) -> str | None:
    """The file id of one photo of a report, if there is one."""
    return (
        await session.execute(
            select(TrialMedia.file_id).where(
                col(TrialMedia.trial_id) == trial_id,
                col(TrialMedia.member_id) == member_id,
                col(TrialMedia.position) == position,
            )
        )
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class TrialStats:
    """/stats: ambassadors of trials due in the period, and how many of them reported."""

    ambassadors: int
    reported: int


async def trial_stats(session: AsyncSession, *, start: datetime, end: datetime) -> TrialStats:
    """The trial report rate of the trials due in the period."""
    due = [
        col(Trial.due_at) >= start,
        col(Trial.due_at) < end,
        col(TrialInvite.status) == INVITE_ACCEPTED,
    ]
    base = (
        select(func.count())
        .select_from(TrialInvite)
        .join(Trial, col(Trial.id) == col(TrialInvite.trial_id))
    )
    ambassadors = await session.scalar(base.where(*due))
    reported = await session.scalar(base.where(*due, col(TrialInvite.reported_at).is_not(None)))
    return TrialStats(int(ambassadors or 0), int(reported or 0))
