"""Broadcasts: plan a promotional push into an outbox, claim its rows, record what happened.

`create_broadcast` resolves the targets into one outbox row per chat and gives each row the
first slot the pacing policy allows (or skips it with the reason). A sender claims due rows
with `claim_next` (a conditional UPDATE; `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
workers never take the same row), re-checks the policy at that moment, sends, and records the
outcome with `mark_sent` / `defer` / `skip` / `fail` in a transaction of its own.

A row claimed for sending is in flight until its lease ends. A lease that ends without an
outcome means the process died during the send, when nobody knows whether Telegram delivered
it: `expire_interrupted` fails such rows instead of sending them again (at most once).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import (
    BROADCAST_CANCELLED,
    BROADCAST_DONE,
    BROADCAST_PAUSED,
    BROADCAST_RUNNING,
    BROADCAST_SCHEDULED,
    CLAIMABLE,
    COUNTED,
    POST_CONTENT,
    POST_PROMOTION,
    RECIPIENT_DEFERRED,
    RECIPIENT_FAILED,
    RECIPIENT_GROUP,
    RECIPIENT_PENDING,
    RECIPIENT_PRIVATE,
    RECIPIENT_SENDING,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    TARGET_COMMUNITY,
    TARGET_EVERYONE,
    TARGET_GROUPS,
    TARGET_MEMBERS,
    TARGET_SEGMENT,
    TARGET_TAG,
    TARGET_TIER,
    VARIANT_B,
    VARIANT_HOLDOUT,
    Broadcast,
    BroadcastRecipient,
    CommunityTag,
    MarketingConsent,
)
from models.community import Community, CommunityMember
from models.member import Member
from models.policy import POST_LEADER, SCHEDULED_WAITING, PromotionPost, ScheduledPost
from models.segments import SEGMENTS, MemberSegment
from models.tiers import MemberTier
from services.abtest import split
from services.community import is_open_clause
from services.compliance import BUY_LINK, Finding, reads_as_promotion
from services.content import TEXT, ContentError, ReadTranslations, clean, languages, localized
from services.db import dialect_name, rowcount, upsert
from services.pacing import PacingRules, Reach, Skip, in_quiet_hours, next_slot, quiet_end_after
from services.paging import Page, count_of, window
from services.zones import group_zone, home_group_zones, member_zone

# a row whose slot is this close is sent now rather than deferred (clock skew between workers)
SLOT_TOLERANCE = timedelta(seconds=1)
REASON_CANCELLED = "cancelled"
REASON_INTERRUPTED = "interrupted"
REASON_PACING = "pacing"
REASON_HOLDOUT = "holdout"  # held out of an A/B test: recorded, never sent
TARGET_CARE = "care"  # a care rule's message to one member who entered its segment
LIVE = (BROADCAST_SCHEDULED, BROADCAST_RUNNING)
TAG_PATTERN = re.compile(r"^[a-z0-9_\-]{1,32}$")
GROUP_ID_PATTERN = re.compile(r"^-[0-9]{1,19}$")


class BroadcastError(ValueError):
    """A broadcast request that cannot be carried out; `code` names why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# ---------------------------------------------------------------- consent and reach ---------


async def set_consent(
    session: AsyncSession, *, member_id: int, opted_in: bool, wording_version: str, now: datetime
) -> None:
    """Record the member's yes (opt in, reachable again) or no (/stop) to private promotions."""
    values = {
        "member_id": member_id,
        "opted_in": opted_in,
        "changed_at": now,
        "wording_version": wording_version[:32],
        "unreachable_at": None,
    }
    changes: dict[str, object] = {
        "opted_in": opted_in,
        "changed_at": now,
        "wording_version": wording_version[:32],
    }
    if opted_in:  # they talk to the bot, so it can reach them again
        changes["unreachable_at"] = None
    await session.execute(
        upsert(session, MarketingConsent, values, keys=["member_id"], update=changes)
    )


async def is_opted_in(session: AsyncSession, *, member_id: int) -> bool:
    """Whether the member currently accepts private promotions."""
    row = await session.get(MarketingConsent, member_id)
    return bool(row and row.opted_in)


async def mark_unreachable(session: AsyncSession, *, member_id: int, now: datetime) -> None:
    """Telegram answered 403 for the member: no promotion is tried again until they opt in."""
    values = {
        "member_id": member_id,
        "opted_in": False,
        "changed_at": now,
        "wording_version": "",
        "unreachable_at": now,
    }
    await session.execute(
        upsert(
            session, MarketingConsent, values, keys=["member_id"], update={"unreachable_at": now}
        )
    )


