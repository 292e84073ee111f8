"""The product-trial programme (体验官): staff create a trial of a product (or one variant) for a
number of places and an audience; invited members accept (a place is taken by a conditional
UPDATE, so never more than `places` win) and get a free trial order, booked in the ledger as a
marketing expense; they report on the trial's aspects with ratings, words and photos; staff read
the reports as a set; with the ambassador's consent a report becomes a review marked as a free
trial; ambassadors who reported well are tagged for the next trial (`invite=ambassadors`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.ledger import ACCOUNT_BRAND_GOODS_GIVEN, ACCOUNT_BRAND_MARKETING_EXPENSE
from models.member import Member
from models.nps import NpsSurvey
from models.order import (
    DELIVERY_PICKUP,
    DELIVERY_SHIP,
    ORDER_FULFILLED,
    ORDER_PAID,
    Order,
    OrderEvent,
)
from models.product import FULFIL_DELIVERY, Product, ProductVariant
from models.referral import Referral
from models.review import REVIEW_PENDING, Review, ReviewMedia
from models.suggestion import SUGGESTION_ADOPTED, Suggestion
from models.tiers import MemberTier
from models.trial import (
    INVITE_ACCEPTED,
    INVITE_DECLINED,
    INVITE_INVITED,
    INVITE_MISSED,
    PAYMENT_TRIAL,
    TRIAL_CLOSED,
    TRIAL_MAX_ASPECTS,
    TRIAL_MAX_PHOTOS,
    TRIAL_OPEN,
    TRIAL_REPORT_MAX,
    Trial,
    TrialInvite,
    TrialMedia,
)
from services.audit import record_action
from services.db import rowcount
from services.errors import Refused
from services.groupbuy import GroupBuyError, parse_deadline
from services.ledger import AccountRef, Posting, post
from services.member import AmbiguousMember, find_member
from services.nps import home_community
from services.order import OrderView, get_order, new_pickup_code, with_variant
from services.referral import QUALIFIED_STATUSES
from services.tiers import list_tiers
from services.validation import number
from services.zones import home_group_zones

TX_TRIAL_ORDER = "trial_order"  # a free trial order's value, spent on marketing
PROMOTER_SCORE = 9  # an NPS answer of 9 or 10 makes a promoter
TOP_REFERRERS = 20  # `invite=referrers` reaches the brand's top inviters, this many
MAX_CANDIDATES = 500  # invitations one trial sends at most
GOOD_REPORT_WORDS = 30  # characters of words that make a report without photos a good one
# audience words: the English word and what a Chinese-speaking staff member types
AUDIENCES = {
    **dict.fromkeys(("promoters", "推荐者", "推薦者", "nps"), "promoters"),
    **dict.fromkeys(("adopted", "采纳", "採納", "建议被采纳", "建議被採納"), "adopted"),
    **dict.fromkeys(("referrers", "邀请人", "邀請人", "邀请达人", "邀請達人"), "referrers"),
    **dict.fromkeys(("ambassadors", "体验官", "體驗官"), "ambassadors"),
}
# the default tiers as a Chinese-speaking staff member names them, by their codes
TIER_ALIASES = {
    **dict.fromkeys(("普通会员", "普通會員", "普通"), "member"),
    **dict.fromkeys(("白银会员", "白銀會員", "白银", "白銀", "银卡", "銀卡"), "silver"),
    **dict.fromkeys(("黄金会员", "黃金會員", "黄金", "黃金", "金卡"), "gold"),
    **dict.fromkeys(("钻石会员", "鑽石會員", "钻石", "鑽石", "钻卡", "鑽卡"), "diamond"),
}
TIER_PREFIXES = ("tier:", "等级:", "等級:", "会员:", "會員:")
_ASPECT = re.compile(r"^[\w\- ]{1,24}$")


class TrialError(Refused):
    """A trial request that was refused; `reason` names why, `detail` the part at fault."""


class TrialRefusal(StrEnum):
    """The reasons a TrialError gives (its `reason`); the handlers map each to a message."""

    BAD_INVITE = "bad_invite"
    BAD_ASPECTS = "bad_aspects"
    NO_VARIANT = "no_variant"
    NOT_ENOUGH_STOCK = "not_enough_stock"
    NO_TIER = "no_tier"
    AMBIGUOUS = "ambiguous"
    NO_MEMBER = "no_member"
    BAD_PLACES = "bad_places"
    DUE_PAST = "due_past"
    NO_PRODUCT = "no_product"
    CHOOSE_VARIANT = "choose_variant"
    NOBODY = "nobody"
    NO_TRIAL = "no_trial"
    NOT_INVITED = "not_invited"
    ANSWERED = "answered"
    CLOSED = "closed"
    NOT_AMBASSADOR = "not_ambassador"
    NOT_RECEIVED = "not_received"
    REPORTED = "reported"
    BAD_RATING = "bad_rating"
    TOO_MANY_PHOTOS = "too_many_photos"
    SHARED = "shared"
    BAD_DUE = "bad_due"


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a trial invites: groups of members by what they did, a tier and above, by hand."""

    groups: tuple[str, ...] = ()  # promoters, adopted, referrers, ambassadors
    tier: str = ""  # a tier's code, name or rank: that tier and above
    people: tuple[str, ...] = ()  # @usernames or ids

    def __str__(self) -> str:
        parts = [*self.groups, *([f"tier:{self.tier}"] if self.tier else []), *self.people]
        return ",".join(parts)


