"""Loyalty points: every point is a ledger posting with a reason members can read.

Points come from `points_issued` (which goes negative by everything ever granted) into the
member's `member_points` account, and leave it to `points_redeemed`, the charity pool, or
another member. The member's account may never go below zero; the ledger enforces it with a
conditional UPDATE, and spending runs in a savepoint so a refusal changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ScalarSelect, case, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.ledger import (
    ACCOUNT_CHARITY_POOL,
    ACCOUNT_MEMBER_POINTS,
    ACCOUNT_POINTS_ISSUED,
    ACCOUNT_POINTS_REDEEMED,
    POINTS,
    LedgerAccount,
    LedgerBalance,
    LedgerEntry,
    LedgerTransaction,
)
from models.points import PointsDay
from services.db import execute_rows, insert_in, prepared, rowcount, table_of
from services.errors import Refused
from services.ledger import (
    AccountRef,
    InsufficientBalance,
    Posting,
    TransactionView,
    balance,
    find_transaction,
    post,
)

# why points moved; each is the ledger transaction kind "points_<reason>"
REASON_CHECKIN = "checkin"
REASON_ORDER = "order"
REASON_REFERRAL = "referral"
REASON_VOTE = "vote"
REASON_SUGGESTION = "suggestion"
REASON_REVIEW = "review"
REASON_BIRTHDAY = "birthday"
REASON_GIFT = "gift"
REASON_REDEEM = "redeem"
REASON_DONATION = "donation"
REASON_CLAWBACK = "clawback"  # points of a refunded order taken back
REASON_CARE = "care"  # a gift from a care rule (welcome, win-back)
REASON_EXPIRY = "expiry"  # points older than the expiry period, oldest first
REASON_WELCOME = "welcome"  # a newcomer's gift for joining through an invitation

# the memo of a gift: whether the giver consented to be named to the recipient (the giver is
# the transaction's actor_id; gifts before this memo carried "gift <giver>-><recipient>")
GIFT_SIGNED = "gift, signed"
GIFT_UNSIGNED = "gift"
MAX_POINTS = 10**9  # any single grant, gift or cost above this is a typo


class PointsError(Refused):
    """A points operation that was refused; `reason` names why, for a localized message."""


class PointsRefusal(StrEnum):
    """The reasons a PointsError gives (its `reason`); the handlers map each to a message."""

    BUSY = "busy"
    BAD_AMOUNT = "bad_amount"
    NOT_ENOUGH = "not_enough"
    SELF = "self"
    OVER_CAP = "over_cap"
    # services/rewards.py: a reward staff set up, or its redemption
    BAD_TITLE = "bad_title"
    BAD_STOCK = "bad_stock"
    NO_REWARD = "no_reward"
    OUT_OF_STOCK = "out_of_stock"
    REPEATED = "repeated"
    # services/rewards.py: the reward's coupon could not be granted ("coupon_" + the reason)
    COUPON_NO_COUPON = "coupon_no_coupon"
    COUPON_EXPIRED = "coupon_expired"
    COUPON_LIMIT_REACHED = "coupon_limit_reached"


@dataclass(frozen=True, slots=True)
class Grant:
    """What an award did: the points granted (0 when the daily cap was reached)."""

    points: int
    capped: bool  # True when the cap cut the grant short
    created: bool  # False when this key had been granted before


def member_points(member_id: int) -> AccountRef:
    return AccountRef(ACCOUNT_MEMBER_POINTS, member_id)


def transaction_kind(reason: str) -> str:
    return f"points_{reason}"


async def points_balance(session: AsyncSession, member_id: int) -> int:
    return await balance(session, member_points(member_id), POINTS)


async def _take_from_cap(
    session: AsyncSession, *, member_id: int, reason: str, day: date, wanted: int, cap: int
) -> int:
    """Reserve up to `wanted` points under the reason's cap for the day; returns what fits.

    The counter row moves only by a conditional UPDATE on its old total, so two concurrent
    grants cannot both take the last room under the cap. The first reservation of the day
    creates the row already holding what it takes, in one statement.
    """
    first = min(wanted, max(cap, 0))
    created = await execute_rows(
        session,
        _OPEN_DAY(session),
        {"member_id": member_id, "reason": reason, "day": day, "total": first},
    )
    if created.scalar_one_or_none() is not None:
        return first
    where = (
        col(PointsDay.member_id) == member_id,
        col(PointsDay.reason) == reason,
        col(PointsDay.day) == day,
    )
    for _attempt in range(20):
        total = (await session.execute(select(col(PointsDay.total)).where(*where))).scalar_one()
        room = max(0, cap - int(total))
        taken = min(room, wanted)
        if taken == 0:
            return 0
        moved = await session.execute(
            update(PointsDay)
            .where(*where, col(PointsDay.total) == total)
            .values(total=col(PointsDay.total) + taken)
        )
        if rowcount(moved) == 1:
            return taken
    raise PointsError(PointsRefusal.BUSY, f"{member_id}/{reason}")


_OPEN_DAY = prepared(
    lambda dialect: (
        insert_in(dialect, table_of(PointsDay))
        .on_conflict_do_nothing(index_elements=["member_id", "reason", "day"])
        .returning(col(PointsDay.total))
    )
)


async def reserve_daily(
    session: AsyncSession, *, member_id: int, reason: str, day: date, wanted: int, cap: int
) -> int:
    """Reserve up to `wanted` units of a per-member daily counter under `cap`; returns what fit.

    The same counter as points caps, for limits counted in something else (rewarded referrals).
    """
    return await _take_from_cap(
        session, member_id=member_id, reason=reason, day=day, wanted=wanted, cap=cap
    )


async def award(
    session: AsyncSession,
    *,
    member_id: int,
    reason: str,
    points: int,
    key: str,
    day: date,
    cap: int | None = None,
    memo: str = "",
    order_id: int | None = None,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> Grant:
    """Grant points once per key, held under the reason's daily cap when there is one."""
    if points < 0 or points > MAX_POINTS:
        raise PointsError(PointsRefusal.BAD_AMOUNT, str(points))
    # a key granted before is found by `post` (or, when nothing fits, below), and the room it
    # took under the cap is given back: the common first grant costs no look-up
    granted = points
    if cap is not None:
        granted = await _take_from_cap(
            session, member_id=member_id, reason=reason, day=day, wanted=points, cap=cap
        )
    if granted == 0:
        existing = await find_transaction(session, key)
        if existing is not None:
            return Grant(points=_credited(existing, member_id), capped=False, created=False)
        return Grant(points=0, capped=points > 0, created=False)
    posted = await post(
        session,
        key=key,
        kind=transaction_kind(reason),
        postings=[
            Posting(AccountRef(ACCOUNT_POINTS_ISSUED), POINTS, -granted),
            Posting(member_points(member_id), POINTS, granted),
        ],
        memo=memo,
        actor_id=actor_id,
        order_id=order_id,
        at=at,
    )
    if not posted.created:  # a concurrent grant of the same key won: give its room back
        if cap is not None:
            await session.execute(
                update(PointsDay)
                .where(
                    col(PointsDay.member_id) == member_id,
                    col(PointsDay.reason) == reason,
                    col(PointsDay.day) == day,
                )
                .values(total=col(PointsDay.total) - granted)
            )
        return Grant(points=_credited(posted, member_id), capped=False, created=False)
    return Grant(points=granted, capped=granted < points, created=True)


