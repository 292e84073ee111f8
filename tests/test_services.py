"""Service rules, called directly on the real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import available_timezones

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import create_engine, create_session_factory
from models.base import utcnow
from services.community import (
    ChatInfo,
    InvalidLocale,
    InvalidTimezone,
    mark_left,
    parse_locale,
    parse_timezone,
    record_community,
)
from services.idempotency import claim_update
from services.member import UserInfo, locale_for_language_code, record_member, set_locale
from services.role import (
    AdminInfo,
    LeaderError,
    Role,
    apply_to_lead,
    appoint_leader,
    decide_application,
    grant_staff,
    is_leader,
    led_communities,
    reinstate_leader,
    resolve_role,
    revoke_staff,
    suspend_leader,
    sync_admins,
)
from tests.conftest import make_settings


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(make_settings(database_url=database_url))
    async with create_session_factory(engine)() as session:
        yield session
    await engine.dispose()


@pytest.mark.parametrize(
    ("code", "locale"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("zh", "zh_Hans"),
        ("zh-hans", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh-hant", "zh_Hant"),
        ("zh-TW", "zh_Hant"),
        ("zh-HK", "zh_Hant"),
        ("de", "en"),
        (None, "en"),
    ],
)
def test_telegram_language_codes_map_to_bot_locales(code: str | None, locale: str) -> None:
    assert locale_for_language_code(code) == locale


@given(st.text(max_size=80))
def test_timezone_parsing_accepts_only_real_zones(text: str) -> None:
    try:
        name = parse_timezone(text)
    except InvalidTimezone:
        return
    assert name in available_timezones()  # a city, an offset or a name: always a real zone


def test_timezone_and_locale_parsing() -> None:
    assert parse_timezone(" asia/hong_kong ") == "Asia/Hong_Kong"
    for bad in ("", "Mars/Base", "../etc/passwd", "/usr/share/zoneinfo/UTC", "x" * 100):
        with pytest.raises(InvalidTimezone):
            parse_timezone(bad)
    assert parse_locale("ZH-hant") == "zh_Hant"
    with pytest.raises(InvalidLocale):
        parse_locale("fr")


async def test_member_upsert_keeps_a_chosen_locale(session: AsyncSession) -> None:
    user = UserInfo(id=7, first_name="Ann", language_code="zh-TW")
    async with session.begin():
        first = await record_member(session, user=user, default_locale="en")
        assert first.locale == "zh_Hant" and not first.started
        await set_locale(session, member_id=7, locale="en")
    async with session.begin():
        again = await record_member(
            session,
            user=UserInfo(id=7, first_name="Annie", language_code="zh-TW"),
            default_locale="en",
            started=True,
        )
    assert (again.first_name, again.locale, again.started) == ("Annie", "en", True)


async def test_roles_resolve_per_group(session: AsyncSession) -> None:
    async with session.begin():
        for uid in (1, 2, 3):
            await record_member(
                session, user=UserInfo(id=uid, first_name=f"u{uid}"), default_locale="en"
            )
        for gid in (-10, -20):
            await record_community(
                session,
                chat=ChatInfo(gid, "g", "supergroup"),
                default_locale="en",
                default_timezone="UTC",
            )
        # a Telegram admin of -10 is only a candidate; 3 is appointed leader of -20
        await sync_admins(session, community_id=-10, admins=[AdminInfo(2, "creator")])
        await appoint_leader(session, community_id=-20, member_id=3, appointed_by=1, now=utcnow())

        async def role(uid: int, gid: int | None) -> Role:
            return await resolve_role(
                session, member_id=uid, community_id=gid, owner_ids=frozenset({1})
            )

        assert await role(1, None) is Role.OWNER
        assert await role(2, -10) is Role.MEMBER and await role(2, -20) is Role.MEMBER
        assert await role(3, -20) is Role.LEADER and await role(3, -10) is Role.MEMBER
        assert await role(2, None) is Role.MEMBER
        assert await grant_staff(session, member_id=3, granted_by=1)
        assert not await grant_staff(session, member_id=3, granted_by=1)
        assert await role(3, -10) is Role.STAFF
        assert await revoke_staff(session, member_id=3, revoked_by=1)
        assert not await revoke_staff(session, member_id=3, revoked_by=1)
        assert await role(3, None) is Role.MEMBER


async def test_a_leader_is_appointed_once_and_suspended_leaders_lead_nothing(
    session: AsyncSession,
) -> None:
    async with session.begin():
        for uid in (1, 2):
            await record_member(
                session, user=UserInfo(id=uid, first_name=f"u{uid}"), default_locale="en"
            )
        for gid in (-10, -20):
            await record_community(
                session,
                chat=ChatInfo(gid, "g", "supergroup"),
                default_locale="en",
                default_timezone="UTC",
            )
        now = utcnow()
        # an application waits for staff, once
        applied = await apply_to_lead(session, community_id=-10, member_id=2, now=now)
        assert applied.status == "applied"
        with pytest.raises(LeaderError, match="applied"):
            await apply_to_lead(session, community_id=-10, member_id=2, now=now)
        assert await led_communities(session, member_id=2) == frozenset()
        # approved once; a second decision, either way, changes nothing
        approved = await decide_application(
            session, leader_id=applied.id, approve=True, staff_id=1, now=now
        )
        assert (approved.status, approved.decided_by) == ("active", 1)
        with pytest.raises(LeaderError, match="decided"):
            await decide_application(
                session, leader_id=applied.id, approve=False, staff_id=1, now=now
            )
        with pytest.raises(LeaderError, match="not_found"):
            await decide_application(session, leader_id=999, approve=True, staff_id=1, now=now)
        await appoint_leader(session, community_id=-20, member_id=2, appointed_by=1, now=now)
        assert await led_communities(session, member_id=2) == frozenset({-10, -20})
        # suspending needs a reason; suspended everywhere, they lead nothing
        with pytest.raises(LeaderError, match="no_reason"):
            await suspend_leader(
                session, member_id=2, community_id=None, staff_id=1, reason=" ", now=now
            )
        assert await suspend_leader(
            session, member_id=2, community_id=None, staff_id=1, reason="late cash", now=now
        ) == [-20, -10]
        assert await led_communities(session, member_id=2) == frozenset()
        with pytest.raises(LeaderError, match="suspended"):
            await appoint_leader(session, community_id=-10, member_id=2, appointed_by=1, now=now)
        # reinstated in one group only; a group whose bot was removed is led by nobody
        assert await reinstate_leader(
            session, member_id=2, community_id=-10, staff_id=1, now=now
        ) == [-10]
        assert await led_communities(session, member_id=2) == frozenset({-10})
        await mark_left(session, community_id=-10)
        assert await led_communities(session, member_id=2) == frozenset()
        assert not await is_leader(session, member_id=2, community_id=-10)


async def test_an_update_id_is_claimed_once(session: AsyncSession) -> None:
    async with session.begin():
        assert await claim_update(session, update_id=42)
        assert not await claim_update(session, update_id=42)
    # a claim rolled back with its failed handling can be made again
    transaction = await session.begin()
    assert await claim_update(session, update_id=43)
    await transaction.rollback()
    async with session.begin():
        assert await claim_update(session, update_id=43)


def test_amounts_are_parsed_exactly_and_ambiguous_separators_are_refused() -> None:
    from services.money import InvalidAmount
    from services.parsing import parse_amount

    assert parse_amount("35.90", "CNY", locale="en", ceiling=10**9) == 3590
    assert parse_amount("1,234.5", "CNY", locale="en", ceiling=10**9) == 123450
    assert parse_amount("¥35.9", "CNY", locale="zh_Hans", ceiling=10**9) == 3590
    assert parse_amount("35,90", "EUR", locale="de", ceiling=10**9) == 3590
    assert parse_amount("50", "XTR", locale="en", ceiling=10**9) == 50
    # regression: "35,90" in English once became 3,590.00
    for text, reason in (
        ("35,90", "not_a_number"),
        ("1e3", "not_a_number"),
        ("NaN", "not_a_number"),
        ("0", "not_positive"),
        ("-5", "not_positive"),
        ("0.001", "too_precise"),
        ("2.5", "too_precise"),  # for Stars, below
        ("99999999", "too_large"),
    ):
        currency = "XTR" if text == "2.5" else "CNY"
        try:
            parse_amount(text, currency, locale="en", ceiling=10**9)
        except InvalidAmount as exc:
            assert exc.reason == reason, text
        else:
            raise AssertionError(f"{text!r} was accepted")
