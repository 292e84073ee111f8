"""Groups the brand approves: a group whose bot staff or the owner added is approved at once;
any other waits for staff, who approve or decline it, and may later suspend and reinstate it.
Only an open group (approved, with the bot in it) gets group-buys, drops, points, check-ins,
referral rewards and commission (`CommunityView.is_open`, checked by handlers.filters.OpenGroup
and by `services.groupbuy.open_groupbuy`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import (
    APPROVAL_APPROVED,
    APPROVAL_DECLINED,
    APPROVAL_PENDING,
    APPROVAL_SUSPENDED,
    COMMUNITY_ACTIVE,
    Community,
)
from models.groupbuy import GROUPBUY_OPEN, GroupBuy, GroupBuyPost
from services.audit import record_action
from services.community import ChatInfo, CommunityView, get_community, record_community
from services.db import rowcount
from services.errors import Refused
from services.groupbuy import Closing, GroupBuyError, call_off_groupbuy
from services.member import MemberView, get_member
from services.paging import Page, count_of, window
from services.role import is_staff, staff_locales

# what staff may do to a group, and the approval states each action starts from
APPROVE = "approve"
DECLINE = "decline"
SUSPEND = "suspend"
REINSTATE = "reinstate"
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (from states, to state)
    APPROVE: ((APPROVAL_PENDING, APPROVAL_DECLINED), APPROVAL_APPROVED),
    DECLINE: ((APPROVAL_PENDING,), APPROVAL_DECLINED),
    SUSPEND: ((APPROVAL_APPROVED,), APPROVAL_SUSPENDED),
    REINSTATE: ((APPROVAL_SUSPENDED,), APPROVAL_APPROVED),
}
# the audit log's name of each decision
AUDIT_ACTIONS = {
    APPROVE: "group.approved",
    DECLINE: "group.declined",
    SUSPEND: "group.suspended",
    REINSTATE: "group.reinstated",
}
# the order /groups lists the states in
LISTED_STATES = (APPROVAL_PENDING, APPROVAL_APPROVED, APPROVAL_SUSPENDED, APPROVAL_DECLINED)


class GroupError(Refused):
    """A decision that cannot be made. Reasons: unknown (no such group), left (the bot is no
    longer in it), already (it is in that state already), wrong_state (the action does not
    fit its state, named in `state`), bad_action."""

    def __init__(self, reason: str, detail: str = "", *, state: str = "") -> None:
        super().__init__(reason, detail)
        self.state = state


class GroupRefusal(StrEnum):
    """The reasons a GroupError gives (its `reason`); the handlers map each to a message."""

    BAD_ACTION = "bad_action"
    UNKNOWN = "unknown"
    LEFT = "left"
    ALREADY = "already"
    WRONG_STATE = "wrong_state"


@dataclass(frozen=True, slots=True)
class Reviewer:
    """A staff member or the owner, to send a review card to, in their language."""

    member_id: int
    locale: str


@dataclass(frozen=True, slots=True)
class BotAdded:
    """What adding the bot to a group did."""

    community: CommunityView
    added_by: MemberView | None
    approved_now: bool  # staff or the owner added it: approved by that
    reviewers: tuple[Reviewer, ...]  # pending: the staff to send the review card to


@dataclass(frozen=True, slots=True)
class GroupLine:
    """A group as /groups lists it."""

    id: int
    title: str
    approval: str
    open_groupbuys: int  # posted in this group only (suspending it cancels them)


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision staff made on a group, with the group-buys a suspension cancelled."""

    community: CommunityView
    action: str
    previous: str
    closings: tuple[Closing, ...] = ()


async def bot_added(
    session: AsyncSession,
    *,
    chat: ChatInfo,
    added_by: int | None,
    owner_ids: Iterable[int],
    default_locale: str,
    default_timezone: str,
    now: datetime,
) -> BotAdded:
    """The bot was added to a group: registered, and approved at once when staff or the owner
    added it (a pending or declined group; a suspended one stays so until reinstated). Any
    other group stays as it is; a pending one is to be reviewed by every staff member."""
    community = await record_community(
        session,
        chat=chat,
        default_locale=default_locale,
        default_timezone=default_timezone,
        joined=True,
    )
    await session.execute(
        update(Community).where(col(Community.id) == chat.id).values(added_by=added_by)
    )
    owners = frozenset(owner_ids)
    trusted = added_by is not None and (added_by in owners or await is_staff(session, added_by))
    approved_now = False
    if trusted and added_by is not None:
        approved_now = await _move(
            session,
            community_id=chat.id,
            action=APPROVE,
            actor_id=added_by,
            now=now,
            detail="added the bot",
        )
    community = await get_community(session, chat.id) or community
    reviewers: tuple[Reviewer, ...] = ()
    if community.approval == APPROVAL_PENDING:
        reviewers = tuple(
            Reviewer(member_id, locale)
            for member_id, locale in await staff_locales(
                session, owner_ids=owners, default_locale=default_locale
            )
        )
    adder = await get_member(session, added_by) if added_by is not None else None
    return BotAdded(community, adder, approved_now, reviewers)