async def _reach(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, Reach]:
    if not member_ids:
        return {}
    rows = await session.execute(
        select(MarketingConsent).where(col(MarketingConsent.member_id).in_(member_ids))
    )
    return {
        row.member_id: Reach(opted_in=row.opted_in, unreachable=row.unreachable_at is not None)
        for row in rows.scalars()
    }


# ---------------------------------------------------------------- community tags ------------


def parse_tags(words: Iterable[str]) -> list[str]:
    """Tags as stored (lower case); BroadcastError('tag') for anything else."""
    tags = sorted({word.strip().lower().lstrip("#") for word in words if word.strip()})
    if any(not TAG_PATTERN.match(tag) for tag in tags):
        raise BroadcastError("tag")
    return tags


async def set_community_tags(
    session: AsyncSession, *, community_id: int, tags: Sequence[str]
) -> list[str]:
    """Replace the community's tags; returns them as stored."""
    clean = parse_tags(tags)
    await session.execute(
        delete(CommunityTag).where(col(CommunityTag.community_id) == community_id)
    )
    for tag in clean:
        session.add(CommunityTag(community_id=community_id, tag=tag))
    await session.flush()
    return clean


async def community_tags(session: AsyncSession, *, community_id: int) -> list[str]:
    """The community's tags, sorted."""
    rows = await session.execute(
        select(col(CommunityTag.tag))
        .where(col(CommunityTag.community_id) == community_id)
        .order_by(col(CommunityTag.tag))
    )
    return list(rows.scalars())


# ---------------------------------------------------------------- planning ------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """A broadcast as the wizard collected it."""

    text: str
    targets: str
    scheduled_at: datetime
    created_by: int
    photo_file_id: str | None = None
    button_text: str | None = None
    button_url: str | None = None
    button_groupbuy_id: int | None = None
    paid: bool = False
    findings: int = 0
    override_reason: str | None = None
    # the text in other languages: {locale: {"text": ...}}; each recipient gets theirs
    translations: ReadTranslations = None
    post_kind: str = POST_PROMOTION  # or POST_CONTENT: not counted, must not read as a promotion
    # an A/B test among the private recipients: a second text, and the share held out (%)
    text_b: str | None = None
    holdout_pct: int = 0

    @property
    def is_test(self) -> bool:
        return bool(self.text_b) or self.holdout_pct > 0

    def texts(self) -> dict[str, str]:
        """The text in each language it is given in: the original under "" first."""
        return {"": self.text} | {
            locale: (self.translations or {})[locale][TEXT]
            for locale in languages(self.translations)
            if (self.translations or {})[locale].get(TEXT)
        }


def content_findings(draft: Draft) -> list[Finding]:
    """Why the draft, offered as content, reads as a promotion: a price, a discount or a buy
    link in any of its languages or its button (a group-buy's button sells); empty when it
    may go as content."""
    links = [draft.button_url] if draft.button_url else []
    found = [f for text in draft.texts().values() for f in reads_as_promotion(text, links=links)]
    if draft.button_groupbuy_id is not None:
        found.append(Finding(BUY_LINK, draft.button_text or f"#{draft.button_groupbuy_id}"))
    return found


def content_rules(rules: PacingRules) -> PacingRules:
    """The pacing of a content post: quiet hours and consent as for a promotion, but no cap
    and no gap (it is not counted, and counts nothing)."""
    return replace(rules, group_week_cap=1_000_000, member_week_cap=1_000_000, min_gap=timedelta(0))


@dataclass(frozen=True, slots=True)
class Target:
    """One chat a broadcast would reach, with the time zone its quiet hours follow."""

    chat_id: int
    kind: str
    timezone: str