def parse_audience(text: str) -> Audience:
    """`promoters,adopted,tier:gold,@mia,1234`: TrialError bad_invite naming a word it cannot
    read."""
    groups: list[str] = []
    tier = ""
    people: list[str] = []
    for raw in re.split(r"[,，、|]", text.replace("：", ":")):
        word = raw.strip()
        if not word:
            continue
        lower = word.lower()
        if lower in AUDIENCES:
            if AUDIENCES[lower] not in groups:
                groups.append(AUDIENCES[lower])
        elif lower.startswith(TIER_PREFIXES):
            tier = lower.partition(":")[2].strip()
            if not tier:
                raise TrialError(TrialRefusal.BAD_INVITE, word)
        elif word.startswith("@") or word.isdigit():
            people.append(word)
        else:
            raise TrialError(TrialRefusal.BAD_INVITE, word)
    if not (groups or tier or people):
        raise TrialError(TrialRefusal.BAD_INVITE, text)
    return Audience(tuple(groups), tier, tuple(people))


def parse_aspects(text: str) -> tuple[str, ...]:
    """`taste,packaging,value` (or 口感，包装): the aspects a report rates, at most six."""
    aspects: list[str] = []
    for raw in re.split(r"[,，、|]", text):
        word = " ".join(raw.split())
        if not word:
            continue
        if not _ASPECT.match(word):
            raise TrialError(TrialRefusal.BAD_ASPECTS, word)
        if word.lower() not in (a.lower() for a in aspects):
            aspects.append(word)
    if not aspects or len(aspects) > TRIAL_MAX_ASPECTS:
        raise TrialError(TrialRefusal.BAD_ASPECTS, text)
    return tuple(aspects)


@dataclass(frozen=True, slots=True)
class TrialView:
    """A trial as staff and members see it."""

    id: int
    title: str
    places: int
    taken: int
    audience: str
    aspects: tuple[str, ...]
    due_at: datetime
    status: str
    product_id: int
    value: int  # the retail value of one trial unit, in minor units of `currency`
    currency: str

    @property
    def left(self) -> int:
        return self.places - self.taken


@dataclass(frozen=True, slots=True)
class Invitee:
    """A member to invite, in their language (and their own time zone, when they set one)."""

    member_id: int
    locale: str
    timezone: str | None = None  # the member's own (/timezone)
    home_zone: str | None = None  # their home group's (services.zones.home_group_zones)


