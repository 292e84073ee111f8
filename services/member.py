"""Members: recorded from every update, with the locale the bot speaks to them in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.member import Member
from services.db import bookkeeping, execute_rows, insert_in, prepared, table_of
from services.errors import Refused
from services.validation import shown, telegram_id


class Locale(StrEnum):
    """A language the bot speaks (its catalog's name)."""

    EN = "en"
    ZH_HANS = "zh_Hans"
    ZH_HANT = "zh_Hant"


LOCALES = tuple(Locale)
_TRADITIONAL = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What Telegram tells about a user, as plain values."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    @classmethod
    def of(cls, user: Any) -> UserInfo:
        """The plain values of a Telegram user object (aiogram's `User`, or alike)."""
        return cls(
            id=user.id,
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            language_code=user.language_code,
            is_bot=user.is_bot,
        )


@dataclass(frozen=True, slots=True)
class MemberView:
    """A member as handlers see it."""

    id: int
    first_name: str
    username: str | None
    locale: str
    started: bool
    timezone: str | None = None  # the member's own time zone, when they set one
    # True when the update that recorded this view is the first the bot ever saw from them
    first_seen: bool = False
    is_bot: bool = False
    # True when this update is the first private message from someone the bot knew already
    # (from a group): a leader appointed before then gets their private menu now
    just_started: bool = False

    @property
    def display_name(self) -> str:
        """The first name as it may be shown (invisible characters dropped), else @username,
        else the id."""
        return shown(self.first_name) or (f"@{self.username}" if self.username else str(self.id))


# what this transaction already read of whether a member is staff (the update's context read
# asks with the member, so a role check costs no statement): (transaction, member id, staff)
_KNOWN_STAFF = "known_staff"


def remember_staff(session: AsyncSession, member_id: int, staff: bool) -> None:
    """Keep, for the rest of the transaction open now, whether the member is staff."""
    session.info[_KNOWN_STAFF] = (session.sync_session.get_transaction(), member_id, staff)


def known_staff(session: AsyncSession, member_id: int) -> bool | None:
    """Whether the member is staff, as read in this transaction (`remember_staff`); None when
    it was not (a later transaction reads it again)."""
    known = session.info.get(_KNOWN_STAFF)
    if known is None or known[1] != member_id:
        return None
    transaction = session.sync_session.get_transaction()
    return known[2] if transaction is not None and known[0] is transaction else None


def forget_staff(session: AsyncSession) -> None:
    """The staff role of someone changed in this transaction: read it again when asked."""
    session.info.pop(_KNOWN_STAFF, None)


def locale_for_language_code(language_code: str | None, default: str = "en") -> str:
    """The bot locale for a Telegram language code: zh-TW/HK/Hant -> zh_Hant, zh -> zh_Hans."""
    if not language_code:
        return default
    code = language_code.lower().replace("_", "-")
    if code.startswith(_TRADITIONAL):
        return "zh_Hant"
    if code == "zh" or code.startswith("zh-"):
        return "zh_Hans"
    if code == "en" or code.startswith("en-"):
        return "en"
    return default


def _view(member: Member) -> MemberView:
    return MemberView(
        id=member.id,
        first_name=member.first_name,
        username=member.username,
        locale=member.locale,
        started=member.started,
        timezone=member.timezone,
    )


# the member columns `record_member` compares and returns (read before any write)
MEMBER_COLUMNS: tuple[Any, ...] = (
    col(Member.first_name),
    col(Member.last_name),
    col(Member.username),
    col(Member.language_code),
    col(Member.locale),
    col(Member.locale_chosen),
    col(Member.started),
    col(Member.timezone),
    col(Member.forgotten_at),
)


def member_unchanged(row: Any, *, user: UserInfo, default_locale: str, started: bool) -> bool:
    """True when recording the user again would leave the stored member row as it is.

    Mirrors the upsert in `record_member`: a forgotten member seen only in groups is frozen, a
    locale chosen with /language is kept, and `started` only ever turns on."""
    if started and not row.started:
        return False
    if not started and row.forgotten_at is not None and not row.started:
        return True  # frozen: nothing from Telegram is written
    wanted = locale_for_language_code(user.language_code, default_locale)
    return (
        row.first_name == user.first_name[:128]
        and row.last_name == (user.last_name[:128] if user.last_name else None)
        and row.username == user.username
        and row.language_code == (user.language_code[:16] if user.language_code else None)
        and (row.locale_chosen or row.locale == wanted)
    )


def member_view(row: Any, *, user: UserInfo) -> MemberView:
    """The view of a stored member row (read with MEMBER_COLUMNS, or returned by the upsert)."""
    return MemberView(
        id=user.id,
        first_name=row.first_name,
        username=row.username,
        locale=row.locale,
        started=row.started,
        timezone=row.timezone,
        is_bot=user.is_bot,
    )


async def record_member(
    session: AsyncSession, *, user: UserInfo, default_locale: str, started: bool = False
) -> MemberView:
    """Insert or refresh the member behind an update; a locale chosen with /language is kept.

    A known member whose row would not change costs one SELECT and no write."""
    known = (
        await session.execute(select(*MEMBER_COLUMNS).where(col(Member.id) == user.id))
    ).one_or_none()
    return await refresh_member(
        session, known=known, user=user, default_locale=default_locale, started=started
    )


# A statement that upserts the member as `member_upsert` does, and more, returning what it
# returns; with the parameters of the more.
Upsert = tuple[Any, dict[str, Any]]


async def refresh_member(
    session: AsyncSession,
    *,
    known: Any,
    user: UserInfo,
    default_locale: str,
    started: bool,
    upsert: Upsert | None = None,
) -> MemberView:
    """`record_member` given the member's row as just read (MEMBER_COLUMNS; None: no row):
    written only when something changed, by `upsert` when given.

    A member seen with a @username they did not hold before takes it from any other row that
    still holds it (someone who gave it up and has not been seen since), so a look-up by name
    finds the member who holds it now. That costs one statement, only then."""
    if known is not None and member_unchanged(
        known, user=user, default_locale=default_locale, started=started
    ):
        return member_view(known, user=user)
    member = await _upsert_member(
        session, user=user, default_locale=default_locale, started=started, upsert=upsert
    )
    if known is not None and started and not known.started:
        member = replace(member, just_started=True)
    if member.username is not None and (known is None or known.username != member.username):
        await session.execute(
            _RELEASE_USERNAME(session),
            {"taker": member.id, "taken": member.username.lower(), "now": utcnow()},
        )
    return member


async def _upsert_member(
    session: AsyncSession,
    *,
    user: UserInfo,
    default_locale: str,
    started: bool,
    upsert: Upsert | None = None,
) -> MemberView:
    """Insert the member or write what changed, in one statement that also settles a race with
    a concurrent first sight of the same user (`upsert`'s when given)."""
    locale = locale_for_language_code(user.language_code, default_locale)
    now = utcnow()
    first_name = user.first_name[:128]
    values = {
        "id": user.id,
        "first_name": first_name,
        "last_name": user.last_name[:128] if user.last_name else None,
        "username": user.username,
        "language_code": user.language_code[:16] if user.language_code else None,
        "locale": locale,
        "locale_chosen": False,
        "is_bot": user.is_bot,
        "started": started,
        "created_at": now,
        "updated_at": now,
    }
    if upsert is None:
        row = (await execute_rows(session, _RECORD_MEMBER(session), values)).one()
    else:
        statement, more = upsert
        row = (await execute_rows(session, statement, values | more)).one()
    # an existing row keeps its created_at: only an insert returns the time given here
    return replace(member_view(row, user=user), first_seen=row.created_at == now)


_MEMBER_VALUES = (
    "id",
    "first_name",
    "last_name",
    "username",
    "language_code",
    "locale",
    "locale_chosen",
    "is_bot",
    "started",
    "created_at",
    "updated_at",
)


def member_upsert(dialect: str) -> Any:
    """The upsert of `_upsert_member`: the new values are the row it tries to insert
    (`excluded` on conflict), bound by their column names (`_MEMBER_VALUES`), so that it also
    serves inside a WITH (services.community)."""
    values: dict[str, Any] = {name: bindparam(name) for name in _MEMBER_VALUES}
    statement = insert_in(dialect, table_of(Member)).values(values)
    new = statement.excluded
    # a member who asked to be forgotten keeps their pseudonym while they only appear in
    # groups; a private message to the bot is coming back, and they are recorded afresh
    frozen = and_(
        new.started.is_(False),
        col(Member.forgotten_at).is_not(None),
        col(Member.started).is_(False),
    )

    def unless_frozen(column: Any, value: Any) -> Any:
        return case((frozen, column), else_=value)

    return statement.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "first_name": unless_frozen(col(Member.first_name), new.first_name),
            "last_name": unless_frozen(col(Member.last_name), new.last_name),
            "username": unless_frozen(col(Member.username), new.username),
            "language_code": unless_frozen(col(Member.language_code), new.language_code),
            "locale": case(
                (frozen, col(Member.locale)),
                (col(Member.locale_chosen), col(Member.locale)),
                else_=new.locale,
            ),
            "started": or_(col(Member.started), new.started),
            "updated_at": new.updated_at,
        },
    ).returning(
        col(Member.first_name),
        col(Member.username),
        col(Member.locale),
        col(Member.started),
        col(Member.timezone),
        col(Member.created_at),
    )