@dataclass(frozen=True, slots=True)
class PlannedRow:
    target: Target
    slot: datetime | Skip
    # the end of the target's quiet hours when the broadcast's start falls in them
    quiet_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class QuietWait:
    """Chats of one time zone that wait for the end of their quiet hours."""

    timezone: str
    until: datetime
    chats: int


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What staff see before confirming."""

    recipients: int  # rows that will be sent
    groups: int
    members: int
    skipped: dict[str, int]  # reason -> rows that never will be
    earliest: datetime | None
    latest: datetime | None
    # why deliveries come later than the start: quiet hours per zone (until when), and how
    # many chats wait for the weekly caps or the minimum gap between two posts
    quiet: tuple[QuietWait, ...] = ()
    paced: int = 0


def parse_targets(text: str) -> str:
    """A targets value as stored: groups, tag:<tag>, members, tier:<rank>, segment:<name>,
    community:<chat id> or everyone."""
    value = text.strip().lower()
    if value in (TARGET_GROUPS, TARGET_MEMBERS, TARGET_EVERYONE):
        return value
    kind, _sep, tag = value.partition(":")
    if kind == TARGET_TAG and TAG_PATTERN.match(tag):
        return value
    if kind == TARGET_TIER and tag.isdecimal() and len(tag) <= 2:
        return value
    if kind == TARGET_SEGMENT and tag in SEGMENTS:
        return value
    if kind == TARGET_COMMUNITY and GROUP_ID_PATTERN.match(tag):
        return value
    raise BroadcastError("targets")


async def resolve_targets(
    session: AsyncSession, *, targets: str, default_timezone: str
) -> list[Target]:
    """The chats behind a targets value: open communities and/or members who started the bot
    or answered the opt-in (their consent is checked per row by the pacing policy)."""
    kind, _sep, tag = targets.partition(":")
    found: list[Target] = []
    if kind in (TARGET_GROUPS, TARGET_EVERYONE, TARGET_TAG):
        query = select(col(Community.id), col(Community.timezone)).where(is_open_clause())
        if kind == TARGET_TAG:
            query = query.where(
                col(Community.id).in_(
                    select(col(CommunityTag.community_id)).where(col(CommunityTag.tag) == tag)
                )
            )
        for chat_id, timezone in (await session.execute(query.order_by(col(Community.id)))).all():
            found.append(Target(int(chat_id), RECIPIENT_GROUP, timezone))
    if kind in (TARGET_MEMBERS, TARGET_EVERYONE, TARGET_TIER, TARGET_SEGMENT, TARGET_COMMUNITY):
        members = (
            select(col(Member.id), col(Member.timezone))
            .where(~col(Member.is_bot))
            .where(
                or_(
                    col(Member.started),
                    col(Member.id).in_(select(col(MarketingConsent.member_id))),
                )
            )
            .order_by(col(Member.id))
        )
        if kind == TARGET_TIER:
            members = members.where(
                col(Member.id).in_(
                    select(col(MemberTier.member_id)).where(col(MemberTier.rank) >= int(tag))
                )
            )
        if kind == TARGET_SEGMENT:
            members = members.where(
                col(Member.id).in_(
                    select(col(MemberSegment.member_id)).where(col(MemberSegment.segment) == tag)
                )
            )
        if kind == TARGET_COMMUNITY:
            members = members.where(
                col(Member.id).in_(
                    select(col(CommunityMember.member_id)).where(
                        col(CommunityMember.community_id) == int(tag),
                        col(CommunityMember.left_at).is_(None),
                    )
                )
            )
        rows = [(int(member_id), zone) for member_id, zone in (await session.execute(members))]
        groups = await home_group_zones(session, [m for m, zone in rows if not zone])
        for member_id, zone in rows:
            found.append(
                Target(
                    member_id,
                    RECIPIENT_PRIVATE,
                    member_zone(zone, groups.get(member_id), default_timezone),
                )
            )
    return found


async def _history(
    session: AsyncSession,
    chat_ids: Sequence[int],
    *,
    statuses: Sequence[str] = COUNTED,
    exclude_row: int | None = None,
) -> dict[int, list[datetime]]:
    """Promotional posts per chat: sent ones at their time, planned ones at their slot."""
    history: dict[int, list[datetime]] = {chat_id: [] for chat_id in chat_ids}
    for start in range(0, len(chat_ids), 500):
        chunk = chat_ids[start : start + 500]
        query = select(
            col(BroadcastRecipient.chat_id),
            col(BroadcastRecipient.status),
            col(BroadcastRecipient.not_before),
            col(BroadcastRecipient.sent_at),
        ).where(
            col(BroadcastRecipient.chat_id).in_(chunk),
            col(BroadcastRecipient.status).in_(statuses),
            col(BroadcastRecipient.broadcast_id).in_(
                select(col(Broadcast.id)).where(
                    col(Broadcast.status).not_in((BROADCAST_CANCELLED,)),
                    col(Broadcast.post_kind) != POST_CONTENT,  # content is never counted
                )
            ),
        )
        if exclude_row is not None:
            query = query.where(col(BroadcastRecipient.id) != exclude_row)
        for chat_id, status, not_before, sent_at in (await session.execute(query)).all():
            when = sent_at if status == RECIPIENT_SENT and sent_at is not None else not_before
            history[int(chat_id)].append(when)
        # the group-buy cards the promotion policy let through (a leader's own are counted
        # against the leader cap instead)
        cards = select(col(PromotionPost.chat_id), col(PromotionPost.posted_at)).where(
            col(PromotionPost.chat_id).in_(chunk), col(PromotionPost.kind) != POST_LEADER
        )
        for chat_id, posted_at in (await session.execute(cards)).all():
            history[int(chat_id)].append(posted_at)
        # and the cards the policy scheduled for later, at their due time
        waiting = select(col(ScheduledPost.chat_id), col(ScheduledPost.due_at)).where(
            col(ScheduledPost.chat_id).in_(chunk),
            col(ScheduledPost.kind) != POST_LEADER,
            col(ScheduledPost.status).in_(SCHEDULED_WAITING),
        )
        for chat_id, due_at in (await session.execute(waiting)).all():
            history[int(chat_id)].append(due_at)
    return history


async def history(session: AsyncSession, chat_ids: Sequence[int]) -> dict[int, list[datetime]]:
    """The promotional posts per chat that the weekly cap and the gap count: broadcast rows
    sent or planned, and group-buy cards posted or scheduled (a leader's own group-buys are
    counted apart)."""
    return await _history(session, list(chat_ids))


async def plan_rows(
    session: AsyncSession,
    *,
    targets: str,
    start: datetime,
    rules: PacingRules,
    default_timezone: str,
    post_kind: str = POST_PROMOTION,
) -> list[PlannedRow]:
    """Each target's first allowed slot from `start`, or why it will be skipped (content: its
    quiet hours and consent only)."""
    if post_kind == POST_CONTENT:
        rules = content_rules(rules)
    chats = await resolve_targets(session, targets=targets, default_timezone=default_timezone)
    history = await _history(session, [t.chat_id for t in chats])
    reach = await _reach(session, [t.chat_id for t in chats if t.kind == RECIPIENT_PRIVATE])
    return [
        PlannedRow(
            target,
            next_slot(
                history[target.chat_id],
                start,
                rules,
                target.timezone,
                private=target.kind == RECIPIENT_PRIVATE,
                reach=reach.get(target.chat_id),
            ),
            quiet_end_after(start, rules, target.timezone)
            if in_quiet_hours(start, rules, target.timezone)
            else None,
        )
        for target in chats
    ]


def summarize(rows: Sequence[PlannedRow], *, start: datetime | None = None) -> PlanSummary:
    """Counts and the delivery window of a plan, and why rows wait past `start`."""
    slots = [row.slot for row in rows if isinstance(row.slot, datetime)]
    sendable = [row for row in rows if isinstance(row.slot, datetime)]
    skipped = Counter(row.slot.reason for row in rows if isinstance(row.slot, Skip))
    quiet: dict[str, list[datetime]] = {}
    paced = 0
    for row in sendable:
        assert isinstance(row.slot, datetime)
        if row.quiet_until is not None:
            quiet.setdefault(row.target.timezone, []).append(row.quiet_until)
        if start is not None and row.slot > max(start, row.quiet_until or start) + SLOT_TOLERANCE:
            paced += 1  # later than quiet hours alone would make it: a cap or the gap
    return PlanSummary(
        recipients=len(sendable),
        groups=sum(1 for row in sendable if row.target.kind == RECIPIENT_GROUP),
        members=sum(1 for row in sendable if row.target.kind == RECIPIENT_PRIVATE),
        skipped=dict(sorted(skipped.items())),
        earliest=min(slots, default=None),
        latest=max(slots, default=None),
        quiet=tuple(QuietWait(zone, max(ends), len(ends)) for zone, ends in sorted(quiet.items())),
        paced=paced,
    )


async def create_broadcast(
    session: AsyncSession, *, draft: Draft, rules: PacingRules, default_timezone: str
) -> tuple[int, PlanSummary]:
    """Store the broadcast and its outbox rows (skipped rows keep their reason). Content that
    reads as a promotion is refused (reads_as_promotion): it may go as a promotion."""
    if draft.post_kind not in (POST_PROMOTION, POST_CONTENT):
        raise BroadcastError("bad_kind")
    if draft.post_kind == POST_CONTENT and content_findings(draft):
        raise BroadcastError("reads_as_promotion")
    rows = await plan_rows(
        session,
        targets=draft.targets,
        start=draft.scheduled_at,
        rules=rules,
        default_timezone=default_timezone,
        post_kind=draft.post_kind,
    )
    if not rows:
        raise BroadcastError("no_recipients")
    try:
        translations = clean(draft.translations, (TEXT,))
    except ContentError as exc:
        raise BroadcastError("bad_translation") from exc
    eligible = [
        row.target.chat_id
        for row in rows
        if row.target.kind == RECIPIENT_PRIVATE and isinstance(row.slot, datetime)
    ]
    if draft.is_test and not eligible:
        raise BroadcastError("ab_no_members")
    broadcast = Broadcast(
        text=draft.text,
        translations=translations or None,
        photo_file_id=draft.photo_file_id,
        button_text=draft.button_text,
        button_url=draft.button_url,
        button_groupbuy_id=draft.button_groupbuy_id,
        targets=draft.targets,
        scheduled_at=draft.scheduled_at,
        status=BROADCAST_SCHEDULED,
        created_by=draft.created_by,
        findings=draft.findings,
        override_reason=draft.override_reason,
        paid=draft.paid,
        post_kind=draft.post_kind,
        text_b=draft.text_b or None,
        holdout_pct=draft.holdout_pct,
    )
    session.add(broadcast)
    await session.flush()
    assert broadcast.id is not None
    arms: dict[int, str] = {}
    if draft.is_test:
        arms = split(
            f"broadcast:{broadcast.id}",
            eligible,
            holdout_pct=draft.holdout_pct,
            variants=2 if draft.text_b else 1,
        )
    planned: list[PlannedRow] = []
    for row in rows:
        skip = row.slot if isinstance(row.slot, Skip) else None
        arm = arms.get(row.target.chat_id) if row.target.kind == RECIPIENT_PRIVATE else None
        if arm == VARIANT_HOLDOUT:
            # recorded at the slot it would have had (its window starts there), never sent
            skip = Skip(REASON_HOLDOUT)
        session.add(
            BroadcastRecipient(
                broadcast_id=broadcast.id,
                chat_id=row.target.chat_id,
                kind=row.target.kind,
                status=RECIPIENT_SKIPPED if skip else RECIPIENT_PENDING,
                not_before=row.slot if isinstance(row.slot, datetime) else draft.scheduled_at,
                reason=skip.reason if skip else None,
                variant=arm,
            )
        )
        planned.append(replace(row, slot=skip) if skip else row)
    await session.flush()
    return broadcast.id, summarize(planned, start=draft.scheduled_at)


# ---------------------------------------------------------------- the sender's side ---------


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed row with everything needed to send it."""

    row_id: int
    broadcast_id: int
    chat_id: int
    kind: str
    attempts: int
    text: str
    photo_file_id: str | None
    button_text: str | None
    button_url: str | None
    button_groupbuy_id: int | None
    paid: bool
    locale: str = ""  # the recipient's language (its label and Stop button are in it)


