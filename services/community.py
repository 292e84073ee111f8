"""Communities: groups registered when the bot joins, each with a locale and a time zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import TelegramId, UTCDateTime, utcnow
from models.community import (
    APPROVAL_APPROVED,
    APPROVAL_PENDING,
    COMMUNITY_ACTIVE,
    COMMUNITY_LEFT,
    Community,
    CommunityMember,
)
from models.member import Member
from models.role import StaffGrant
from services.db import (
    RELAXES_COMMIT,
    bookkeeping,
    dialect_name,
    execute_rows,
    insert_in,
    prepared,
    table_of,
    upsert,
)
from services.errors import Refused
from services.idempotency import Claim, claim_update, claimed_cte
from services.member import (
    LOCALES,
    MEMBER_COLUMNS,
    MemberView,
    UserInfo,
    member_unchanged,
    member_upsert,
    record_member,
    refresh_member,
    remember_staff,
)
from services.paging import Page, page_of
from services.parsing import Unreadable, parse_zone
from services.validation import number


class InvalidTimezone(Refused):
    """The text (`detail`) is not a time zone the bot reads (reason "timezone")."""

    def __init__(self, text: str) -> None:
        super().__init__("timezone", text)


class InvalidLocale(Refused):
    """The text (`detail`) is not one of the bot's locales (reason "locale")."""

    def __init__(self, text: str) -> None:
        super().__init__("locale", text)


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """What Telegram tells about a group chat."""

    id: int
    title: str
    chat_type: str


@dataclass(frozen=True, slots=True)
class CommunityView:
    """A community as handlers see it."""

    id: int
    title: str
    locale: str
    timezone: str
    status: str
    member_day: int = 0  # day of the month of the member day (会员日); 0: none
    approval: str = APPROVAL_PENDING  # models.community APPROVAL_*

    @property
    def is_open(self) -> bool:
        """True when the brand does business here: approved, and the bot is in it."""
        return self.approval == APPROVAL_APPROVED and self.status == COMMUNITY_ACTIVE


def _view(row: Community) -> CommunityView:
    return _community_view(row, chat_id=row.id)


# the community columns `record_community` compares and returns (read before any write)
COMMUNITY_COLUMNS: tuple[Any, ...] = (
    col(Community.title),
    col(Community.chat_type),
    col(Community.locale),
    col(Community.timezone),
    col(Community.status),
    col(Community.member_day),
    col(Community.approval),
)
# how stale a member's last_seen_at in a group may get before a sighting writes it again: a
# member active in a group costs no write for every message
SEEN_REFRESH = timedelta(hours=1)


def _community_unchanged(row: Any, *, chat: ChatInfo, joined: bool) -> bool:
    """True when recording the chat again would leave the stored row as it is."""
    return (
        row.title == chat.title[:255]
        and row.chat_type == chat.chat_type
        and not (joined and row.status != COMMUNITY_ACTIVE)
    )


def _community_view(row: Any, *, chat_id: int) -> CommunityView:
    return CommunityView(
        id=chat_id,
        title=row.title,
        locale=row.locale,
        timezone=row.timezone,
        status=row.status,
        member_day=row.member_day,
        approval=row.approval,
    )


async def record_community(
    session: AsyncSession,
    *,
    chat: ChatInfo,
    default_locale: str,
    default_timezone: str,
    joined: bool = False,
) -> CommunityView:
    """Register the group on first sight with the defaults, or refresh its title.

    `joined` marks the bot (re)added to the group, which makes a left community active again.
    A known group whose row would not change costs one SELECT and no write.
    """
    known = (
        await session.execute(select(*COMMUNITY_COLUMNS).where(col(Community.id) == chat.id))
    ).one_or_none()
    return await refresh_community(
        session,
        known=known,
        chat=chat,
        default_locale=default_locale,
        default_timezone=default_timezone,
        joined=joined,
    )


