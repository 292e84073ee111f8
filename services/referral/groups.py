"""The groups a referred newcomer is offered to join: their referrer's open groups, each with
its leader's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import Community, CommunityMember
from models.referral import Referral
from models.role import LEADER_ACTIVE, LeaderDesignation
from services.community import is_open_clause
from services.member import get_member


@dataclass(frozen=True, slots=True)
class GroupToJoin:
    """A group offered to a newcomer, and whom to ask when the bot cannot make a link."""

    community_id: int
    title: str
    leader_name: str | None  # its leader (the longest serving), None when it has none


@dataclass(frozen=True, slots=True)
class GroupsToJoin:
    """Where a newcomer from a referral can go, and whose invite links take them there."""

    link_owner: int  # the inviter (their links count for them), or the newcomer of a campaign
    of_inviter: bool  # True: the inviter's own group (one); False: open groups to choose from
    groups: tuple[GroupToJoin, ...]


async def _referrer_of(session: AsyncSession, member_id: int) -> int | None:
    found = await session.execute(
        select(col(Referral.referrer_id)).where(col(Referral.invitee_id) == member_id)
    )
    referrer = found.scalar_one_or_none()
    return int(referrer) if referrer is not None else None


async def _leader_name(session: AsyncSession, community_id: int) -> str | None:
    found = await session.execute(
        select(col(LeaderDesignation.member_id))
        .where(
            col(LeaderDesignation.community_id) == community_id,
            col(LeaderDesignation.status) == LEADER_ACTIVE,
        )
        .order_by(col(LeaderDesignation.designated_at), col(LeaderDesignation.id))
        .limit(1)
    )
    leader_id = found.scalar_one_or_none()
    leader = await get_member(session, int(leader_id)) if leader_id is not None else None
    return leader.display_name if leader is not None else None


async def _open_groups_of(session: AsyncSession, member_id: int, *, limit: int) -> list[Any]:
    """Open groups the member is in (as far as the bot saw): those they lead first, then the
    one they were last seen in."""
    leads = (
        select(col(LeaderDesignation.community_id))
        .where(
            col(LeaderDesignation.member_id) == member_id,
            col(LeaderDesignation.status) == LEADER_ACTIVE,
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(col(Community.id), col(Community.title))
        .join(CommunityMember, col(CommunityMember.community_id) == col(Community.id))
        .where(
            col(CommunityMember.member_id) == member_id,
            col(CommunityMember.left_at).is_(None),
            is_open_clause(),
        )
        .order_by(
            col(Community.id).in_(leads).desc(),
            col(CommunityMember.last_seen_at).desc(),
            col(Community.id),
        )
        .limit(limit)
    )
    return list(rows.all())


async def groups_to_join(
    session: AsyncSession, *, invitee_id: int, limit: int = 10
) -> GroupsToJoin:
    """Where a newcomer can go: the open group their inviter is in, or else the brand's open
    groups (by title, those the newcomer is not in already)."""
    referrer_id = await _referrer_of(session, invitee_id)
    rows = await _open_groups_of(session, referrer_id, limit=1) if referrer_id else []
    of_inviter = bool(rows)
    if not rows:
        already = select(col(CommunityMember.community_id)).where(
            col(CommunityMember.member_id) == invitee_id, col(CommunityMember.left_at).is_(None)
        )
        found = await session.execute(
            select(col(Community.id), col(Community.title))
            .where(is_open_clause(), col(Community.id).not_in(already))
            .order_by(col(Community.title), col(Community.id))
            .limit(limit)
        )
        rows = list(found.all())
    groups = [
        GroupToJoin(int(chat_id), str(title), await _leader_name(session, int(chat_id)))
        for chat_id, title in rows
    ]
    return GroupsToJoin(referrer_id or invitee_id, of_inviter, tuple(groups))


async def group_to_join(
    session: AsyncSession, *, invitee_id: int, community_id: int
) -> tuple[int, GroupToJoin] | None:
    """The open group a newcomer chose, with whose link takes them there; None when the group
    is not open (any more)."""
    found = await session.execute(
        select(col(Community.title)).where(col(Community.id) == community_id, is_open_clause())
    )
    title = found.scalar_one_or_none()
    if title is None:
        return None
    owner = await _referrer_of(session, invitee_id) or invitee_id
    return owner, GroupToJoin(community_id, str(title), await _leader_name(session, community_id))
