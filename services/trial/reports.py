"""Ambassadors' reports on a trial: the task, ratings and words, photos, and, with consent, the
report shared as a review marked as a free trial; good reports tag their author for the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.order import DELIVERY_SHIP, ORDER_FULFILLED, Order
from models.review import REVIEW_PENDING, Review, ReviewMedia
from models.trial import (
    INVITE_ACCEPTED,
    TRIAL_MAX_PHOTOS,
    TRIAL_REPORT_MAX,
    Trial,
    TrialInvite,
    TrialMedia,
)
from services.db import rowcount
from services.trial.read import get_trial_view
from services.trial.values import TrialError, TrialRefusal, TrialView

GOOD_REPORT_WORDS = 30  # characters of words that make a report without photos a good one


@dataclass(frozen=True, slots=True)
class ReportTask:
    """What an ambassador reports on: the trial and its aspects."""

    trial: TrialView
    member_id: int
    reported: bool


async def report_task(session: AsyncSession, *, trial_id: int, member_id: int) -> ReportTask:
    """The trial an ambassador may report on: TrialError not_ambassador when they have none,
    not_received (naming the order) before they received the trial goods."""
    invite = await session.get(TrialInvite, (trial_id, member_id), populate_existing=True)
    if invite is None or invite.status != INVITE_ACCEPTED:
        raise TrialError(TrialRefusal.NOT_AMBASSADOR, str(trial_id))
    reported = invite.reported_at is not None
    if not reported and not await _received(session, invite.order_id):
        raise TrialError(TrialRefusal.NOT_RECEIVED, str(invite.order_id or ""))
    return ReportTask(await get_trial_view(session, trial_id), member_id, reported)


async def _received(session: AsyncSession, order_id: int | None) -> bool:
    """Whether the ambassador has the trial goods: the order picked up or delivered, or, for
    a delivery, shipped (the parcel is on its way when they report)."""
    order = await session.get(Order, order_id, populate_existing=True) if order_id else None
    if order is None:
        return False
    if order.status == ORDER_FULFILLED:
        return True
    return order.delivery == DELIVERY_SHIP and order.shipped_at is not None


async def open_reports(session: AsyncSession, *, member_id: int) -> list[TrialView]:
    """The trials the member accepted and has not reported on yet, oldest due first."""
    rows = await session.execute(
        select(col(TrialInvite.trial_id))
        .join(Trial, col(Trial.id) == col(TrialInvite.trial_id))
        .where(
            col(TrialInvite.member_id) == member_id,
            col(TrialInvite.status) == INVITE_ACCEPTED,
            col(TrialInvite.reported_at).is_(None),
        )
        .order_by(col(Trial.due_at))
    )
    return [await get_trial_view(session, int(t)) for t in rows.scalars().all()]


def _good(on_time: bool, rated: bool, words: str, photos: int) -> bool:
    return on_time and rated and (photos > 0 or len(words) >= GOOD_REPORT_WORDS)


async def submit_report(
    session: AsyncSession,
    *,
    trial_id: int,
    member_id: int,
    ratings: dict[str, int],
    text: str,
    now: datetime,
) -> bool:
    """Save an ambassador's report (a rating 1-5 per aspect and their words), once; returns
    whether it counts as a good report so far (photos may still make it one)."""
    task = await report_task(session, trial_id=trial_id, member_id=member_id)
    if task.reported:
        raise TrialError(TrialRefusal.REPORTED, str(trial_id))
    cleaned = {a: int(ratings[a]) for a in task.trial.aspects if a in ratings}
    if any(not 1 <= v <= 5 for v in cleaned.values()):
        raise TrialError(TrialRefusal.BAD_RATING)
    words = " ".join(text.split())[:TRIAL_REPORT_MAX]
    good = _good(now <= task.trial.due_at, len(cleaned) == len(task.trial.aspects), words, 0)
    saved = await session.execute(
        update(TrialInvite)
        .where(
            col(TrialInvite.trial_id) == trial_id,
            col(TrialInvite.member_id) == member_id,
            col(TrialInvite.reported_at).is_(None),
        )
        .values(ratings=cleaned, report=words, reported_at=now, good=good)
        .execution_options(synchronize_session=False)
    )
    if rowcount(saved) != 1:
        raise TrialError(TrialRefusal.REPORTED, str(trial_id))
    return good


async def attach_report_photo(
    session: AsyncSession, *, trial_id: int, member_id: int, file_id: str, now: datetime
) -> int:
    """Add a photo to a report (at most 5, counted by a conditional UPDATE); an on-time report
    with every aspect rated and a photo is a good one. Returns the photos it now carries."""
    invite = await session.get(TrialInvite, (trial_id, member_id))
    if invite is None or invite.reported_at is None:
        raise TrialError(TrialRefusal.NOT_AMBASSADOR, str(trial_id))
    trial = await session.get(Trial, trial_id)
    assert trial is not None
    rated = len(invite.ratings or {}) == len(trial.aspects)
    moved = (
        await session.execute(
            update(TrialInvite)
            .where(
                col(TrialInvite.trial_id) == trial_id,
                col(TrialInvite.member_id) == member_id,
                col(TrialInvite.photos) < TRIAL_MAX_PHOTOS,
            )
            .values(
                photos=col(TrialInvite.photos) + 1,
                # a photo makes an on-time, fully rated report a good one
                **({"good": True} if invite.reported_at <= trial.due_at and rated else {}),
            )
            .returning(col(TrialInvite.photos))
        )
    ).first()
    if moved is None:
        raise TrialError(TrialRefusal.TOO_MANY_PHOTOS, str(trial_id))
    photos = int(moved[0])
    session.add(
        TrialMedia(
            trial_id=trial_id,
            member_id=member_id,
            position=photos,
            file_id=file_id[:255],
            created_at=now,
        )
    )
    await session.flush()
    return photos


async def share_report(
    session: AsyncSession, *, trial_id: int, member_id: int, now: datetime
) -> int:
    """The ambassador consents: their report becomes a review of the trial order, marked as a
    free trial (by its order), waiting for moderation like every review. Returns the order."""
    invite = await session.get(TrialInvite, (trial_id, member_id))
    if invite is None or invite.reported_at is None or invite.order_id is None:
        raise TrialError(TrialRefusal.NOT_AMBASSADOR, str(trial_id))
    marked = await session.execute(
        update(TrialInvite)
        .where(
            col(TrialInvite.trial_id) == trial_id,
            col(TrialInvite.member_id) == member_id,
            col(TrialInvite.shared_at).is_(None),
        )
        .values(shared_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(marked) != 1 or await session.get(Review, invite.order_id) is not None:
        raise TrialError(TrialRefusal.SHARED, str(trial_id))
    ratings = list((invite.ratings or {}).values())
    rating = min(5, max(1, int(sum(ratings) / len(ratings) + 0.5))) if ratings else 5
    media = (
        (
            await session.execute(
                select(TrialMedia)
                .where(
                    col(TrialMedia.trial_id) == trial_id,
                    col(TrialMedia.member_id) == member_id,
                    col(TrialMedia.file_id) != "",  # erased by /forgetme or its retention
                )
                .order_by(col(TrialMedia.position))
            )
        )
        .scalars()
        .all()
    )
    session.add(
        Review(
            order_id=invite.order_id,
            member_id=member_id,
            rating=rating,
            comment=invite.report[:500],
            status=REVIEW_PENDING,
            photos=len(media),
            created_at=now,
        )
    )
    await session.flush()
    for row in media:
        session.add(
            ReviewMedia(
                order_id=invite.order_id,
                member_id=member_id,
                kind="photo",
                position=row.position,
                file_id=row.file_id,
                created_at=now,
            )
        )
    await session.flush()
    return invite.order_id