async def refresh_community(
    session: AsyncSession,
    *,
    known: Any,
    chat: ChatInfo,
    default_locale: str,
    default_timezone: str,
    joined: bool = False,
) -> CommunityView:
    """`record_community` given the group's row as just read (COMMUNITY_COLUMNS; None: no row):
    written only when something changed."""
    if known is not None and _community_unchanged(known, chat=chat, joined=joined):
        return _community_view(known, chat_id=chat.id)
    now = utcnow()
    title = chat.title[:255]
    values = {
        "id": chat.id,
        "title": title,
        "chat_type": chat.chat_type,
        "locale": default_locale,
        "timezone": default_timezone,
        "status": COMMUNITY_ACTIVE,
        # a new group waits for staff's review (services.groups approves it at once when
        # staff or the owner added the bot)
        "approval": APPROVAL_PENDING,
        "created_at": now,
        "updated_at": now,
    }
    changes: dict[str, object] = {"title": title, "chat_type": chat.chat_type}
    if joined:
        changes["status"] = COMMUNITY_ACTIVE
        changes["updated_at"] = now
    statement = upsert(session, Community, values, keys=["id"], update=changes).returning(
        col(Community.locale),
        col(Community.timezone),
        col(Community.status),
        col(Community.member_day),
        col(Community.approval),
    )
    if not joined:  # the bot added to the group is more than bookkeeping
        statement = bookkeeping(statement)
    row = (await execute_rows(session, statement)).one()
    return CommunityView(
        id=chat.id,
        title=title,
        locale=row.locale,
        timezone=row.timezone,
        status=row.status,
        member_day=row.member_day,
        approval=row.approval,
    )


async def mark_left(session: AsyncSession, *, community_id: int) -> None:
    """The bot was removed from the group: keep its history, stop treating it as active."""
    await session.execute(
        update(Community)
        .where(col(Community.id) == community_id)
        .values(status=COMMUNITY_LEFT, updated_at=utcnow())
    )


def is_open_clause() -> Any:
    """The SQL condition of `CommunityView.is_open`: approved, and the bot is in the group."""
    return and_(
        col(Community.status) == COMMUNITY_ACTIVE, col(Community.approval) == APPROVAL_APPROVED
    )


async def open_community_ids(session: AsyncSession, *, level: str = "") -> list[int]:
    """Every group open for business: the bot is in it and staff approved it (drops, polls
    and broadcasts to groups go to these only); with `level`, only the groups of that level."""
    query = select(col(Community.id)).where(is_open_clause())
    if level:
        query = query.where(col(Community.level) == level)
    rows = await session.execute(query.order_by(col(Community.id)))
    return [int(i) for i in rows.scalars().all()]


async def open_among(session: AsyncSession, chat_ids: list[int]) -> list[int]:
    """The chats among `chat_ids` that are groups open for business, in the order given.

    Their rows stay share-locked (PostgreSQL) until the caller's transaction ends, so a
    suspension running at the same time waits and then sees what the caller opened there."""
    if not chat_ids:
        return []
    rows = await session.execute(
        select(col(Community.id))
        .where(col(Community.id).in_(chat_ids), is_open_clause())
        .order_by(col(Community.id))  # locked in one order
        .with_for_update(read=True)
    )
    found = {int(i) for i in rows.scalars().all()}
    return [chat for chat in dict.fromkeys(chat_ids) if chat in found]


