"""Attributing a newcomer to a code's member or campaign, once: every refusal recorded, and a
burst of sign-ups through one code held for staff review.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.referral import (
    REFERRAL_HELD,
    REFERRAL_PENDING,
    Referral,
    ReferralAttempt,
    ReferralCampaign,
    ReferralCode,
)
from services.db import dialect_name, insert_for, table_of
from services.referral.rewards import _chain, _welcome
from services.referral.values import (
    REFUSED_ALREADY_MEMBER,
    REFUSED_ALREADY_REFERRED,
    REFUSED_BOT,
    REFUSED_CYCLE,
    REFUSED_EXPIRED,
    REFUSED_MALFORMED,
    REFUSED_SELF,
    REFUSED_UNKNOWN,
    START_PARAMETER,
    Attribution,
    ReferralRules,
)


async def _refuse(
    session: AsyncSession, *, member_id: int, code: str, reason: str, now: datetime
) -> Attribution:
    session.add(ReferralAttempt(member_id=member_id, code=code[:64], reason=reason, created_at=now))
    return Attribution(refused=reason)


async def attribute(
    session: AsyncSession,
    *,
    member_id: int,
    code: str,
    is_bot: bool,
    first_seen: bool,
    now: datetime,
    rules: ReferralRules,
) -> Attribution:
    """Attribute a newcomer to the code's member or campaign, once; refusals are recorded.

    A burst (`rules.burst_count` sign-ups through one code within `rules.burst_minutes`) is
    held for staff review, with the rest of the burst: no welcome gift, no reward, no commission
    until approved.
    """
    found = await _code_to_use(session, code, now)
    if isinstance(found, str):
        return await _refuse(session, member_id=member_id, code=code, reason=found, now=now)
    row, campaign = found
    reason = await _why_not(session, row, member_id, is_bot=is_bot, first_seen=first_seen)
    if reason is not None:
        return await _refuse(session, member_id=member_id, code=code, reason=reason, now=now)
    assert row.id is not None
    inserted = await session.execute(
        insert_for(session, table_of(Referral))
        .values(
            invitee_id=member_id,
            referrer_id=row.member_id,
            campaign_id=row.campaign_id,
            code_id=row.id,
            status=REFERRAL_PENDING,
            reward_points=0,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(col(Referral.invitee_id))
    )
    if inserted.scalar_one_or_none() is None:  # a concurrent /start attributed them first
        return await _refuse(
            session, member_id=member_id, code=code, reason=REFUSED_ALREADY_REFERRED, now=now
        )
    held = await _hold_burst(session, row.id, now=now, rules=rules)
    welcome = 0
    if not held:
        welcome = await _welcome(
            session, member_id=member_id, campaign=campaign, now=now, rules=rules
        )
    return Attribution(
        refused=None,
        referrer_id=row.member_id,
        campaign=campaign.name if campaign else None,
        held=held,
        welcome_points=welcome,
    )


async def _code_to_use(
    session: AsyncSession, code: str, now: datetime
) -> tuple[ReferralCode, ReferralCampaign | None] | str:
    """The code's row (locked on PostgreSQL) and its campaign, or why it cannot be used: a
    malformed parameter, an unknown code, an expired campaign."""
    if not START_PARAMETER.match(code):
        return REFUSED_MALFORMED
    found = select(ReferralCode).where(col(ReferralCode.code) == code.lower())
    if dialect_name(session) == "postgresql":
        # sign-ups through one code queue on its row, so each burst count below sees the
        # sign-ups committed before it (SQLite transactions are serialised: BEGIN IMMEDIATE)
        found = found.with_for_update()
    row = (await session.execute(found)).scalar_one_or_none()
    if row is None:
        return REFUSED_UNKNOWN
    campaign = await session.get(ReferralCampaign, row.campaign_id) if row.campaign_id else None
    if campaign is not None and campaign.expires_at is not None and campaign.expires_at <= now:
        return REFUSED_EXPIRED
    return row, campaign


async def _why_not(
    session: AsyncSession, row: ReferralCode, member_id: int, *, is_bot: bool, first_seen: bool
) -> str | None:
    """Why the member cannot be attributed to the code's owner (None: they can): themselves,
    a bot, already referred, a cycle, or already a member."""
    if row.member_id == member_id:
        return REFUSED_SELF
    if is_bot:
        return REFUSED_BOT
    if await session.get(Referral, member_id) is not None:
        return REFUSED_ALREADY_REFERRED
    if row.member_id is not None and member_id in await _chain(
        session, row.member_id, statuses=None
    ):
        return REFUSED_CYCLE
    if not first_seen:
        return REFUSED_ALREADY_MEMBER
    return None


async def _hold_burst(
    session: AsyncSession, code_id: int, *, now: datetime, rules: ReferralRules
) -> bool:
    """Whether the sign-ups through the code make a burst (`rules.burst_count` within
    `rules.burst_minutes`); then the whole burst waits for staff, not only the sign-up that
    revealed it."""
    since = now - timedelta(minutes=rules.burst_minutes)
    recent = (
        await session.execute(
            select(func.count()).where(
                col(Referral.code_id) == code_id, col(Referral.created_at) > since
            )
        )
    ).scalar_one()
    held = int(recent) >= rules.burst_count
    if held:
        await session.execute(
            update(Referral)
            .where(
                col(Referral.code_id) == code_id,
                col(Referral.created_at) > since,
                col(Referral.status) == REFERRAL_PENDING,
            )
            .values(status=REFERRAL_HELD)
        )
    return held
