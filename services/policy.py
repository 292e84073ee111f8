"""The one promotion policy: whether a commercial card may reach each chat now, and the record
that makes it count.

Broadcasts and care messages reach chats through the outbox (services.broadcast), whose rows
the pacing rules (services.pacing) place. A group-buy card (a staff drop, a staff group-buy, a
pre-sale card, a leader's own group-buy) is posted at once in the chats it is opened in, so it
asks `decide` first: each chat gets its first allowed moment under the same rules and the same
history as broadcasts (quiet hours in the chat's zone, the minimum gap, the weekly cap). A card
goes only to the chats where that moment is now; for the others the sender is told when the
first allowed moment is and why. The cards that went out are recorded by `record` as sent rows
of a broadcast of their own (targets `card:<kind>:<group-buy id>`), so the next broadcast,
drop or pre-sale counts them.

A leader's own group-buy in their own group counts against the leader cap (`leader_week_cap`),
not against the brand's group cap, and follows no quiet hours or gap: the leader is speaking in
their own group at that moment. Content posts (no price, discount or buy link) are not
promotions and are not counted.

A card held back is not refused: it waits as a `ScheduledPost` row due at the chat's first
allowed moment (the cards that may go now are rows due now), counted at that moment by every
later decision, and posted by the card poster (bot/policy.py) after the commit, each row once
(`claim_card` claims it with a conditional UPDATE). Only a card whose first allowed moment is
past the group-buy's deadline, or that no moment ever fits (a cap of 0), is refused there.

Every decision for a group first writes the group's `PromotionLock` row (`lock_chats`): the row
lock, held until the commit, makes two decisions for the same group take turns, so two staff
posting at once cannot both take the cap's last place, however many workers run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import (
    BROADCAST_CANCELLED,
    COUNTED,
    POST_CONTENT,
    RECIPIENT_GROUP,
    RECIPIENT_SENT,
    Broadcast,
    BroadcastRecipient,
)
from models.community import Community
from models.groupbuy import GROUPBUY_OPEN, GroupBuy, GroupBuyPost
from models.policy import (
    POST_DROP,
    POST_GROUPBUY,
    POST_LEADER,
    POST_PRESALE,
    SCHEDULED_DROPPED,
    SCHEDULED_FAILED,
    SCHEDULED_PENDING,
    SCHEDULED_POSTED,
    SCHEDULED_POSTING,
    SCHEDULED_WAITING,
    PromotionLock,
    PromotionPost,
    ScheduledPost,
)
from services.broadcast import history as promotion_history
from services.community import is_open_clause
from services.db import dialect_name, insert_in, rowcount, table_of
from services.groupbuy import record_card
from services.pacing import WEEK, PacingRules, Skip, in_quiet_hours, next_slot, within_cap
from services.zones import group_zone

# post kinds: what sends a commercial post
KIND_BROADCAST = "broadcast"  # a staff broadcast (through the outbox)
KIND_DROP = POST_DROP  # a staff drop's card in every chosen group
KIND_GROUPBUY = POST_GROUPBUY  # a group-buy card a staff member opens in a group
KIND_PRESALE = POST_PRESALE  # a pre-sale card of a poll's winner (/poll_presale)
KIND_CARE = "care"  # a care message to one member (through the outbox)
KIND_LEADER = POST_LEADER  # a leader's own group-buy in their own group: the leader cap
KIND_CONTENT = "content"  # knowledge, stories, how-tos: not a promotion, never counted
CARD_KINDS = (KIND_DROP, KIND_GROUPBUY, KIND_PRESALE, KIND_LEADER)

# why a post cannot reach a chat now
WAIT_QUIET = "quiet"  # the chat's quiet hours
WAIT_GAP = "gap"  # too soon after the chat's last promotion
WAIT_CAP = "cap"  # the chat's weekly cap is used up
WAIT_LEADER_CAP = "leader_cap"  # the leader's weekly cap in their group is used up
WAIT_NEVER = "never"  # a cap of 0: no post ever fits


class HeldBack(Exception):
    """No chat may take the card now: nothing was opened; `verdicts` say when and why."""

    def __init__(self, verdicts: Sequence[Verdict]) -> None:
        super().__init__("held back")
        self.verdicts = list(verdicts)


def counts(kind: str) -> bool:
    """Whether a post of this kind counts against a weekly cap (content never does)."""
    return kind != KIND_CONTENT


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy says about one chat: now (`reason` None), or the first allowed moment
    (`at`, None when never) and why not now."""

    chat_id: int
    timezone: str
    at: datetime | None
    reason: str | None = None

    @property
    def now(self) -> bool:
        return self.reason is None