_RECORD_MEMBER = prepared(lambda dialect: bookkeeping(member_upsert(dialect)))


def _release_username(_dialect: str) -> Any:
    """Clear a (lower-cased) @username from every other member row that still holds it."""
    return (
        update(Member)
        .where(
            func.lower(col(Member.username)) == bindparam("taken"),
            col(Member.id) != bindparam("taker"),
        )
        .values(username=None, updated_at=bindparam("now"))
        .execution_options(synchronize_session=False, bookkeeping=True)
    )


_RELEASE_USERNAME = prepared(_release_username)


async def set_locale(session: AsyncSession, *, member_id: int, locale: str) -> None:
    """Remember the member's chosen language; Telegram's language code no longer overrides it."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}")
    await session.execute(
        update(Member)
        .where(col(Member.id) == member_id)
        .values(locale=locale, locale_chosen=True, updated_at=utcnow())
    )


async def set_member_timezone(session: AsyncSession, *, member_id: int, timezone: str) -> None:
    """Remember the member's own time zone (an IANA name already checked by the caller)."""
    await session.execute(
        update(Member)
        .where(col(Member.id) == member_id)
        .values(timezone=timezone[:64], updated_at=utcnow())
    )


async def get_member(session: AsyncSession, member_id: int) -> MemberView | None:
    """The member with this Telegram id, if the bot has seen them."""
    if not -(2**63) <= member_id < 2**63:  # no Telegram id is that long (a typo or a probe)
        return None
    member = await session.get(Member, member_id)
    return _view(member) if member else None


