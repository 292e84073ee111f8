"""Reviews and 晒单: photos and a short video added to a review, moderation by staff or the
group's leader, the photo reward, sharing an approved review to the member's group, and the
ratings shown on products.

A review is written by `services.loyalty.review_order` (stars and words, after pickup); it waits
(`pending`) until staff, or the leader of the group the order was placed in, approve or reject
it. Only approved reviews count in a product's rating and are shown or shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.community import Community
from models.member import Member
from models.order import ORDER_FULFILLED, Order
from models.review import (
    MEDIA_PHOTO,
    REVIEW_APPROVED,
    REVIEW_MAX_PHOTOS,
    REVIEW_MAX_VIDEOS,
    REVIEW_PENDING,
    REVIEW_REJECTED,
    Review,
    ReviewMedia,
)
from models.trial import PAYMENT_TRIAL
from services.audit import record_action
from services.community import is_open_clause
from services.db import rowcount
from services.errors import Refused
from services.points import REASON_REVIEW_PHOTO, award
from services.role import led_communities

NOTE_MAX = 200  # Review.moderation_note


class ReviewMediaError(Refused):
    """A photo or video that cannot go with a review; `reason` names why."""


class ReviewMediaRefusal(StrEnum):
    """The reasons a ReviewMediaError gives (its `reason`); the handlers map each to a message."""

    NO_REVIEW = "no_review"
    TOO_MANY_PHOTOS = "too_many_photos"
    TOO_MANY_VIDEOS = "too_many_videos"


class ModerationError(Refused):
    """A moderation or share that was refused; `reason` names why."""


class ModerationRefusal(StrEnum):
    """The reasons a ModerationError gives (its `reason`); the handlers map each to a message."""

    NOT_ALLOWED = "not_allowed"
    NOT_FOUND = "not_found"
    DECIDED = "decided"
    NOT_APPROVED = "not_approved"
    NO_GROUP = "no_group"
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class ReviewView:
    """A review as the queue, the product and the group see it."""

    order_id: int
    member_id: int
    member_name: str
    product_id: int | None
    title: str
    chat_id: int
    rating: int
    comment: str
    status: str
    media: tuple[tuple[str, str], ...]  # (kind, file_id), in the order the member sent them
    shared: bool
    trial: bool = False  # the author received the product free, as a trial ambassador

    @property
    def photos(self) -> int:
        return sum(1 for kind, _file in self.media if kind == MEDIA_PHOTO)


@dataclass(frozen=True, slots=True)
class MediaAdded:
    """A photo or video added: the review it went with and what it now carries."""

    order_id: int
    photos: int
    videos: int


@dataclass(frozen=True, slots=True)
class Moderation:
    """A review approved or rejected: the review, and the photo reward it earned."""

    review: ReviewView
    member_locale: str
    member_started: bool
    points: int


@dataclass(frozen=True, slots=True)
class Rating:
    """A product's approved reviews: how many, and the sum of their stars."""

    count: int
    stars: int

    @property
    def average(self) -> float:
        return self.stars / self.count if self.count else 0.0


async def has_pending_review(session: AsyncSession, member_id: int) -> bool:
    """Whether the member has a review waiting for moderation (photos may still join it)."""
    found = await session.scalar(
        select(col(Review.order_id))
        .where(col(Review.member_id) == member_id, col(Review.status) == REVIEW_PENDING)
        .limit(1)
    )
    return found is not None


async def attach_media(
    session: AsyncSession, *, member_id: int, kind: str, file_id: str, now: datetime
) -> MediaAdded:
    """Add a photo or a short video to the member's newest review still waiting for moderation
    (at most 5 photos and one video; the counter moves by a conditional UPDATE, so photos of
    one album handled at once never go past the limit)."""
    order_id = await session.scalar(
        select(col(Review.order_id))
        .where(col(Review.member_id) == member_id, col(Review.status) == REVIEW_PENDING)
        .order_by(col(Review.created_at).desc(), col(Review.order_id).desc())
        .limit(1)
    )
    if order_id is None:
        raise ReviewMediaError(ReviewMediaRefusal.NO_REVIEW)
    photo = kind == MEDIA_PHOTO
    counter = col(Review.photos) if photo else col(Review.videos)
    limit = REVIEW_MAX_PHOTOS if photo else REVIEW_MAX_VIDEOS
    moved = (
        await session.execute(
            update(Review)
            .where(col(Review.order_id) == order_id, counter < limit)
            .values({"photos" if photo else "videos": counter + 1})
            .returning(col(Review.photos), col(Review.videos))
        )
    ).first()
    if moved is None:
        raise ReviewMediaError(
            ReviewMediaRefusal.TOO_MANY_PHOTOS if photo else ReviewMediaRefusal.TOO_MANY_VIDEOS,
            str(order_id),
        )
    photos, videos = int(moved[0]), int(moved[1])
    session.add(
        ReviewMedia(
            order_id=order_id,
            member_id=member_id,
            kind=kind,
            position=photos + videos,
            file_id=file_id[:255],
            created_at=now,
        )
    )
    await session.flush()
    return MediaAdded(order_id=order_id, photos=photos, videos=videos)