def _credited(tx: TransactionView, member_id: int) -> int:
    return sum(
        p.amount for p in tx.postings if p.account == member_points(member_id) and p.asset == POINTS
    )


async def _posted_before(session: AsyncSession, *, points: int, key: str) -> TransactionView | None:
    """Refuse a spend or gift of no points or of more than MAX_POINTS (bad_amount); else the
    transaction already posted under `key`, if any (a retry returns it, changing nothing)."""
    if points <= 0 or points > MAX_POINTS:
        raise PointsError(PointsRefusal.BAD_AMOUNT, str(points))
    return await find_transaction(session, key)


async def _spend(
    session: AsyncSession,
    *,
    member_id: int,
    points: int,
    to: AccountRef,
    reason: str,
    key: str,
    memo: str,
) -> TransactionView:
    """Move points out of a member's account in a savepoint: too few points change nothing."""
    existing = await _posted_before(session, points=points, key=key)
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            return await post(
                session,
                key=key,
                kind=transaction_kind(reason),
                postings=[
                    Posting(member_points(member_id), POINTS, -points),
                    Posting(to, POINTS, points),
                ],
                memo=memo,
                actor_id=member_id,
            )
    except InsufficientBalance:
        raise PointsError(PointsRefusal.NOT_ENOUGH, str(points)) from None