def _why(stamps: Sequence[datetime], now: datetime, rules: PacingRules, timezone: str) -> str:
    """The rule that holds a post back at `now`: the weekly cap first (it holds longest), then
    the quiet hours, then the gap."""
    if not within_cap(now, stamps, rules.group_week_cap):
        return WAIT_CAP
    if in_quiet_hours(now, rules, timezone):
        return WAIT_QUIET
    return WAIT_GAP


async def _leader_history(
    session: AsyncSession, chat_ids: Sequence[int], *, since: datetime
) -> dict[int, list[datetime]]:
    """The leaders' own group-buy cards per chat since `since`."""
    found: dict[int, list[datetime]] = {chat_id: [] for chat_id in chat_ids}
    rows = await session.execute(
        select(col(PromotionPost.chat_id), col(PromotionPost.posted_at)).where(
            col(PromotionPost.kind) == POST_LEADER,
            col(PromotionPost.chat_id).in_(chat_ids),
            col(PromotionPost.posted_at) > since,
        )
    )
    for chat_id, posted_at in rows.all():
        found[int(chat_id)].append(posted_at)
    waiting = await session.execute(
        select(col(ScheduledPost.chat_id), col(ScheduledPost.due_at)).where(
            col(ScheduledPost.kind) == POST_LEADER,
            col(ScheduledPost.chat_id).in_(chat_ids),
            col(ScheduledPost.status).in_(SCHEDULED_WAITING),
        )
    )
    for chat_id, due_at in waiting.all():
        found[int(chat_id)].append(due_at)
    return found


async def lock_chats(session: AsyncSession, chat_ids: Sequence[int], *, now: datetime) -> None:
    """Take each group's policy lock (its `PromotionLock` row, written in ascending chat order
    so two decisions never wait on each other crosswise); held until the transaction ends."""
    if not chat_ids:
        return
    statement = insert_in(dialect_name(session), table_of(PromotionLock)).values(
        [{"chat_id": chat_id, "decided_at": now} for chat_id in sorted(set(chat_ids))]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id"], set_={"decided_at": statement.excluded.decided_at}
        )
    )


async def decide(
    session: AsyncSession,
    *,
    kind: str,
    chat_ids: Sequence[int],
    now: datetime,
    rules: PacingRules,
    default_timezone: str,
) -> list[Verdict]:
    """For each group chat, whether a card of `kind` may be posted now, else when and why not.

    A counted kind first takes the chats' policy locks (`lock_chats`): decide, then schedule
    the cards in the same transaction, so the next decision for these chats counts them."""
    if counts(kind):
        # first, before any read: on SQLite the transaction's snapshot then starts after the
        # previous decision for these chats committed
        await lock_chats(session, chat_ids, now=now)
    zones = {
        int(chat_id): group_zone(zone, default_timezone)
        for chat_id, zone in (
            await session.execute(
                select(col(Community.id), col(Community.timezone)).where(
                    col(Community.id).in_(chat_ids)
                )
            )
        ).all()
    }
    if not counts(kind):
        return [Verdict(c, zones.get(c, default_timezone), now) for c in chat_ids]
    if kind == KIND_LEADER:
        stamps = await _leader_history(session, chat_ids, since=now - WEEK)
        # the leader speaks in their own group: the leader cap only, at any hour
        rules = replace(
            rules,
            group_week_cap=rules.leader_week_cap,
            min_gap=timedelta(0),
            quiet_start=time(0, 0),
            quiet_end=time(0, 0),
        )
    else:
        stamps = await promotion_history(session, chat_ids)
    verdicts: list[Verdict] = []
    for chat_id in chat_ids:
        zone = zones.get(chat_id, default_timezone)
        slot = next_slot(stamps.get(chat_id, []), now, rules, zone)
        if isinstance(slot, Skip):
            verdicts.append(Verdict(chat_id, zone, None, WAIT_NEVER))
        elif slot <= now:
            verdicts.append(Verdict(chat_id, zone, now))
        else:
            why = (
                WAIT_LEADER_CAP
                if kind == KIND_LEADER
                else _why(stamps.get(chat_id, []), now, rules, zone)
            )
            verdicts.append(Verdict(chat_id, zone, slot, why))
    return verdicts


async def record(
    session: AsyncSession,
    *,
    kind: str,
    groupbuy_id: int,
    chat_ids: Sequence[int],
    now: datetime,
) -> None:
    """Record the cards of a group-buy posted now as promotions, so every later post counts
    them (content is never recorded)."""
    if not counts(kind):
        return
    for chat_id in chat_ids:
        session.add(
            PromotionPost(chat_id=chat_id, kind=kind, groupbuy_id=groupbuy_id, posted_at=now)
        )
    await session.flush()