class AmbiguousMember(Refused):
    """Several members still hold the @username (rows from before a name was cleared when
    someone else took it): the caller must name one by id. `candidates`: a few of them."""

    def __init__(self, username: str, candidates: list[MemberView]) -> None:
        super().__init__("ambiguous_username", username)
        self.username = username
        self.candidates = candidates


# how many of the members holding one @username an ambiguous look-up names
AMBIGUOUS_SHOWN = 5


async def find_member(session: AsyncSession, reference: str) -> MemberView | None:
    """A member by numeric id or @username (case-insensitive), or None; AmbiguousMember when
    several rows still hold the username; NumberRefused for an id no Telegram user can have
    (digit look-alikes, more than 64 bits)."""
    text = reference.strip()
    typed_id = telegram_id(text)  # NumberRefused: '²', or longer than any Telegram id
    if typed_id is not None:
        return await get_member(session, typed_id)
    username = text.removeprefix("@")
    if not username:
        return None
    result = await session.execute(
        select(Member)
        .where(func.lower(col(Member.username)) == username.lower())
        .order_by(col(Member.updated_at).desc())
        .limit(AMBIGUOUS_SHOWN)
    )
    members = [_view(member) for member in result.scalars().all()]
    if len(members) > 1:
        raise AmbiguousMember(username, members)
    return members[0] if members else None
