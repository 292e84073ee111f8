"""Communities: groups registered when the bot joins, each with a locale and a time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import TelegramId, UTCDateTime, utcnow
from models.community import COMMUNITY_ACTIVE, COMMUNITY_LEFT, Community, CommunityMember
from models.member import Member
from services.db import insert_for, table_of, upsert
from services.member import LOCALES, UserInfo, record_member


class InvalidTimezone(ValueError):
    """The text is not an IANA time zone name."""


class InvalidLocale(ValueError):
    """The text is not one of the bot's locales."""


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


def _view(row: Community) -> CommunityView:
    return CommunityView(
        id=row.id,
        title=row.title,
        locale=row.locale,
        timezone=row.timezone,
        status=row.status,
        member_day=row.member_day,
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
    """
    now = utcnow()
    title = chat.title[:255]
    values = {
        "id": chat.id,
        "title": title,
        "chat_type": chat.chat_type,
        "locale": default_locale,
        "timezone": default_timezone,
        "status": COMMUNITY_ACTIVE,
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
    )
    row = (await session.execute(statement)).one()
    return CommunityView(
        id=chat.id,
        title=title,
        locale=row.locale,
        timezone=row.timezone,
        status=row.status,
        member_day=row.member_day,
    )


async def mark_left(session: AsyncSession, *, community_id: int) -> None:
    """The bot was removed from the group: keep its history, stop treating it as active."""
    await session.execute(
        update(Community)
        .where(col(Community.id) == community_id)
        .values(status=COMMUNITY_LEFT, updated_at=utcnow())
    )


async def active_community_ids(session: AsyncSession) -> list[int]:
    """Every group the bot is currently in."""
    rows = await session.execute(
        select(col(Community.id))
        .where(col(Community.status) == COMMUNITY_ACTIVE)
        .order_by(col(Community.id))
    )
    return [int(i) for i in rows.scalars().all()]


async def active_communities(session: AsyncSession, *, limit: int = 50) -> list[CommunityView]:
    """The groups the bot is in, by title (the broadcast wizard lists them)."""
    rows = await session.execute(
        select(Community)
        .where(col(Community.status) == COMMUNITY_ACTIVE)
        .order_by(col(Community.title), col(Community.id))
        .limit(limit)
    )
    return [_view(row) for row in rows.scalars()]


async def seen_in_community(
    session: AsyncSession, *, community_id: int, member_ids: list[int], now: datetime | None = None
) -> None:
    """The members wrote, pressed a button or joined in the group: they are in it (again).

    The member and community rows must exist (the context middleware records them first). A
    member who asked to be forgotten is not recorded while they only appear in groups, as
    their name is not (services.member.record_member).
    """
    if not member_ids:
        return
    moment = now or utcnow()
    known = select(
        literal(community_id, TelegramId).label("community_id"),
        col(Member.id),
        literal(moment, UTCDateTime()).label("first_seen_at"),
        literal(moment, UTCDateTime()).label("last_seen_at"),
    ).where(
        col(Member.id).in_(member_ids),
        or_(col(Member.forgotten_at).is_(None), col(Member.started)),
    )
    statement = insert_for(session, table_of(CommunityMember)).from_select(
        ["community_id", "member_id", "first_seen_at", "last_seen_at"], known
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["community_id", "member_id"],
            set_={"last_seen_at": moment, "left_at": None},
        )
    )


async def members_joined(
    session: AsyncSession,
    *,
    community_id: int,
    users: list[UserInfo],
    default_locale: str,
    now: datetime | None = None,
) -> None:
    """Telegram says these users joined (or were added to) the group: recorded as in it."""
    people = [user for user in users if not user.is_bot]
    for user in people:
        await record_member(session, user=user, default_locale=default_locale)
    await seen_in_community(
        session, community_id=community_id, member_ids=[u.id for u in people], now=now
    )


async def left_community(
    session: AsyncSession, *, community_id: int, member_id: int, now: datetime | None = None
) -> None:
    """The member left the group or was removed from it (kept, with when)."""
    moment = now or utcnow()
    await session.execute(
        update(CommunityMember)
        .where(
            col(CommunityMember.community_id) == community_id,
            col(CommunityMember.member_id) == member_id,
        )
        .values(left_at=moment, last_seen_at=moment)
    )


async def get_community(session: AsyncSession, community_id: int) -> CommunityView | None:
    """The community with this chat id, if registered."""
    row = await session.get(Community, community_id)
    return _view(row) if row else None


def parse_timezone(text: str) -> str:
    """The canonical IANA name for user input such as 'asia/shanghai'; InvalidTimezone otherwise."""
    name = text.strip()
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise InvalidTimezone(name)
    try:
        ZoneInfo(name)
        return name
    except (ZoneInfoNotFoundError, ValueError):
        pass

    lowered = name.lower()
    for candidate in available_timezones():
        if candidate.lower() == lowered:
            return candidate
    raise InvalidTimezone(name)


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
    if not text.isdigit() or int(text) > 28:
        raise InvalidMemberDay(day)
    value = int(text)
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