@dataclass(frozen=True, slots=True)
class Planned:
    """One promotion of a group in the calendar: a broadcast row or a group-buy card."""

    at: datetime
    kind: str  # KIND_BROADCAST, or a card's kind
    ref: int  # the broadcast's or the group-buy's id
    sent: bool  # False: scheduled for `at`
    quiet: bool = False  # it waits past its start for the group's quiet hours


@dataclass(frozen=True, slots=True)
class GroupWeek:
    """A group's promotions in the week around now: the 7 days before (which the cap counts)
    and the 7 days after."""

    chat_id: int
    title: str
    timezone: str
    used: int  # promotions in the 7 days up to now
    cap: int
    posts: tuple[Planned, ...]


async def calendar(
    session: AsyncSession,
    *,
    now: datetime,
    rules: PacingRules,
    default_timezone: str,
    start: datetime | None = None,
    end: datetime | None = None,
    scope: Collection[int] | None = None,
) -> list[GroupWeek]:
    """Every open group's promotions (of `scope`, None: every group) after `start` up to
    `end` (by default from 7 days ago to 7 days ahead), oldest first, with the cap use of the
    last 7 days (the promotions calendar staff read)."""
    query = select(col(Community.id), col(Community.title), col(Community.timezone)).where(
        is_open_clause()
    )
    if scope is not None:
        query = query.where(col(Community.id).in_(list(scope)))
    groups = (await session.execute(query.order_by(col(Community.title), col(Community.id)))).all()
    after = start if start is not None else now - WEEK
    until = end if end is not None else now + WEEK
    ids = [int(chat_id) for chat_id, _title, _zone in groups]
    found: dict[int, list[Planned]] = {chat_id: [] for chat_id in ids}
    rows = await session.execute(
        select(
            col(BroadcastRecipient.chat_id),
            col(BroadcastRecipient.status),
            col(BroadcastRecipient.not_before),
            col(BroadcastRecipient.sent_at),
            col(Broadcast.id),
            col(Broadcast.scheduled_at),
        )
        .join(Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id))
        .where(
            col(BroadcastRecipient.chat_id).in_(ids),
            col(BroadcastRecipient.kind) == RECIPIENT_GROUP,
            col(BroadcastRecipient.status).in_(COUNTED),
            col(Broadcast.status) != BROADCAST_CANCELLED,
            col(Broadcast.post_kind) != POST_CONTENT,  # content is not a promotion
        )
    )
    zones = {int(c): group_zone(z, default_timezone) for c, _t, z in groups}
    for chat_id, status, not_before, sent_at, broadcast_id, scheduled_at in rows.all():
        sent = status == RECIPIENT_SENT and sent_at is not None
        at: datetime = sent_at if sent and sent_at is not None else not_before
        quiet = (not sent) and in_quiet_hours(scheduled_at, rules, zones[int(chat_id)])
        found[int(chat_id)].append(Planned(at, KIND_BROADCAST, broadcast_id or 0, sent, quiet))
    cards = await session.execute(select(PromotionPost).where(col(PromotionPost.chat_id).in_(ids)))
    for card in cards.scalars():
        found[card.chat_id].append(Planned(card.posted_at, card.kind, card.groupbuy_id, True))
    waiting = await session.execute(
        select(ScheduledPost).where(
            col(ScheduledPost.chat_id).in_(ids), col(ScheduledPost.status).in_(SCHEDULED_WAITING)
        )
    )
    for post in waiting.scalars():
        found[post.chat_id].append(
            Planned(post.due_at, post.kind, post.groupbuy_id, False, post.reason == WAIT_QUIET)
        )
    weeks: list[GroupWeek] = []
    for chat_id, title, _zone in groups:
        posts = sorted(
            (p for p in found[int(chat_id)] if after < p.at <= until),
            key=lambda p: p.at,
        )
        counted_now = [p for p in posts if p.at <= now and p.kind != KIND_LEADER]
        weeks.append(
            GroupWeek(
                int(chat_id),
                title,
                zones[int(chat_id)],
                len(counted_now),
                rules.group_week_cap,
                tuple(posts),
            )
        )
    return weeks


# ------------------------------------------------------------ scheduled cards ---------------


@dataclass(frozen=True, slots=True)
class CardToPost:
    """A scheduled card this worker claimed: post it, then `card_posted` (or `card_failed`)."""

    post_id: int
    groupbuy_id: int
    chat_id: int
    kind: str