async def claim_next(
    session: AsyncSession,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    rules: PacingRules,
    default_timezone: str,
    default_locale: str = "en",
) -> Delivery | None:
    """Claim the most overdue row of a live broadcast for sending, or None when none is due.

    The policy is checked again at this moment (a /stop, a 403 or another drop since the plan):
    a row that may not go now is deferred to its next slot or skipped, and the next is tried.
    """
    for _ in range(100):  # bounded: each pass settles one row one way or another
        query = (
            select(BroadcastRecipient, Broadcast)
            .join(Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id))
            .where(
                col(BroadcastRecipient.status).in_(CLAIMABLE),
                col(BroadcastRecipient.not_before) <= now,
                col(Broadcast.status).in_(LIVE),
            )
            .order_by(col(BroadcastRecipient.not_before), col(BroadcastRecipient.id))
            .limit(1)
        )
        if dialect_name(session) == "postgresql":
            query = query.with_for_update(of=BroadcastRecipient, skip_locked=True)
        found = (await session.execute(query)).first()
        if found is None:
            return None
        row, broadcast = found
        assert row.id is not None and broadcast.id is not None
        # variant B of an A/B test goes as staff wrote it, in one language
        text_b = broadcast.text_b if row.variant == VARIANT_B else None
        claimed = await session.execute(
            update(BroadcastRecipient)
            .where(
                col(BroadcastRecipient.id) == row.id,
                col(BroadcastRecipient.status).in_(CLAIMABLE),
            )
            .values(
                status=RECIPIENT_SENDING,
                claimed_by=worker[:64],
                claimed_until=now + lease,
                attempts=col(BroadcastRecipient.attempts) + 1,
            )
            .returning(col(BroadcastRecipient.attempts))
        )
        attempts = claimed.scalar_one_or_none()
        if attempts is None:
            continue  # another worker took it between the select and the update
        verdict, locale = await _recheck(session, row, now, rules, default_timezone)
        if isinstance(verdict, Skip):
            await _settle(session, row.id, status=RECIPIENT_SKIPPED, reason=verdict.reason)
            continue
        if verdict > now + SLOT_TOLERANCE:
            await _settle(
                session,
                row.id,
                status=RECIPIENT_DEFERRED,
                reason=REASON_PACING,
                not_before=verdict,
                attempts=attempts - 1,
            )
            continue
        if broadcast.status == BROADCAST_SCHEDULED:
            await session.execute(
                update(Broadcast)
                .where(
                    col(Broadcast.id) == broadcast.id, col(Broadcast.status) == BROADCAST_SCHEDULED
                )
                .values(status=BROADCAST_RUNNING, updated_at=now)
            )
        return Delivery(
            row_id=row.id,
            broadcast_id=broadcast.id,
            chat_id=row.chat_id,
            kind=row.kind,
            attempts=attempts,
            # in the recipient's language: the group's, or the member's
            text=text_b
            or localized(broadcast.text, broadcast.translations, TEXT, locale, default_locale),
            photo_file_id=broadcast.photo_file_id,
            button_text=broadcast.button_text,
            button_url=broadcast.button_url,
            button_groupbuy_id=broadcast.button_groupbuy_id,
            paid=broadcast.paid,
            locale=locale or default_locale,
        )
    return None