async def spend(
    session: AsyncSession, *, member_id: int, points: int, reason: str, key: str, memo: str = ""
) -> TransactionView:
    """Points spent on a reward or perk."""
    return await _spend(
        session,
        member_id=member_id,
        points=points,
        to=AccountRef(ACCOUNT_POINTS_REDEEMED),
        reason=reason,
        key=key,
        memo=memo,
    )


async def donate(
    session: AsyncSession, *, member_id: int, points: int, key: str
) -> TransactionView:
    """Points given to the charity pool, which staff report on."""
    return await _spend(
        session,
        member_id=member_id,
        points=points,
        to=AccountRef(ACCOUNT_CHARITY_POOL),
        reason=REASON_DONATION,
        key=key,
        memo="donation",
    )


async def charity_pool(session: AsyncSession) -> int:
    return await balance(session, AccountRef(ACCOUNT_CHARITY_POOL), POINTS)


async def gift(
    session: AsyncSession,
    *,
    sender_id: int,
    recipient_id: int,
    points: int,
    key: str,
    day: date,
    daily_cap: int,
    signed: bool = False,
) -> TransactionView:
    """Points from one member to another, within the sender's daily gifting cap. `signed`: the
    sender consents to be named to the recipient (in the notice and in their /mydata);
    otherwise the recipient reads "a member". The memo never holds anyone's id."""
    if sender_id == recipient_id:
        raise PointsError(PointsRefusal.SELF)
    existing = await _posted_before(session, points=points, key=key)
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            taken = await _take_from_cap(
                session,
                member_id=sender_id,
                reason=REASON_GIFT,
                day=day,
                wanted=points,
                cap=daily_cap,
            )
            if taken < points:
                raise PointsError(PointsRefusal.OVER_CAP, str(daily_cap))
            return await post(
                session,
                key=key,
                kind=transaction_kind(REASON_GIFT),
                postings=[
                    Posting(member_points(sender_id), POINTS, -points),
                    Posting(member_points(recipient_id), POINTS, points),
                ],
                memo=GIFT_SIGNED if signed else GIFT_UNSIGNED,
                actor_id=sender_id,
            )
    except InsufficientBalance:
        raise PointsError(PointsRefusal.NOT_ENOUGH, str(points)) from None


async def _back_to_issued(
    session: AsyncSession,
    *,
    member_id: int,
    points: int,
    key: str,
    reason: str,
    memo: str,
    order_id: int | None = None,
) -> None:
    """Points leave the member's account for the pool they were issued from, unspent (a
    refunded order's taken back, old ones expired): a grant undone, not a spend."""
    await post(
        session,
        key=key,
        kind=transaction_kind(reason),
        postings=[
            Posting(member_points(member_id), POINTS, -points),
            Posting(AccountRef(ACCOUNT_POINTS_ISSUED), POINTS, points),
        ],
        memo=memo,
        order_id=order_id,
    )


async def claw_back(
    session: AsyncSession, *, member_id: int, points: int, key: str, order_id: int
) -> int:
    """Take back points a refunded order granted, as far as the member still holds them.

    Points the member already spent stay spent: the balance never goes below zero, and a
    refund must not fail because of it. Returns the points taken back.
    """
    existing = await find_transaction(session, key)
    if existing is not None:
        return -_credited(existing, member_id)
    taken = min(points, await points_balance(session, member_id))
    if taken <= 0:
        return 0
    await _back_to_issued(
        session,
        member_id=member_id,
        points=taken,
        key=key,
        reason=REASON_CLAWBACK,
        memo=f"order #{order_id} refunded",
        order_id=order_id,
    )
    return taken


def _points_account(member_id: int) -> ScalarSelect[int]:
    """The id of the member's points account, as a subquery (no row: the member has none)."""
    return (
        select(col(LedgerAccount.id))
        .where(
            col(LedgerAccount.kind) == ACCOUNT_MEMBER_POINTS,
            col(LedgerAccount.owner_id) == member_id,
        )
        .scalar_subquery()
    )