async def schedule_cards(
    session: AsyncSession,
    *,
    kind: str,
    groupbuy_id: int,
    verdicts: Sequence[Verdict],
    now: datetime,
) -> list[tuple[int, datetime]]:
    """A scheduled post per chat at the moment the policy allows (now for the chats that may
    take the card now); returns each row's id and due time. Verdicts without a moment (never)
    are left out."""
    rows = [
        ScheduledPost(
            chat_id=verdict.chat_id,
            kind=kind,
            groupbuy_id=groupbuy_id,
            due_at=verdict.at,
            reason=verdict.reason,
            created_at=now,
        )
        for verdict in verdicts
        if verdict.at is not None
    ]
    session.add_all(rows)
    await session.flush()
    return [(row.id or 0, row.due_at) for row in rows]


async def due_cards(
    session: AsyncSession, *, now: datetime, groupbuy_id: int | None = None
) -> list[int]:
    """The scheduled cards due by `now` and not claimed yet (of one group-buy, if given)."""
    query = select(col(ScheduledPost.id)).where(
        col(ScheduledPost.status) == SCHEDULED_PENDING, col(ScheduledPost.due_at) <= now
    )
    if groupbuy_id is not None:
        query = query.where(col(ScheduledPost.groupbuy_id) == groupbuy_id)
    rows = await session.execute(query.order_by(col(ScheduledPost.due_at), col(ScheduledPost.id)))
    return [int(i) for i in rows.scalars().all() if i is not None]


async def pending_cards(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Every scheduled card not claimed yet with its due time (the poster's jobs at start)."""
    rows = await session.execute(
        select(col(ScheduledPost.id), col(ScheduledPost.due_at)).where(
            col(ScheduledPost.status) == SCHEDULED_PENDING
        )
    )
    return [(int(i or 0), due) for i, due in rows.all()]


async def claim_card(session: AsyncSession, *, post_id: int, now: datetime) -> CardToPost | None:
    """Claim a due scheduled card for this worker (a conditional UPDATE: one worker wins). None
    when it is not due, another worker took it, or it can no longer go (the group-buy closed
    or passed its deadline, the group is no longer open): then it is dropped."""
    claimed = await session.execute(
        update(ScheduledPost)
        .where(
            col(ScheduledPost.id) == post_id,
            col(ScheduledPost.status) == SCHEDULED_PENDING,
            col(ScheduledPost.due_at) <= now,
        )
        .values(status=SCHEDULED_POSTING, claimed_at=now)
    )
    if rowcount(claimed) != 1:
        return None
    row = await session.get(ScheduledPost, post_id, populate_existing=True)
    assert row is not None
    alive = await session.execute(
        select(col(GroupBuy.id))
        .join(GroupBuyPost, col(GroupBuyPost.groupbuy_id) == col(GroupBuy.id))
        .join(Community, col(Community.id) == col(GroupBuyPost.chat_id))
        .where(
            col(GroupBuy.id) == row.groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_OPEN,
            col(GroupBuy.deadline) > now,
            col(GroupBuyPost.chat_id) == row.chat_id,
            col(GroupBuyPost.message_id).is_(None),
            is_open_clause(),
        )
    )
    if alive.first() is None:
        row.status = SCHEDULED_DROPPED
        await session.flush()
        return None
    return CardToPost(post_id, row.groupbuy_id, row.chat_id, row.kind)


async def card_posted(
    session: AsyncSession,
    *,
    card: CardToPost,
    message_id: int,
    photo: bool,
    now: datetime,
    sent_at: datetime,
) -> None:
    """The card is in the group: remember its message, and count it as a promotion from now.
    `sent_at` is the real time it was sent, which the pace of its edits counts from
    (bot/cards.py claims an edit against the real time, whatever the domain clock says)."""
    await session.execute(
        update(ScheduledPost)
        .where(col(ScheduledPost.id) == card.post_id)
        .values(status=SCHEDULED_POSTED, posted_at=now)
    )
    await record_card(
        session,
        groupbuy_id=card.groupbuy_id,
        chat_id=card.chat_id,
        message_id=message_id,
        now=sent_at,
        photo=photo,
    )
    await record(
        session, kind=card.kind, groupbuy_id=card.groupbuy_id, chat_ids=[card.chat_id], now=now
    )


async def card_failed(session: AsyncSession, *, post_id: int) -> None:
    """Telegram refused the card: it is not tried again (and no longer counted)."""
    await session.execute(
        update(ScheduledPost)
        .where(col(ScheduledPost.id) == post_id)
        .values(status=SCHEDULED_FAILED)
    )


async def expire_posting(session: AsyncSession, *, now: datetime, lease: timedelta) -> int:
    """Cards a dead worker left claimed for longer than `lease` are failed, never posted again
    (the card may or may not be in the group: at most once)."""
    result = await session.execute(
        update(ScheduledPost)
        .where(
            col(ScheduledPost.status) == SCHEDULED_POSTING,
            col(ScheduledPost.claimed_at) < now - lease,
        )
        .values(status=SCHEDULED_FAILED)
    )
    return rowcount(result)