async def _recheck(
    session: AsyncSession,
    row: BroadcastRecipient,
    now: datetime,
    rules: PacingRules,
    default_timezone: str,
) -> tuple[datetime | Skip, str]:
    """When the row may go (or why never) and the language of its chat."""
    broadcast = await session.get(Broadcast, row.broadcast_id)
    if broadcast is not None and broadcast.post_kind == POST_CONTENT:
        rules = content_rules(rules)
    # a row that is due now yields only to posts made or in flight; a later plan that it now
    # crowds is deferred in turn when its own time comes
    history = (
        await _history(
            session,
            [row.chat_id],
            statuses=(RECIPIENT_SENT, RECIPIENT_SENDING),
            exclude_row=row.id,
        )
    )[row.chat_id]
    private = row.kind == RECIPIENT_PRIVATE
    if private:
        member = await session.get(Member, row.chat_id)
        own = member.timezone if member else None
        group = None if own else (await home_group_zones(session, [row.chat_id])).get(row.chat_id)
        timezone = member_zone(own, group, default_timezone)
        locale = member.locale if member else ""
        reach = (await _reach(session, [row.chat_id])).get(row.chat_id)
    else:
        community = await session.get(Community, row.chat_id)
        timezone = group_zone(community.timezone if community else None, default_timezone)
        locale = community.locale if community else ""
        reach = None
    return next_slot(history, now, rules, timezone, private=private, reach=reach), locale