async def _views(session: AsyncSession, reviews: Sequence[Review]) -> list[ReviewView]:
    if not reviews:
        return []
    ids = [r.order_id for r in reviews]
    orders = {
        o.id: o
        for o in (await session.execute(select(Order).where(col(Order.id).in_(ids)))).scalars()
    }
    members = {
        m.id: m
        for m in (
            await session.execute(
                select(Member).where(col(Member.id).in_({r.member_id for r in reviews}))
            )
        ).scalars()
    }
    media: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for row in (
        await session.execute(
            select(ReviewMedia)
            .where(col(ReviewMedia.order_id).in_(ids))
            .order_by(col(ReviewMedia.order_id), col(ReviewMedia.position))
        )
    ).scalars():
        media[row.order_id].append((row.kind, row.file_id))
    views = []
    for review in reviews:
        order = orders[review.order_id]
        author = members.get(review.member_id)
        views.append(
            ReviewView(
                order_id=review.order_id,
                member_id=review.member_id,
                member_name=author.first_name if author is not None else "",
                product_id=order.product_id,
                title=order.title,
                chat_id=order.chat_id,
                rating=review.rating,
                comment=review.comment,
                status=review.status,
                media=tuple(media[review.order_id]),
                shared=review.shared_at is not None,
                trial=order.payment_mode == PAYMENT_TRIAL,
            )
        )
    return views


async def get_review(session: AsyncSession, order_id: int) -> ReviewView | None:
    review = await session.get(Review, order_id)
    if review is None:
        return None
    return (await _views(session, [review]))[0]


async def pending_reviews(
    session: AsyncSession,
    *,
    moderator_id: int,
    staff: bool,
    limit: int = 10,
    communities: frozenset[int] | None = None,
) -> tuple[list[ReviewView], int]:
    """The oldest reviews waiting for this moderator (`staff`, or the owner: all; a leader:
    their groups'), narrowed to `communities` when given, and how many wait in all."""
    where = [col(Review.status) == REVIEW_PENDING]
    if not staff:
        groups = await led_communities(session, member_id=moderator_id)
        if not groups:
            raise ModerationError(ModerationRefusal.NOT_ALLOWED)
        where.append(col(Order.chat_id).in_(groups))
    if communities is not None:
        where.append(col(Order.chat_id).in_(communities))
    base = select(Review).join(Order, col(Order.id) == col(Review.order_id)).where(*where)
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = (
        await session.execute(
            base.order_by(col(Review.created_at), col(Review.order_id)).limit(limit)
        )
    ).scalars()
    return await _views(session, list(rows)), total


async def moderate(
    session: AsyncSession,
    *,
    order_id: int,
    moderator_id: int,
    staff: bool,
    approve: bool,
    photo_points: int,
    now: datetime,
    note: str = "",
) -> Moderation:
    """Approve or reject a pending review, once; staff (and the owner) may moderate any review,
    a leader those of their groups. An approved review with photos earns `photo_points`, once
    per order. `note` (why it was rejected, as the moderator wrote it) is kept and audited."""
    note = " ".join(note.split())[:NOTE_MAX]
    review = await session.get(Review, order_id)
    order = await session.get(Order, order_id)
    if review is None or order is None:
        raise ModerationError(ModerationRefusal.NOT_FOUND)
    allowed = staff or order.chat_id in await led_communities(session, member_id=moderator_id)
    await record_action(
        session,
        actor_id=moderator_id,
        chat_id=order.chat_id,
        action="review.approve" if approve else "review.reject",
        allowed=allowed,
        now=now,
        detail=f"order #{order_id}: {note}" if note else f"order #{order_id}",
    )
    if not allowed:
        raise ModerationError(ModerationRefusal.NOT_ALLOWED)
    decided = await session.execute(
        update(Review)
        .where(col(Review.order_id) == order_id, col(Review.status) == REVIEW_PENDING)
        .values(
            status=REVIEW_APPROVED if approve else REVIEW_REJECTED,
            moderated_by=moderator_id,
            moderated_at=now,
            moderation_note=note,
        )
    )
    if rowcount(decided) != 1:
        raise ModerationError(ModerationRefusal.DECIDED)
    await session.refresh(review)
    points = 0
    # a trial ambassador's review earns no photo reward: the product itself was free
    if approve and review.photos and photo_points and order.payment_mode != PAYMENT_TRIAL:
        grant = await award(
            session,
            member_id=review.member_id,
            reason=REASON_REVIEW_PHOTO,
            points=photo_points,
            key=f"review_photo:{order_id}",
            day=now.date(),
            memo=f"photo review of order #{order_id}",
            order_id=order_id,
            actor_id=moderator_id,
            at=now,
        )
        points = grant.points if grant.created else 0
    author = await session.get(Member, review.member_id)
    view = (await _views(session, [review]))[0]
    return Moderation(
        review=view,
        member_locale=author.locale if author is not None else "",
        member_started=bool(author is not None and author.started),
        points=points,
    )


