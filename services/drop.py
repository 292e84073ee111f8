"""Targeted drops: which open groups a staff drop goes to (all, those with a tag, or chosen
ones, narrowed to one level: open, VIP or core), the pickup text each of them shows, and the
preview staff read before Confirm: the recipients, the first and last delivery times under
the promotion policy, and each group's weekly cap use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import CommunityTag
from models.community import LEVELS, Community
from services.broadcast import TAG_PATTERN
from services.broadcast import history as promotion_history
from services.community import is_open_clause
from services.pacing import WEEK, PacingRules
from services.pickup import points_of
from services.policy import KIND_DROP, decide
from services.validation import NumberRefused, number

# DropTarget.kind values
TO_ALL = "all"  # every open group
TO_TAG = "tag"  # the open groups with a tag
TO_CHOSEN = "groups"  # the open groups staff picked

# the words the one-line option `to=` (发往=) takes for "every group"
ALL_WORDS = frozenset({"all", "groups", "全部", "所有", "所有群", "全部群"})
TAG_PREFIXES = ("#", "tag:", "标签:", "标签：")
PICKUP_MAX = 255  # GroupBuyPost.pickup


class DropError(Exception):
    """A drop target that cannot be read (`reason`: target, tag, no_groups)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class DropRefusal(StrEnum):
    """The reasons a DropError gives (its `reason`); the handlers map each to a message."""

    TAG = "tag"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class DropTarget:
    """Where a drop goes."""

    kind: str = TO_ALL
    tag: str = ""  # TO_TAG: the tag as stored (lower case)
    chat_ids: tuple[int, ...] = ()  # TO_CHOSEN: the groups, in the order picked
    level: str = ""  # only the groups of this level (models.community.LEVELS); "": any level

    def pack(self) -> str:
        """The target as kept in a wizard's state: all, tag:<tag>, groups:<id>,<id>, each
        followed by |<level> when it is narrowed to a level."""
        packed = TO_ALL
        if self.kind == TO_TAG:
            packed = f"{TO_TAG}:{self.tag}"
        if self.kind == TO_CHOSEN:
            packed = f"{TO_CHOSEN}:" + ",".join(str(chat_id) for chat_id in self.chat_ids)
        return f"{packed}|{self.level}" if self.level else packed

    @classmethod
    def unpack(cls, text: str) -> DropTarget:
        """The target `pack` wrote."""
        text, _bar, level = text.partition("|")
        kind, _sep, rest = text.partition(":")
        if kind == TO_TAG:
            return cls(TO_TAG, tag=rest, level=level)
        if kind == TO_CHOSEN:
            chat_ids = tuple(int(part) for part in rest.split(",") if part)
            return cls(TO_CHOSEN, chat_ids=chat_ids, level=level)
        return cls(level=level)


def parse_target(text: str) -> DropTarget:
    """The one-line option's value: all / 全部, #tea / tag:tea / 标签:tea, or group ids
    separated by commas (-1001,-1002); DropError('target' or 'tag') otherwise."""
    value = text.strip().lower()
    if value in ALL_WORDS:
        return DropTarget()
    for prefix in TAG_PREFIXES:
        if value.startswith(prefix):
            tag = value.removeprefix(prefix).strip()
            if not TAG_PATTERN.match(tag):
                raise DropError(DropRefusal.TAG, tag)
            return DropTarget(TO_TAG, tag=tag)
    chat_ids: list[int] = []
    for part in value.replace("，", ",").split(","):
        word = part.strip()
        # group ids are negative: -1001234567890
        try:
            size = number(word.removeprefix("-"), prefix="") if word.startswith("-") else None
        except NumberRefused:
            size = None
        if not size:
            raise DropError(DropRefusal.TARGET, word)
        chat_ids.append(-size)
    return DropTarget(TO_CHOSEN, chat_ids=tuple(dict.fromkeys(chat_ids)))