@dataclass(frozen=True, slots=True)
class Created:
    """A trial just created and whom to invite (after commit); `unreachable`: candidates who
    never opened a private chat with the bot, so cannot be invited."""

    trial: TrialView
    invitees: tuple[Invitee, ...]
    unreachable: int


async def _view(session: AsyncSession, trial: Trial) -> TrialView:
    assert trial.id is not None
    product = await session.get(Product, trial.product_id)
    assert product is not None
    value = product.price
    if trial.variant_id is not None:
        variant = await session.get(ProductVariant, trial.variant_id)
        if variant is not None:
            value = variant.price
    return TrialView(
        id=trial.id,
        title=trial.title,
        places=trial.places,
        taken=trial.taken,
        audience=trial.audience,
        aspects=tuple(trial.aspects),
        due_at=trial.due_at,
        status=trial.status,
        product_id=trial.product_id,
        value=value,
        currency=product.currency,
    )


async def get_trial(session: AsyncSession, trial_id: int) -> TrialView | None:
    """The trial with this id, if any."""
    trial = await session.get(Trial, trial_id, populate_existing=True)
    return await _view(session, trial) if trial is not None else None


async def list_trials(session: AsyncSession, *, limit: int = 20) -> list[TrialView]:
    """The newest trials first."""
    rows = await session.execute(select(Trial).order_by(col(Trial.id).desc()).limit(limit))
    return [await _view(session, row) for row in rows.scalars().all()]


async def _variant(session: AsyncSession, product_id: int, text: str) -> ProductVariant:
    rows = (
        await session.execute(
            select(ProductVariant).where(
                col(ProductVariant.product_id) == product_id, col(ProductVariant.active)
            )
        )
    ).scalars()
    wanted = text.strip().lower()
    for row in rows:
        if wanted in (str(row.id), str(row.position), row.name.lower()):
            return row
    raise TrialError(TrialRefusal.NO_VARIANT, text)


async def _take_stock(
    session: AsyncSession, product: Product, variant: ProductVariant | None, n: int
) -> None:
    """The trial's units leave the stock at once (one conditional UPDATE): an acceptance never
    finds the product sold out."""
    if variant is not None:
        if variant.stock is None:
            return
        taken = await session.execute(
            update(ProductVariant)
            .where(col(ProductVariant.id) == variant.id, col(ProductVariant.stock) >= n)
            .values(stock=col(ProductVariant.stock) - n)
            .execution_options(synchronize_session=False)
        )
        left = variant.stock
    else:
        if product.stock is None:
            return
        taken = await session.execute(
            update(Product)
            .where(col(Product.id) == product.id, col(Product.stock) >= n)
            .values(stock=col(Product.stock) - n)
            .execution_options(synchronize_session=False)
        )
        left = product.stock
    if rowcount(taken) != 1:
        raise TrialError(TrialRefusal.NOT_ENOUGH_STOCK, str(left))


async def _return_stock(session: AsyncSession, trial: Trial, n: int) -> None:
    """Unfilled places go back to the stock when the trial closes."""
    if n <= 0:
        return
    if trial.variant_id is not None:
        await session.execute(
            update(ProductVariant)
            .where(
                col(ProductVariant.id) == trial.variant_id, col(ProductVariant.stock).is_not(None)
            )
            .values(stock=col(ProductVariant.stock) + n)
            .execution_options(synchronize_session=False)
        )
    else:
        await session.execute(
            update(Product)
            .where(col(Product.id) == trial.product_id, col(Product.stock).is_not(None))
            .values(stock=col(Product.stock) + n)
            .execution_options(synchronize_session=False)
        )