async def share_review(
    session: AsyncSession, *, order_id: int, member_id: int, now: datetime
) -> ReviewView:
    """The member consents to their approved review being posted to the group they ordered in:
    marks it shared, once, and returns it for the post (content: no promotion cap counts it)."""
    review = await session.get(Review, order_id)
    if review is None or review.member_id != member_id:
        raise ModerationError(ModerationRefusal.NOT_FOUND)
    if review.status != REVIEW_APPROVED:
        raise ModerationError(ModerationRefusal.NOT_APPROVED)
    order = await session.get(Order, order_id)
    assert order is not None
    open_group = await session.scalar(
        select(col(Community.id)).where(col(Community.id) == order.chat_id, is_open_clause())
    )
    if open_group is None:
        raise ModerationError(ModerationRefusal.NO_GROUP)
    marked = await session.execute(
        update(Review)
        .where(col(Review.order_id) == order_id, col(Review.shared_at).is_(None))
        .values(shared_at=now)
    )
    if rowcount(marked) != 1:
        raise ModerationError(ModerationRefusal.SHARED)
    await session.refresh(review)
    return (await _views(session, [review]))[0]


async def review_photo(
    session: AsyncSession, *, order_id: int, position: int
) -> tuple[str, int] | None:
    """A photo of a review, by its place among the review's media: its Telegram file id and the
    group the order was placed in (whose leaders may see it); None when there is none."""
    found = (
        await session.execute(
            select(col(ReviewMedia.file_id), col(Order.chat_id))
            .join(Order, col(Order.id) == col(ReviewMedia.order_id))
            .where(
                col(ReviewMedia.order_id) == order_id,
                col(ReviewMedia.position) == position,
                col(ReviewMedia.kind) == MEDIA_PHOTO,
            )
        )
    ).first()
    return (str(found[0]), int(found[1])) if found is not None else None


async def product_ratings(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, Rating]:
    """Each product's approved reviews: count and stars (products without any are left out)."""
    if not product_ids:
        return {}
    rows = await session.execute(
        select(col(Order.product_id), func.count(), func.sum(col(Review.rating)))
        .select_from(Review)
        .join(Order, col(Order.id) == col(Review.order_id))
        .where(col(Order.product_id).in_(product_ids), col(Review.status) == REVIEW_APPROVED)
        .group_by(col(Order.product_id))
    )
    return {
        int(pid): Rating(int(count), int(stars or 0)) for pid, count, stars in rows.all() if pid
    }


async def latest_reviews(
    session: AsyncSession, *, product_id: int, limit: int = 5
) -> list[ReviewView]:
    """A product's newest approved reviews (newest approval first)."""
    rows = (
        await session.execute(
            select(Review)
            .join(Order, col(Order.id) == col(Review.order_id))
            .where(col(Order.product_id) == product_id, col(Review.status) == REVIEW_APPROVED)
            .order_by(col(Review.moderated_at).desc(), col(Review.order_id).desc())
            .limit(limit)
        )
    ).scalars()
    return await _views(session, list(rows))


@dataclass(frozen=True, slots=True)
class ReviewStats:
    """Orders picked up in a period, how many of them were reviewed, and the approved reviews
    written in the period with their stars (the review rate and the rating in /stats)."""

    picked_up: int
    reviewed: int
    approved: int
    stars: int


async def review_stats(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    scope: frozenset[int] | None = None,
) -> ReviewStats:
    """Review figures of the period, for the whole brand or the groups in `scope`."""
    in_scope = [col(Order.chat_id).in_(scope)] if scope is not None else []
    picked = [
        col(Order.status) == ORDER_FULFILLED,
        col(Order.picked_up_at) >= start,
        col(Order.picked_up_at) < end,
        *in_scope,
    ]
    picked_up = await session.scalar(select(func.count()).select_from(Order).where(*picked))
    reviewed = await session.scalar(
        select(func.count())
        .select_from(Review)
        .join(Order, col(Order.id) == col(Review.order_id))
        .where(*picked)
    )
    approved, stars = (
        await session.execute(
            select(func.count(), func.sum(col(Review.rating)))
            .select_from(Review)
            .join(Order, col(Order.id) == col(Review.order_id))
            .where(
                col(Review.status) == REVIEW_APPROVED,
                col(Review.created_at) >= start,
                col(Review.created_at) < end,
                *in_scope,
            )
        )
    ).one()
    return ReviewStats(int(picked_up or 0), int(reviewed or 0), int(approved), int(stars or 0))
