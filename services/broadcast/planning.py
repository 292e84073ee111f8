"""Planning a broadcast: the draft and its content findings, its targets resolved into one
outbox row per chat, each given the first slot the pacing policy allows (or skipped with the
reason), and the plan's summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import (
    BROADCAST_CANCELLED,
    BROADCAST_SCHEDULED,
    COUNTED,
    POST_CONTENT,
    POST_PROMOTION,
    RECIPIENT_GROUP,
    RECIPIENT_PENDING,
    RECIPIENT_PRIVATE,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    TARGET_COMMUNITY,
    TARGET_EVERYONE,
    TARGET_GROUPS,
    TARGET_MEMBERS,
    TARGET_SEGMENT,
    TARGET_TAG,
    TARGET_TIER,
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
from services.broadcast.reach import _reach
from services.broadcast.values import (
    GROUP_ID_PATTERN,
    REASON_HOLDOUT,
    SLOT_TOLERANCE,
    TAG_PATTERN,
    BroadcastError,
)
from services.community import is_open_clause
from services.compliance import BUY_LINK, Finding, reads_as_promotion
from services.content import TEXT, ContentError, ReadTranslations, clean, languages
from services.pacing import PacingRules, Skip, in_quiet_hours, next_slot, quiet_end_after
from services.zones import home_group_zones, member_zone


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