async def _move(
    session: AsyncSession,
    *,
    community_id: int,
    action: str,
    actor_id: int,
    now: datetime,
    detail: str = "",
) -> bool:
    """Moves the group's approval by `action` in one conditional UPDATE (its from-state, the
    bot in the group) and audits it; False when the group was not in a state to move."""
    sources, target = ACTIONS[action]
    moved = await session.execute(
        update(Community)
        .where(
            col(Community.id) == community_id,
            col(Community.status) == COMMUNITY_ACTIVE,
            col(Community.approval).in_(sources),
        )
        .values(approval=target, approval_by=actor_id, approval_at=now, updated_at=now)
    )
    if rowcount(moved) != 1:
        return False
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=community_id,
        action=AUDIT_ACTIONS[action],
        allowed=True,
        now=now,
        required_role="staff",
        detail=detail,
    )
    return True


async def decide(
    session: AsyncSession,
    *,
    community_id: int,
    action: str,
    actor_id: int,
    now: datetime,
    tier_currency: str,
    default_locale: str,
) -> Decision:
    """Staff approve, decline, suspend or reinstate a group, once: a second press, a group the
    bot left or a state the action does not fit is refused (GroupError) and changes nothing.
    Suspending cancels the group's own open group-buys as a failed one is (reservations
    released, prepayments refunded, Stars through the refunder); a cross-group drop goes on
    in its other groups, without this one."""
    if action not in ACTIONS:
        raise GroupError(GroupRefusal.BAD_ACTION, action)
    before = await get_community(session, community_id)
    if before is None:
        raise GroupError(GroupRefusal.UNKNOWN, str(community_id))
    moved = await _move(
        session, community_id=community_id, action=action, actor_id=actor_id, now=now
    )
    if not moved:
        current = await get_community(session, community_id) or before
        if current.status != COMMUNITY_ACTIVE:
            raise GroupError(GroupRefusal.LEFT, str(community_id), state=current.approval)
        if current.approval == ACTIONS[action][1]:
            raise GroupError(GroupRefusal.ALREADY, str(community_id), state=current.approval)
        raise GroupError(GroupRefusal.WRONG_STATE, str(community_id), state=current.approval)
    closings: list[Closing] = []
    if action == SUSPEND:
        for groupbuy_id in await own_open_groupbuys(session, community_id=community_id):
            try:
                closing = await call_off_groupbuy(
                    session,
                    groupbuy_id=groupbuy_id,
                    now=now,
                    tier_currency=tier_currency,
                    default_locale=default_locale,
                    default_timezone=before.timezone,
                )
            except GroupBuyError:  # closed meanwhile (its deadline, its leader): told then
                continue
            closings.append(closing)
    after = await get_community(session, community_id) or before
    return Decision(after, action, before.approval, tuple(closings))


async def own_open_groupbuys(session: AsyncSession, *, community_id: int) -> list[int]:
    """Open group-buys posted in this group and in no other (a cross-group drop is not its
    own), oldest first."""
    elsewhere = select(col(GroupBuyPost.groupbuy_id)).where(
        col(GroupBuyPost.chat_id) != community_id
    )
    rows = await session.execute(
        select(col(GroupBuy.id))
        .join(GroupBuyPost, col(GroupBuyPost.groupbuy_id) == col(GroupBuy.id))
        .where(
            col(GroupBuyPost.chat_id) == community_id,
            col(GroupBuy.status) == GROUPBUY_OPEN,
            col(GroupBuy.id).not_in(elsewhere),
        )
        .order_by(col(GroupBuy.id))
    )
    return [int(i) for i in rows.scalars().all() if i is not None]


async def list_groups(session: AsyncSession, *, limit: int, offset: int = 0) -> Page[GroupLine]:
    """A page of the groups the bot is in, by approval state (pending first) and title, and
    how many there are."""
    limit, offset = window(limit, offset)
    rank = case(
        {state: index for index, state in enumerate(LISTED_STATES)},
        value=col(Community.approval),
        else_=len(LISTED_STATES),
    )
    statement = (
        select(col(Community.id), col(Community.title), col(Community.approval))
        .where(col(Community.status) == COMMUNITY_ACTIVE)
        .order_by(rank, col(Community.title), col(Community.id))
    )
    total = await count_of(session, statement)
    rows = await session.execute(statement.limit(limit).offset(offset))
    lines = []
    for community_id, title, approval in rows.all():
        own = await own_open_groupbuys(session, community_id=int(community_id))
        lines.append(GroupLine(int(community_id), title, approval, len(own)))
    return Page(lines, offset, total)