async def _candidates(session: AsyncSession, audience: Audience) -> list[int]:
    """The members the audience names, in a stable order, without repeats."""
    found: list[int] = []

    def add(ids: Sequence[int | None]) -> None:
        for member_id in ids:
            if member_id is not None and member_id not in found:
                found.append(int(member_id))

    for group in audience.groups:
        if group == "promoters":
            latest = (
                select(col(NpsSurvey.member_id), func.max(col(NpsSurvey.answered_at)).label("at"))
                .where(col(NpsSurvey.score).is_not(None))
                .group_by(col(NpsSurvey.member_id))
                .subquery()
            )
            rows = await session.execute(
                select(col(NpsSurvey.member_id))
                .join(
                    latest,
                    (latest.c.member_id == col(NpsSurvey.member_id))
                    & (latest.c.at == col(NpsSurvey.answered_at)),
                )
                .where(col(NpsSurvey.score) >= PROMOTER_SCORE)
                .order_by(col(NpsSurvey.member_id))
            )
            add(list(rows.scalars().all()))
        elif group == "adopted":
            rows = await session.execute(
                select(col(Suggestion.member_id))
                .where(col(Suggestion.status) == SUGGESTION_ADOPTED)
                .group_by(col(Suggestion.member_id))
                .order_by(func.count().desc(), col(Suggestion.member_id))
            )
            add(list(rows.scalars().all()))
        elif group == "referrers":
            rows = await session.execute(
                select(col(Referral.referrer_id))
                .where(
                    col(Referral.referrer_id).is_not(None),
                    col(Referral.status).in_(QUALIFIED_STATUSES),
                )
                .group_by(col(Referral.referrer_id))
                .order_by(func.count().desc(), col(Referral.referrer_id))
                .limit(TOP_REFERRERS)
            )
            add(list(rows.scalars().all()))
        elif group == "ambassadors":
            rows = await session.execute(
                select(col(TrialInvite.member_id))
                .where(col(TrialInvite.good))
                .group_by(col(TrialInvite.member_id))
                .order_by(col(TrialInvite.member_id))
            )
            add(list(rows.scalars().all()))
    if audience.tier:
        tiers = await list_tiers(session)
        wanted = TIER_ALIASES.get(audience.tier, audience.tier)
        rank = next(
            (t.rank for t in tiers if wanted in (str(t.rank), t.code, t.name.lower())), None
        )
        if rank is None:
            raise TrialError(TrialRefusal.NO_TIER, audience.tier)
        rows = await session.execute(
            select(col(MemberTier.member_id))
            .where(col(MemberTier.rank) >= rank)
            .order_by(col(MemberTier.rank).desc(), col(MemberTier.member_id))
        )
        add(list(rows.scalars().all()))
    for reference in audience.people:
        try:
            person = await find_member(session, reference)
        except AmbiguousMember:
            raise TrialError(TrialRefusal.AMBIGUOUS, reference) from None
        if person is None:
            raise TrialError(TrialRefusal.NO_MEMBER, reference)
        add([person.id])
    return found[:MAX_CANDIDATES]