async def target_groups(session: AsyncSession, target: DropTarget) -> list[int]:
    """The open groups a drop to `target` reaches, by id (chosen ones: as picked, closed ones
    left out; a level: only the groups of that level)."""
    query = select(col(Community.id)).where(is_open_clause())
    if target.level in LEVELS:
        query = query.where(col(Community.level) == target.level)
    if target.kind == TO_TAG:
        query = query.where(
            col(Community.id).in_(
                select(col(CommunityTag.community_id)).where(col(CommunityTag.tag) == target.tag)
            )
        )
    if target.kind == TO_CHOSEN:
        query = query.where(col(Community.id).in_(list(target.chat_ids)))
    found = [int(chat_id) for chat_id in (await session.scalars(query.order_by(col(Community.id))))]
    if target.kind == TO_CHOSEN:
        return [chat_id for chat_id in target.chat_ids if chat_id in found]
    return found


async def group_pickups(
    session: AsyncSession, chat_ids: Sequence[int], *, given: Mapping[int, str] | None = None
) -> dict[int, str]:
    """Each group's own pickup text: the one staff gave for it, else its first active pickup
    point (name, address, hours); groups with neither are left out (they show the drop's)."""
    found: dict[int, str] = {}
    for point in await points_of(session, community_ids=frozenset(chat_ids)):
        if point.community_id not in found:
            text = ", ".join(part for part in (point.name, point.address, point.hours) if part)
            found[point.community_id] = text[:PICKUP_MAX]
    for chat_id, text in (given or {}).items():
        if chat_id in chat_ids and text.strip():
            found[chat_id] = text.strip()[:PICKUP_MAX]
    return found


@dataclass(frozen=True, slots=True)
class GroupPreview:
    """One recipient of a drop, as the preview shows it."""

    chat_id: int
    title: str
    timezone: str
    at: datetime | None  # when its card may go out (None: never, a cap of 0)
    reason: str | None  # services.policy.WAIT_*, None: now
    used: int  # promotions in its last 7 days
    cap: int
    pickup: str  # its own pickup text ("" : the drop's)


@dataclass(frozen=True, slots=True)
class DropPreview:
    """What a drop would do: its recipients and the window its cards go out in."""

    groups: tuple[GroupPreview, ...]
    first: datetime | None
    last: datetime | None


async def preview(
    session: AsyncSession,
    *,
    chat_ids: Sequence[int],
    now: datetime,
    rules: PacingRules,
    default_timezone: str,
    pickups: Mapping[int, str] | None = None,
) -> DropPreview:
    """The recipients of a drop to `chat_ids` with their first allowed moment (quiet hours in
    each group's zone, the gap, the cap), their cap use, and the first and last of those
    moments."""
    verdicts = await decide(
        session,
        kind=KIND_DROP,
        chat_ids=chat_ids,
        now=now,
        rules=rules,
        default_timezone=default_timezone,
    )
    titles = await group_titles(session, chat_ids)
    stamps = await promotion_history(session, chat_ids)
    groups = tuple(
        GroupPreview(
            verdict.chat_id,
            titles.get(verdict.chat_id, ""),
            verdict.timezone,
            verdict.at,
            verdict.reason,
            sum(1 for stamp in stamps.get(verdict.chat_id, []) if now - WEEK < stamp <= now),
            rules.group_week_cap,
            (pickups or {}).get(verdict.chat_id, ""),
        )
        for verdict in verdicts
    )
    moments = [group.at for group in groups if group.at is not None]
    return DropPreview(groups, min(moments, default=None), max(moments, default=None))


async def open_tags(session: AsyncSession) -> list[str]:
    """The tags of the open groups, sorted (the drop wizard offers them)."""
    rows = await session.scalars(
        select(col(CommunityTag.tag))
        .join(Community, col(Community.id) == col(CommunityTag.community_id))
        .where(is_open_clause())
        .distinct()
        .order_by(col(CommunityTag.tag))
    )
    return list(rows)


async def group_titles(session: AsyncSession, chat_ids: Sequence[int]) -> dict[int, str]:
    """The title of each of these groups."""
    rows = await session.execute(
        select(col(Community.id), col(Community.title)).where(col(Community.id).in_(list(chat_ids)))
    )
    return {int(chat_id): title for chat_id, title in rows.all()}