async def open_communities(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> Page[CommunityView]:
    """A page of the groups open for business, by title, and how many there are (the
    broadcast wizard lists them)."""
    statement = (
        select(Community).where(is_open_clause()).order_by(col(Community.title), col(Community.id))
    )
    return await page_of(session, statement, _view, limit=limit, offset=offset)


async def seen_in_community(
    session: AsyncSession, *, community_id: int, member_ids: list[int], now: datetime
) -> None:
    """The members wrote, pressed a button or joined in the group: they are in it (again), as
    of `now` (the domain clock, so that sightings agree with the rest of the store).

    The member and community rows must exist (the context middleware records them first). A
    member who asked to be forgotten is not recorded while they only appear in groups, as
    their name is not (services.member.record_member).
    """
    if not member_ids:
        return
    values: dict[str, Any] = {"community_id": community_id, "now": now}
    if len(member_ids) == 1:  # the common case, an update's member: no list to expand
        await execute_rows(session, _SEEN_ONE(session), values | {"member_id": member_ids[0]})
        return
    await session.execute(_SEEN_IN_COMMUNITY(session), values | {"member_ids": member_ids})


def _seen_in_community(dialect: str) -> Any:
    return bookkeeping(
        _sightings(
            dialect,
            table_of(Member),
            col(Member.id).in_(bindparam("member_ids", expanding=True)),
        )
    )


_SEEN_ONE = prepared(
    lambda dialect: bookkeeping(
        _sightings(dialect, table_of(Member), col(Member.id) == bindparam("member_id"))
    )
)


def _sightings(dialect: str, members: Any, *where: Any) -> Any:
    """The sightings (`community_id`, `now`) of the `members` rows (the member table, or the
    rows an upsert returned) that `where` picks: a forgotten member who only appears in
    groups is not recorded."""
    moment = bindparam("now", type_=UTCDateTime())
    rows = select(
        bindparam("community_id", type_=TelegramId).label("community_id"),
        members.c.id,
        moment.label("first_seen_at"),
        moment.label("last_seen_at"),
    ).where(*where, or_(members.c.forgotten_at.is_(None), members.c.started))
    statement = insert_in(dialect, table_of(CommunityMember)).from_select(
        ["community_id", "member_id", "first_seen_at", "last_seen_at"], rows
    )
    return statement.on_conflict_do_update(
        index_elements=["community_id", "member_id"],
        set_={"last_seen_at": statement.excluded.last_seen_at, "left_at": None},
    )


_SEEN_IN_COMMUNITY = prepared(_seen_in_community)


def _member_seen(dialect: str) -> Any:
    """PostgreSQL: the member's upsert (services.member) and their sighting in the group, in
    one statement (a WITH); returns what the upsert returns. The group's row must exist."""
    upserted = member_upsert(dialect).returning(col(Member.id), col(Member.forgotten_at))
    member = upserted.cte("member_row")
    return bookkeeping(select(*member.c).add_cte(_sightings(dialect, member).cte("sighting")))


_MEMBER_SEEN = prepared(_member_seen)


@dataclass(frozen=True, slots=True)
class UpdateContext:
    """Who and where an update comes from, as recorded; `claimed` False: the update was
    handled before (nothing was recorded)."""

    member: MemberView | None
    community: CommunityView | None
    claimed: bool = True


NOT_CLAIMED = UpdateContext(None, None, claimed=False)


async def record_context(
    session: AsyncSession,
    *,
    user: UserInfo | None,
    chat: ChatInfo | None,
    started: bool,
    default_locale: str,
    default_timezone: str,
    now: datetime,
    claim: Claim | None = None,
) -> UpdateContext:
    """Claim the update (`claim`, see services.idempotency) and record the member (`user`)
    and the group (`chat`) behind it, and that the member is in the group: what
    `record_member`, `record_community` and `seen_in_community` do, read in one SELECT, so that
    a known member in a known group costs that one statement and a write only for what changed
    (or a last sighting older than SEEN_REFRESH). On PostgreSQL the claim is part of that
    statement; on SQLite (or with nobody to record) it is a statement of its own, first. An
    update claimed before records nothing and comes back `NOT_CLAIMED`."""
    anyone = user is not None or chat is not None
    together = claim is not None and anyone and dialect_name(session) == "postgresql"
    if (
        claim is not None
        and not together
        and not await claim_update(session, update_id=claim.update_id, delivery=claim.delivery)
    ):
        return NOT_CLAIMED
    if not anyone:
        return UpdateContext(None, None)
    shape = (user is not None, chat is not None, together)
    params: dict[str, Any] = {
        "user_id": user.id if user else None,
        "chat_id": chat.id if chat else None,
    }
    if claim is not None and together:
        params |= claim.values()
    row = (await execute_rows(session, _CONTEXT_READS[shape](session), params)).one()
    if together and not row.claimed:
        return NOT_CLAIMED
    # a message, a button or a join in the group: the member is in it
    sighted = user is not None and chat is not None and not user.is_bot and _sighting_due(row, now)
    known_group = None
    if chat is not None and row.community_id is not None:
        known_group = _prefixed(row, "c_", COMMUNITY_COLUMNS)
    member = None
    if user is not None:
        remember_staff(session, user.id, row.staff_member_id is not None)
        known = _prefixed(row, "m_", MEMBER_COLUMNS) if row.member_id is not None else None
        upsert = None
        if (
            sighted
            and together
            and chat is not None
            and known_group is not None
            and (
                known is None
                or not member_unchanged(
                    known, user=user, default_locale=default_locale, started=started
                )
            )
        ):
            # PostgreSQL, a group already recorded, a member row to write: the sighting goes
            # in the same statement
            upsert = _MEMBER_SEEN(session), {"community_id": chat.id, "now": now}
            sighted = False
        member = await refresh_member(
            session,
            known=known,
            user=user,
            default_locale=default_locale,
            started=started,
            upsert=upsert,
        )
    community = None
    if chat is not None:
        community = await refresh_community(
            session,
            known=known_group,
            chat=chat,
            default_locale=default_locale,
            default_timezone=default_timezone,
        )
    if sighted and community is not None and user is not None:
        await seen_in_community(session, community_id=community.id, member_ids=[user.id], now=now)
    return UpdateContext(member, community)


def _sighting_due(row: Any, now: datetime) -> bool:
    """Whether the member's sighting in the group (as the context read found it) is to be
    written: none yet, they had left, or the last one is older than SEEN_REFRESH."""
    return (
        row.seen_member_id is None
        or row.left_at is not None
        or row.last_seen_at is None
        or now - row.last_seen_at >= SEEN_REFRESH
    )


def _context_read(with_user: bool, with_chat: bool, with_claim: bool) -> Any:
    """The one SELECT of `record_context`: the member (and whether they are staff), the group
    and the member's sighting in it, each row outer-joined to a constant so that a missing one
    reads as NULLs, and with `with_claim` (PostgreSQL) the update's claim, inserted by a WITH
    and counted in `claimed`, and `synchronous_commit` turned off for the transaction
    (bot.db turns it on again before the transaction's first write beyond bookkeeping).
    The ids are bound parameters (`user_id`, `chat_id`), so each shape is built once."""
    anchor = select(literal(1).label("one")).subquery()
    columns: list[Any] = []
    if with_claim:
        claimed = claimed_cte()
        columns += [select(func.count()).select_from(claimed).scalar_subquery().label("claimed")]
        # bookkeeping may commit without waiting for the disk (see bot.db)
        columns += [func.set_config("synchronous_commit", "off", True).label("relaxed")]
    query_from: Any = anchor
    user_id: Any = bindparam("user_id")
    chat_id: Any = bindparam("chat_id")
    if with_user:
        columns += [col(Member.id).label("member_id")]
        columns += [c.label(f"m_{c.key}") for c in MEMBER_COLUMNS]
        query_from = query_from.outerjoin(Member, col(Member.id) == user_id)
        # whether they are staff, which most commands ask (services.role.is_staff)
        columns += [col(StaffGrant.member_id).label("staff_member_id")]
        query_from = query_from.outerjoin(
            StaffGrant,
            and_(col(StaffGrant.member_id) == user_id, col(StaffGrant.revoked_at).is_(None)),
        )
    if with_chat:
        columns += [col(Community.id).label("community_id")]
        columns += [c.label(f"c_{c.key}") for c in COMMUNITY_COLUMNS]
        query_from = query_from.outerjoin(Community, col(Community.id) == chat_id)
    if with_user and with_chat:
        columns += [
            col(CommunityMember.member_id).label("seen_member_id"),
            col(CommunityMember.last_seen_at),
            col(CommunityMember.left_at),
        ]
        query_from = query_from.outerjoin(
            CommunityMember,
            and_(
                col(CommunityMember.community_id) == chat_id,
                col(CommunityMember.member_id) == user_id,
            ),
        )
    return select(*columns).select_from(query_from)


def _context_reader(
    with_user: bool, with_chat: bool, with_claim: bool
) -> Callable[[AsyncSession], Any]:
    def build(_dialect: str) -> Any:
        statement = bookkeeping(_context_read(with_user, with_chat, with_claim))
        return statement.execution_options(**{RELAXES_COMMIT: True}) if with_claim else statement

    return prepared(build)


_CONTEXT_READS = {
    (with_user, with_chat, with_claim): _context_reader(with_user, with_chat, with_claim)
    for with_user in (True, False)
    for with_chat in (True, False)
    for with_claim in (True, False)
    if with_user or with_chat
}


def _prefixed(row: Any, prefix: str, columns: tuple[Any, ...]) -> SimpleNamespace:
    """The columns read under a prefix, by their own names."""
    return SimpleNamespace(**{c.key: getattr(row, f"{prefix}{c.key}") for c in columns})


async def members_joined(
    session: AsyncSession,
    *,
    community_id: int,
    users: list[UserInfo],
    default_locale: str,
    now: datetime,
) -> None:
    """Telegram says these users joined (or were added to) the group: recorded as in it."""
    people = [user for user in users if not user.is_bot]
    for user in people:
        await record_member(session, user=user, default_locale=default_locale)
    await seen_in_community(
        session, community_id=community_id, member_ids=[u.id for u in people], now=now
    )


async def left_community(
    session: AsyncSession, *, community_id: int, member_id: int, now: datetime
) -> None:
    """The member left the group or was removed from it (kept, with when)."""
    await session.execute(
        update(CommunityMember)
        .where(
            col(CommunityMember.community_id) == community_id,
            col(CommunityMember.member_id) == member_id,
        )
        .values(left_at=now, last_seen_at=now)
    )


async def get_community(session: AsyncSession, community_id: int) -> CommunityView | None:
    """The community with this chat id, if registered."""
    row = await session.get(Community, community_id)
    return _view(row) if row else None


def parse_timezone(text: str) -> str:
    """The IANA zone for an IANA name in any case, a city or country in English or Chinese
    ('北京', 'Singapore') or an offset ('UTC+8'), read by services/parsing/; InvalidTimezone
    otherwise."""
    try:
        return parse_zone(text)
    except Unreadable:
        raise InvalidTimezone(text.strip()) from None


def parse_locale(text: str) -> str:
    """The bot locale for input such as 'zh_hant' or 'zh-Hans'; InvalidLocale otherwise."""
    wanted = text.strip().replace("-", "_").lower()
    for locale in LOCALES:
        if locale.lower() == wanted:
            return locale
    raise InvalidLocale(text)


async def set_timezone(session: AsyncSession, *, community_id: int, timezone: str) -> str:
    """Change the group's time zone; returns the canonical name stored."""
    name = parse_timezone(timezone)
    await session.execute(
        update(Community)
        .where(col(Community.id) == community_id)
        .values(timezone=name, updated_at=utcnow())
    )
    return name


class InvalidMemberDay(ValueError):
    """A member day that is not a day of the month from 1 to 28 (or 0 for none)."""


async def set_member_day(session: AsyncSession, *, community_id: int, day: str) -> int:
    """Set the group's member day (会员日), a day of the month 1-28, or 0 to have none."""
    text = day.strip()
    value = number(text, prefix="", maximum=10**6)
    if value is None or value > 28:
        raise InvalidMemberDay(day)
    await session.execute(
        update(Community)
        .where(col(Community.id) == community_id)
        .values(member_day=value, updated_at=utcnow())
    )
    return value


async def set_community_locale(session: AsyncSession, *, community_id: int, locale: str) -> str:
    """Change the language the bot uses in the group; returns the locale stored."""
    value = parse_locale(locale)
    await session.execute(
        update(Community)
        .where(col(Community.id) == community_id)
        .values(locale=value, updated_at=utcnow())
    )
    return value