async def create_trial(
    session: AsyncSession,
    *,
    product_id: int,
    variant: str,
    places: int,
    audience: Audience,
    aspects: Sequence[str],
    due_at: datetime,
    created_by: int,
    now: datetime,
) -> Created:
    """A trial of the product (or its `variant`, by name or number) for `places` members of
    the audience, reporting on `aspects` by `due_at`: its units leave the stock now, and every
    candidate who opened a private chat with the bot is invited (the caller sends the
    invitations once committed)."""
    if places <= 0 or places > MAX_CANDIDATES:
        raise TrialError(TrialRefusal.BAD_PLACES, str(places))
    if due_at <= now:
        raise TrialError(TrialRefusal.DUE_PAST)
    product = await session.get(Product, product_id)
    if product is None or not product.active:
        raise TrialError(TrialRefusal.NO_PRODUCT, str(product_id))
    chosen = await _variant(session, product_id, variant) if variant else None
    if chosen is None:
        has_variants = await session.scalar(
            select(col(ProductVariant.id))
            .where(col(ProductVariant.product_id) == product_id, col(ProductVariant.active))
            .limit(1)
        )
        if has_variants is not None:
            raise TrialError(TrialRefusal.CHOOSE_VARIANT, str(product_id))
    candidates = await _candidates(session, audience)
    reachable = (
        await session.execute(
            select(col(Member.id)).where(
                col(Member.id).in_(candidates),
                col(Member.started),
                ~col(Member.is_bot),
                col(Member.forgotten_at).is_(None),
            )
        )
    ).all()
    if not reachable:  # nothing is created, and no stock is held, for an empty audience
        raise TrialError(TrialRefusal.NOBODY, str(len(candidates)))
    await _take_stock(session, product, chosen, places)
    trial = Trial(
        product_id=product_id,
        variant_id=chosen.id if chosen is not None else None,
        title=with_variant(product.title, chosen.name if chosen is not None else "")[:128],
        places=places,
        audience=str(audience)[:200],
        aspects=list(aspects),
        due_at=due_at,
        created_by=created_by,
        created_at=now,
    )
    session.add(trial)
    await session.flush()
    assert trial.id is not None
    members = {
        m.id: m
        for m in (
            await session.execute(select(Member).where(col(Member.id).in_(candidates)))
        ).scalars()
    }
    invitees: list[Invitee] = []
    unreachable = 0
    homes = await home_group_zones(session, [m for m in candidates if m in members])
    for member_id in candidates:
        person = members.get(member_id)
        if person is None or not person.started or person.is_bot or person.forgotten_at:
            unreachable += 1
            continue
        session.add(TrialInvite(trial_id=trial.id, member_id=member_id, invited_at=now))
        invitees.append(Invitee(member_id, person.locale, person.timezone, homes.get(member_id)))
    await session.flush()
    return Created(await _view(session, trial), tuple(invitees), unreachable)


@dataclass(frozen=True, slots=True)
class Answer:
    """A member's answer to an invitation: `won` a place (with the free order), or `missed`
    one (every place was taken), or declined."""

    trial: TrialView
    accepted: bool
    won: bool
    order: OrderView | None = None