async def _settle(
    session: AsyncSession,
    row_id: int,
    *,
    status: str,
    reason: str | None = None,
    not_before: datetime | None = None,
    attempts: int | None = None,
    message_id: int | None = None,
    sent_at: datetime | None = None,
) -> bool:
    values: dict[str, object] = {"status": status, "reason": reason, "claimed_until": None}
    if not_before is not None:
        values["not_before"] = not_before
    if attempts is not None:
        values["attempts"] = attempts
    if message_id is not None:
        values["message_id"] = message_id
    if sent_at is not None:
        values["sent_at"] = sent_at
    result = await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.id) == row_id,
            col(BroadcastRecipient.status) == RECIPIENT_SENDING,
        )
        .values(**values)
    )
    return bool(rowcount(result))


async def mark_sent(session: AsyncSession, *, row_id: int, message_id: int, now: datetime) -> bool:
    """The send succeeded: record the message id (False if the row was no longer in flight)."""
    return await _settle(session, row_id, status=RECIPIENT_SENT, message_id=message_id, sent_at=now)


async def defer(session: AsyncSession, *, row_id: int, until: datetime, reason: str) -> bool:
    """A transient failure or a 429: try again from `until`."""
    return await _settle(
        session, row_id, status=RECIPIENT_DEFERRED, reason=reason[:64], not_before=until
    )


async def skip(session: AsyncSession, *, row_id: int, reason: str) -> bool:
    """The row will never be sent (blocked, bot removed)."""
    return await _settle(session, row_id, status=RECIPIENT_SKIPPED, reason=reason[:64])


async def fail(session: AsyncSession, *, row_id: int, reason: str) -> bool:
    """Give up on the row (bad request, retries exhausted)."""
    return await _settle(session, row_id, status=RECIPIENT_FAILED, reason=reason[:64])


async def release(session: AsyncSession, *, row_ids: Sequence[int]) -> None:
    """Hand back rows claimed but never sent (a worker stopping before their turn)."""
    if not row_ids:
        return
    await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.id).in_(row_ids),
            col(BroadcastRecipient.status) == RECIPIENT_SENDING,
        )
        .values(
            status=RECIPIENT_PENDING,
            claimed_until=None,
            attempts=col(BroadcastRecipient.attempts) - 1,
        )
    )


async def expire_interrupted(session: AsyncSession, *, now: datetime) -> int:
    """Fail rows whose lease ended mid-send: they may have been delivered, so never resend."""
    result = await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.status) == RECIPIENT_SENDING,
            col(BroadcastRecipient.claimed_until) < now,
        )
        .values(status=RECIPIENT_FAILED, reason=REASON_INTERRUPTED, claimed_until=None)
    )
    return rowcount(result)