async def points_flow(
    session: AsyncSession, *, member_id: int, earned_before: datetime
) -> tuple[int, int]:
    """(points credited before a time, points ever debited) on the member's account.

    With oldest-first spending, what was earned before a cutoff and not yet debited is what
    expires at that cutoff.
    """
    account = _points_account(member_id)
    credited = func.coalesce(
        func.sum(case((col(LedgerEntry.amount) > 0, col(LedgerEntry.amount)), else_=0)).filter(
            col(LedgerTransaction.created_at) < earned_before
        ),
        0,
    )
    debited = func.coalesce(
        func.sum(case((col(LedgerEntry.amount) < 0, -col(LedgerEntry.amount)), else_=0)), 0
    )
    row = (
        await session.execute(
            select(credited, debited)
            .select_from(LedgerEntry)
            .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
            .where(col(LedgerEntry.account_id) == account, col(LedgerEntry.asset) == POINTS)
        )
    ).one()
    return int(row[0]), int(row[1])


async def expire_points(
    session: AsyncSession, *, member_id: int, cutoff: datetime, key: str
) -> int:
    """Expire what the member earned before the cutoff and has not spent; returns how many."""
    earned, spent = await points_flow(session, member_id=member_id, earned_before=cutoff)
    due = min(max(0, earned - spent), await points_balance(session, member_id))
    if due <= 0 or await find_transaction(session, key) is not None:
        return 0
    memo = f"points earned before {cutoff.date().isoformat()} expired"
    await _back_to_issued(
        session, member_id=member_id, points=due, key=key, reason=REASON_EXPIRY, memo=memo
    )
    return due


async def members_with_points(session: AsyncSession) -> list[int]:
    rows = await session.execute(
        select(col(LedgerAccount.owner_id))
        .join(LedgerBalance, col(LedgerBalance.account_id) == col(LedgerAccount.id))
        .where(
            col(LedgerAccount.kind) == ACCOUNT_MEMBER_POINTS,
            col(LedgerBalance.asset) == POINTS,
            col(LedgerBalance.balance) > 0,
        )
        .order_by(col(LedgerAccount.owner_id))
    )
    return [int(r[0]) for r in rows.all()]


# what counts as points earned (for tiers by points): activity, not gifts or corrections
EARNING_REASONS = (
    REASON_CHECKIN,
    REASON_ORDER,
    REASON_REFERRAL,
    REASON_VOTE,
    REASON_SUGGESTION,
    REASON_REVIEW,
    REASON_BIRTHDAY,
    REASON_CARE,
)


async def points_earned(session: AsyncSession, *, member_id: int, since: datetime) -> int:
    """Points the member earned by taking part since a time, net of refunds taking them back."""
    account = _points_account(member_id)
    kinds = [transaction_kind(reason) for reason in (*EARNING_REASONS, REASON_CLAWBACK)]
    total = (
        await session.execute(
            select(func.coalesce(func.sum(col(LedgerEntry.amount)), 0))
            .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
            .where(
                col(LedgerEntry.account_id) == account,
                col(LedgerEntry.asset) == POINTS,
                col(LedgerTransaction.kind).in_(kinds),
                col(LedgerTransaction.created_at) >= since,
            )
        )
    ).scalar_one()
    return max(0, int(total))


REASON_GRANT = "grant"  # points staff granted or took by hand, with a reason
REASON_REVIEW_PHOTO = "review_photo"  # a photo review (晒单) approved


async def grant_by_staff(
    session: AsyncSession,
    *,
    member_id: int,
    points: int,
    reason: str,
    staff_id: int,
    key: str,
    now: datetime,
) -> TransactionView:
    """Points staff give (positive) or take (negative) by hand, with their reason in the memo;
    a take larger than the member's balance is refused and changes nothing."""
    if points == 0 or abs(points) > MAX_POINTS:
        raise PointsError(PointsRefusal.BAD_AMOUNT, str(points))
    existing = await find_transaction(session, key)
    if existing is not None:
        return existing
    legs = [
        Posting(AccountRef(ACCOUNT_POINTS_ISSUED), POINTS, -points),
        Posting(member_points(member_id), POINTS, points),
    ]
    try:
        async with session.begin_nested():
            return await post(
                session,
                key=key,
                kind=transaction_kind(REASON_GRANT),
                postings=legs,
                memo=reason[:200],
                actor_id=staff_id,
                at=now,
            )
    except InsufficientBalance:
        raise PointsError(PointsRefusal.NOT_ENOUGH, str(-points)) from None