async def answer_invite(
    session: AsyncSession, *, trial_id: int, member_id: int, accept: bool, now: datetime
) -> Answer:
    """Accept or decline an invitation, once. Accepting takes a place by a conditional UPDATE
    (never past `places`, whatever the concurrency) and makes the free trial order, its value
    booked as a marketing expense; when no place is left the invitation is marked missed."""
    trial = await session.get(Trial, trial_id)
    if trial is None:
        raise TrialError(TrialRefusal.NO_TRIAL, str(trial_id))
    invite = await session.get(TrialInvite, (trial_id, member_id))
    if invite is None:
        raise TrialError(TrialRefusal.NOT_INVITED, str(trial_id))
    if invite.status != INVITE_INVITED:
        raise TrialError(TrialRefusal.ANSWERED, invite.status)
    if accept and (trial.status != TRIAL_OPEN or trial.due_at <= now):
        raise TrialError(TrialRefusal.CLOSED, str(trial_id))
    claimed = await session.execute(
        update(TrialInvite)
        .where(
            col(TrialInvite.trial_id) == trial_id,
            col(TrialInvite.member_id) == member_id,
            col(TrialInvite.status) == INVITE_INVITED,
        )
        .values(status=INVITE_ACCEPTED if accept else INVITE_DECLINED, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        raise TrialError(TrialRefusal.ANSWERED, "")
    if not accept:
        return Answer(await get_trial_view(session, trial_id), accepted=False, won=False)
    place = await session.execute(
        update(Trial)
        .where(
            col(Trial.id) == trial_id,
            col(Trial.status) == TRIAL_OPEN,
            col(Trial.taken) < col(Trial.places),
        )
        .values(taken=col(Trial.taken) + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(place) != 1:
        await session.execute(
            update(TrialInvite)
            .where(col(TrialInvite.trial_id) == trial_id, col(TrialInvite.member_id) == member_id)
            .values(status=INVITE_MISSED)
            .execution_options(synchronize_session=False)
        )
        return Answer(await get_trial_view(session, trial_id), accepted=True, won=False)
    order_id = await _trial_order(session, trial, member_id, now)
    await session.execute(
        update(TrialInvite)
        .where(col(TrialInvite.trial_id) == trial_id, col(TrialInvite.member_id) == member_id)
        .values(order_id=order_id)
        .execution_options(synchronize_session=False)
    )
    return Answer(
        await get_trial_view(session, trial_id),
        accepted=True,
        won=True,
        order=await get_order(session, order_id),
    )


async def get_trial_view(session: AsyncSession, trial_id: int) -> TrialView:
    found = await get_trial(session, trial_id)
    assert found is not None
    return found


async def _trial_order(session: AsyncSession, trial: Trial, member_id: int, now: datetime) -> int:
    """The free trial order: nothing to pay (paid_amount stays 0, so it is no revenue), ready
    for pickup with its code, or for delivery when the product is only delivered; its value is
    booked from the brand's goods to its marketing expense."""
    view = await _view(session, trial)
    product = await session.get(Product, trial.product_id)
    assert product is not None
    variant = await session.get(ProductVariant, trial.variant_id) if trial.variant_id else None
    # the group the member orders in (so a shared review goes there), else their private chat
    chat_id = await home_community(session, member_id) or member_id
    row = Order(
        member_id=member_id,
        chat_id=chat_id,
        product_id=trial.product_id,
        title=product.title,
        variant_id=trial.variant_id,
        variant_name=variant.name if variant is not None else "",
        quantity=1,
        unit_price=view.value,
        currency=view.currency,
        payment_mode=PAYMENT_TRIAL,
        status=ORDER_PAID,
        pickup_code=await new_pickup_code(session),
        delivery=DELIVERY_SHIP if product.fulfilment == FULFIL_DELIVERY else DELIVERY_PICKUP,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    session.add(
        OrderEvent(
            order_id=row.id,
            to_status=ORDER_PAID,
            actor_id=member_id,
            note=f"free trial #{trial.id}",
            at=now,
        )
    )
    await post(
        session,
        key=f"trial:{trial.id}:{member_id}",
        kind=TX_TRIAL_ORDER,
        postings=[
            Posting(AccountRef(ACCOUNT_BRAND_MARKETING_EXPENSE), view.currency, -view.value),
            Posting(AccountRef(ACCOUNT_BRAND_GOODS_GIVEN), view.currency, view.value),
        ],
        memo=f"free trial #{trial.id}: order #{row.id} {view.title}",
        actor_id=member_id,
        order_id=row.id,
    )
    return row.id


# ------------------------------------------------------------------------- reports ---------


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


# ------------------------------------------------------------------------- summary ---------


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


# ------------------------------------------------------------------------- the clock -------


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder to send: the trial, the ambassador, before (`late` False) or after the due
    date."""

    trial: TrialView
    member_id: int
    locale: str
    started: bool
    late: bool


async def due_reminders(
    session: AsyncSession, *, now: datetime, lead: timedelta, late_after: timedelta
) -> list[tuple[int, int, bool]]:
    """(trial, member, late) of ambassadors without a report whose reminder is due: `lead`
    before the due date, and once `late_after` past it."""
    base = (
        select(col(TrialInvite.trial_id), col(TrialInvite.member_id))
        .join(Trial, col(Trial.id) == col(TrialInvite.trial_id))
        .where(col(TrialInvite.status) == INVITE_ACCEPTED, col(TrialInvite.reported_at).is_(None))
    )
    early = await session.execute(
        base.where(
            col(TrialInvite.reminded_at).is_(None),
            col(Trial.due_at) <= now + lead,
            col(Trial.due_at) > now,
        )
    )
    late = await session.execute(
        base.where(
            col(TrialInvite.late_reminded_at).is_(None), col(Trial.due_at) <= now - late_after
        )
    )
    return [(int(t), int(m), False) for t, m in early.all()] + [
        (int(t), int(m), True) for t, m in late.all()
    ]


async def claim_reminder(
    session: AsyncSession, *, trial_id: int, member_id: int, late: bool, now: datetime
) -> Reminder | None:
    """Claim one reminder (a conditional UPDATE, so it is sent once); None when it was sent or
    the report came meanwhile."""
    column = col(TrialInvite.late_reminded_at) if late else col(TrialInvite.reminded_at)
    claimed = await session.execute(
        update(TrialInvite)
        .where(
            col(TrialInvite.trial_id) == trial_id,
            col(TrialInvite.member_id) == member_id,
            column.is_(None),
            col(TrialInvite.reported_at).is_(None),
        )
        .values({"late_reminded_at" if late else "reminded_at": now})
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    member = await session.get(Member, member_id)
    return Reminder(
        trial=await get_trial_view(session, trial_id),
        member_id=member_id,
        locale=member.locale if member is not None else "",
        started=bool(member is not None and member.started),
        late=late,
    )


async def close_due_trials(session: AsyncSession, *, now: datetime) -> list[int]:
    """Close the trials past their due date (a conditional UPDATE each): no more acceptances,
    and the units of places nobody took go back to the stock. Returns the trials closed."""
    due = (
        (
            await session.execute(
                select(Trial).where(col(Trial.status) == TRIAL_OPEN, col(Trial.due_at) <= now)
            )
        )
        .scalars()
        .all()
    )
    closed = []
    for trial in due:
        done = await session.execute(
            update(Trial)
            .where(col(Trial.id) == trial.id, col(Trial.status) == TRIAL_OPEN)
            .values(status=TRIAL_CLOSED)
            .returning(col(Trial.taken))
        )
        taken = done.scalar_one_or_none()
        if taken is None:
            continue
        await _return_stock(session, trial, trial.places - int(taken))
        assert trial.id is not None
        closed.append(trial.id)
    return closed


async def new_trial(
    session: AsyncSession,
    *,
    product_id: int,
    variant: str,
    options: dict[str, str],
    actor_id: int,
    timezone: str,
    now: datetime,
) -> Created:
    """A trial from /trial_new's options (places, invite, aspects, due), audited as
    trial.create (from chat and from the dashboard's form); TrialError when refused."""
    places = number(options.get("places", ""))
    if places is None:
        raise TrialError(TrialRefusal.BAD_PLACES, options.get("places", ""))
    due_text = options.get("due") or options.get("deadline") or "14d"
    try:
        due_at = parse_deadline(due_text, now=now, timezone=timezone)
    except GroupBuyError as exc:
        raise TrialError(TrialRefusal.BAD_DUE, exc.detail or due_text) from None
    created = await create_trial(
        session,
        product_id=product_id,
        variant=variant,
        places=places,
        audience=parse_audience(options.get("invite", "")),
        aspects=parse_aspects(options.get("aspects", "")),
        due_at=due_at,
        created_by=actor_id,
        now=now,
    )
    trial = created.trial
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=None,
        action="trial.create",
        allowed=True,
        now=now,
        detail=f"trial #{trial.id}: {trial.places} x {trial.title}, invite {trial.audience}",
    )
    return created


async def reachable_ambassadors(session: AsyncSession) -> list[Invitee]:
    """The tagged ambassadors (a good report before) who can be told in private, in their
    language: who `first=ambassadors` lets vote in a co-creation poll first."""
    tagged = await _candidates(session, Audience(groups=("ambassadors",)))
    rows = await session.execute(
        select(col(Member.id), col(Member.locale), col(Member.timezone))
        .where(
            col(Member.id).in_(tagged),
            col(Member.started),
            ~col(Member.is_bot),
            col(Member.forgotten_at).is_(None),
        )
        .order_by(col(Member.id))
    )
    return [Invitee(int(member_id), locale or "", zone) for member_id, locale, zone in rows.all()]