async def finish_done(session: AsyncSession, *, now: datetime) -> list[int]:
    """Mark live broadcasts whose every row is settled as done; returns their ids."""
    open_rows = select(col(BroadcastRecipient.broadcast_id)).where(
        col(BroadcastRecipient.status).in_((*CLAIMABLE, RECIPIENT_SENDING))
    )
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.status).in_(LIVE), col(Broadcast.id).not_in(open_rows))
        .values(status=BROADCAST_DONE, finished_at=now, updated_at=now)
        .returning(col(Broadcast.id))
    )
    return [int(i) for i in result.scalars() if i is not None]


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest slot of a row still to send in a live broadcast (the sender's next wake)."""
    result = await session.execute(
        select(func.min(col(BroadcastRecipient.not_before)))
        .join(Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id))
        .where(col(BroadcastRecipient.status).in_(CLAIMABLE), col(Broadcast.status).in_(LIVE))
    )
    value: datetime | None = result.scalar_one_or_none()
    return _aware(value)


async def outbox_depth(session: AsyncSession) -> int:
    """Rows of live broadcasts still to send or in flight (the outbox depth operators watch)."""
    result = await session.execute(
        select(func.count())
        .select_from(BroadcastRecipient)
        .join(Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id))
        .where(
            col(BroadcastRecipient.status).in_((*CLAIMABLE, RECIPIENT_SENDING)),
            col(Broadcast.status).in_(LIVE),
        )
    )
    return int(result.scalar_one())


# ---------------------------------------------------------------- control and progress ------

# what staff may do to a broadcast in each status
TRANSITIONS = {
    "pause": ({BROADCAST_SCHEDULED, BROADCAST_RUNNING}, BROADCAST_PAUSED),
    "resume": ({BROADCAST_PAUSED}, BROADCAST_RUNNING),
    "cancel": ({BROADCAST_SCHEDULED, BROADCAST_RUNNING, BROADCAST_PAUSED}, BROADCAST_CANCELLED),
}


async def control(session: AsyncSession, *, broadcast_id: int, action: str, now: datetime) -> str:
    """Pause, resume or cancel; returns the new status. BroadcastError('state') otherwise.

    Cancelling skips every row not yet sent; a row in flight finishes its send.
    """
    allowed, target = TRANSITIONS[action]
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status).in_(allowed))
        .values(status=target, updated_at=now)
    )
    if not rowcount(result):
        if await session.get(Broadcast, broadcast_id) is None:
            raise BroadcastError("not_found")
        raise BroadcastError("state")
    if target == BROADCAST_CANCELLED:
        await session.execute(
            update(BroadcastRecipient)
            .where(
                col(BroadcastRecipient.broadcast_id) == broadcast_id,
                col(BroadcastRecipient.status).in_(CLAIMABLE),
            )
            .values(status=RECIPIENT_SKIPPED, reason=REASON_CANCELLED)
        )
        await session.execute(
            update(Broadcast).where(col(Broadcast.id) == broadcast_id).values(finished_at=now)
        )
    return target


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a broadcast stands."""

    id: int
    status: str
    targets: str
    scheduled_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    next_slot: datetime | None = None  # earliest row still to send
    last_slot: datetime | None = None  # latest row still to send
    finished_at: datetime | None = None
    paid: bool = False  # sent with allow_paid_broadcast
    is_test: bool = False  # an A/B test: variant B and/or a hold-out

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def settled(self) -> int:
        return sum(
            self.counts.get(s, 0) for s in (RECIPIENT_SENT, RECIPIENT_SKIPPED, RECIPIENT_FAILED)
        )

    def estimated_finish(self, now: datetime, per_second: float) -> datetime | None:
        """When the last row should be out: its slot, or the queue at the sending rate."""
        if self.finished_at is not None:
            return self.finished_at
        remaining = self.total - self.settled
        if remaining == 0 or self.last_slot is None:
            return None
        start = max(now, self.next_slot or now)
        by_rate = start + timedelta(seconds=remaining / per_second)
        return max(by_rate, self.last_slot)


async def progress(session: AsyncSession, *, broadcast_id: int) -> Progress | None:
    """Counts per row status and the remaining window of one broadcast."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    counts = {
        status: int(n)
        for status, n in (
            await session.execute(
                select(col(BroadcastRecipient.status), func.count())
                .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
                .group_by(col(BroadcastRecipient.status))
            )
        ).all()
    }
    slots = (
        await session.execute(
            select(
                func.min(col(BroadcastRecipient.not_before)),
                func.max(col(BroadcastRecipient.not_before)),
            ).where(
                col(BroadcastRecipient.broadcast_id) == broadcast_id,
                col(BroadcastRecipient.status).in_((*CLAIMABLE, RECIPIENT_SENDING)),
            )
        )
    ).one()
    first, last = (_aware(value) for value in slots)
    return Progress(
        id=broadcast_id,
        status=broadcast.status,
        targets=broadcast.targets,
        scheduled_at=broadcast.scheduled_at,
        counts=counts,
        next_slot=first,
        last_slot=last,
        finished_at=broadcast.finished_at,
        paid=broadcast.paid,
        is_test=broadcast.is_test,
    )


def _aware(value: datetime | None) -> datetime | None:
    """An aggregate (min, max) skips the column type: SQLite hands back a naive UTC time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def broadcast_page(session: AsyncSession, *, limit: int, offset: int = 0) -> Page[Progress]:
    """A page of the broadcasts staff composed, newest first, with their progress, and how
    many there are (care messages, one per member, are counted in /care instead)."""
    limit, offset = window(limit, offset)
    statement = (
        select(col(Broadcast.id))
        .where(col(Broadcast.targets).not_like(f"{TARGET_CARE}:%"))
        .order_by(col(Broadcast.id).desc())
    )
    total = await count_of(session, statement)
    ids = (await session.execute(statement.limit(limit).offset(offset))).scalars()
    found = [await progress(session, broadcast_id=int(i)) for i in list(ids) if i is not None]
    return Page([p for p in found if p is not None], offset, total)


async def latest_running(session: AsyncSession) -> int | None:
    """The newest broadcast still live or paused (for the CLI without an id)."""
    return (
        await session.execute(
            select(col(Broadcast.id))
            .where(col(Broadcast.status).in_((*LIVE, BROADCAST_PAUSED)))
            .order_by(col(Broadcast.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


# ---------------------------------------------------------------- lifecycle care ------------


async def care_broadcast(session: AsyncSession, *, rule_id: int, text: str, now: datetime) -> int:
    """A broadcast carrying a care rule's message to one member (add them with
    `add_care_recipient` in the same transaction, so a broadcast is never left empty).

    Care goes through the same outbox as any promotion, so consent, caps, gaps and quiet
    hours hold for it too.
    """
    broadcast = Broadcast(
        text=text,
        targets=f"{TARGET_CARE}:{rule_id}",
        scheduled_at=now,
        status=BROADCAST_SCHEDULED,
        created_by=0,
    )
    session.add(broadcast)
    await session.flush()
    assert broadcast.id is not None
    return broadcast.id


async def add_care_recipient(
    session: AsyncSession,
    *,
    broadcast_id: int,
    member_id: int,
    timezone: str,
    now: datetime,
    rules: PacingRules,
    variant: str | None = None,
) -> datetime | Skip:
    """One member's row in a care broadcast, at the first slot the pacing policy allows (or
    skipped with the reason, e.g. not opted in); a member is in a broadcast at most once.
    `variant`: the arm of the care rule's A/B test the member is in."""
    history = await _history(session, [member_id])
    reach = await _reach(session, [member_id])
    slot = next_slot(
        history[member_id], now, rules, timezone, private=True, reach=reach.get(member_id)
    )
    skip = slot if isinstance(slot, Skip) else None
    await session.execute(
        upsert(
            session,
            BroadcastRecipient,
            {
                "broadcast_id": broadcast_id,
                "chat_id": member_id,
                "kind": RECIPIENT_PRIVATE,
                "status": RECIPIENT_SKIPPED if skip else RECIPIENT_PENDING,
                "not_before": now if skip else slot,
                "reason": skip.reason if skip else None,
                "attempts": 0,
                "variant": variant,
            },
            keys=["broadcast_id", "chat_id"],
        )
    )
    return slot


async def selling_reminder(
    session: AsyncSession,
    *,
    member_id: int,
    topic: str,
    text: str,
    timezone: str,
    now: datetime,
    rules: PacingRules,
) -> datetime | Skip:
    """A reminder that sells ("an order of ... keeps your tier"), already in the member's
    language, as a one-member promotion through the outbox: consent, the member's cap and
    quiet hours hold, and it carries the ad label and the Stop button. Returns its slot, or
    why it never goes (e.g. not opted in)."""
    broadcast = Broadcast(
        text=text,
        targets=f"{TARGET_CARE}:{topic}"[:80],
        scheduled_at=now,
        status=BROADCAST_SCHEDULED,
        created_by=0,
    )
    session.add(broadcast)
    await session.flush()
    assert broadcast.id is not None
    return await add_care_recipient(
        session,
        broadcast_id=broadcast.id,
        member_id=member_id,
        timezone=timezone,
        now=now,
        rules=rules,
    )
