"""Referral codes and links: a member's code, campaigns with their own codes, deep links (and
the start parameters that open a group-buy or a pickup sheet instead), and the group invite
links that carry a member's code.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.referral import ReferralCampaign, ReferralCode, ReferralInviteLink
from services.db import insert_for, table_of
from services.points import MAX_POINTS
from services.referral.values import (
    CAMPAIGN_CODE,
    CODE_ALPHABET,
    CODE_LENGTH,
    GROUPBUY_START,
    SHEET_START,
    CampaignView,
    ReferralError,
    ReferralRefusal,
)


def new_code() -> str:
    """A fresh random member code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def groupbuy_start_parameter(groupbuy_id: int) -> str:
    """The /start parameter that opens the bot on the member's place in a group-buy."""
    return f"gb-{groupbuy_id}"


def groupbuy_of_start_parameter(parameter: str) -> int | None:
    """The group-buy a /start parameter made by `groupbuy_start_parameter` names, or None."""
    match = GROUPBUY_START.match(parameter.strip())
    return int(match.group(1)) if match else None  # 18 digits: always a 64-bit id


def sheet_start_parameter(groupbuy_id: int) -> str:
    """The /start parameter that opens a group-buy's pickup sheet in private."""
    return f"sheet-{groupbuy_id}"


def sheet_of_start_parameter(parameter: str) -> int | None:
    """The group-buy whose sheet a /start parameter made by `sheet_start_parameter` names."""
    match = SHEET_START.match(parameter.strip())
    return int(match.group(1)) if match else None


def invite_link_name(code: str) -> str:
    """The name the bot gives a group invite link it creates for a code (at most 32 chars)."""
    return f"ref-{code}"[:32]


async def group_invite_link(session: AsyncSession, *, member_id: int, chat_id: int) -> str | None:
    """The invite link into the group the bot already created for the member's code, if any."""
    return (
        await session.execute(
            select(col(ReferralInviteLink.invite_link))
            .join(ReferralCode, col(ReferralCode.id) == col(ReferralInviteLink.code_id))
            .where(
                col(ReferralCode.member_id) == member_id,
                col(ReferralInviteLink.chat_id) == chat_id,
            )
        )
    ).scalar_one_or_none()


async def save_group_invite_link(
    session: AsyncSession, *, member_id: int, chat_id: int, invite_link: str
) -> str:
    """Keep the link created for the member's code in the group; returns the link that holds
    (the one saved first when two requests raced)."""
    code = await member_code(session, member_id)
    code_id = (
        await session.execute(select(col(ReferralCode.id)).where(col(ReferralCode.code) == code))
    ).scalar_one()
    await session.execute(
        insert_for(session, table_of(ReferralInviteLink))
        .values(
            code_id=code_id, chat_id=chat_id, invite_link=invite_link[:255], created_at=utcnow()
        )
        .on_conflict_do_nothing()
    )
    saved = await group_invite_link(session, member_id=member_id, chat_id=chat_id)
    assert saved is not None
    return saved


async def code_of_invite_link(
    session: AsyncSession, *, chat_id: int, invite_link: str
) -> str | None:
    """The code behind an invite link the bot created in the group, or None for other links."""
    return (
        await session.execute(
            select(col(ReferralCode.code))
            .join(ReferralInviteLink, col(ReferralInviteLink.code_id) == col(ReferralCode.id))
            .where(
                col(ReferralInviteLink.chat_id) == chat_id,
                col(ReferralInviteLink.invite_link) == invite_link,
            )
        )
    ).scalar_one_or_none()


async def member_code(session: AsyncSession, member_id: int) -> str:
    """The member's referral code, created on first use (one per member, even concurrently)."""
    for _attempt in range(10):
        existing = (
            await session.execute(
                select(col(ReferralCode.code)).where(col(ReferralCode.member_id) == member_id)
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing
        # a concurrent request or a (rare) code collision makes the insert do nothing: look again
        created = (
            await session.execute(
                insert_for(session, table_of(ReferralCode))
                .values(code=new_code(), member_id=member_id, show_on_leaderboard=False)
                .on_conflict_do_nothing()
                .returning(col(ReferralCode.code))
            )
        ).scalar_one_or_none()
        if created is not None:
            return created
    raise ReferralError(ReferralRefusal.BUSY, str(member_id))


async def create_campaign(
    session: AsyncSession,
    *,
    name: str,
    created_by: int,
    welcome_points: int = 0,
    reward_points: int = 0,
    expires_at: datetime | None = None,
    code: str | None = None,
) -> CampaignView:
    """A named campaign with its own code (given, or generated) and reward rules."""
    name = " ".join(name.split())
    if not name or len(name) > 64:
        raise ReferralError(ReferralRefusal.BAD_NAME)
    for points in (welcome_points, reward_points):
        if not 0 <= points <= MAX_POINTS:
            raise ReferralError(ReferralRefusal.BAD_POINTS)
    if code is not None and (
        not CAMPAIGN_CODE.match(code) or GROUPBUY_START.match(code) or SHEET_START.match(code)
    ):
        raise ReferralError(ReferralRefusal.BAD_CODE)
    campaign = ReferralCampaign(
        name=name,
        welcome_points=welcome_points,
        reward_points=reward_points,
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(campaign)
    await session.flush()
    assert campaign.id is not None
    wanted = code.lower() if code is not None else None
    for _attempt in range(10):
        value = wanted or new_code()
        inserted = await session.execute(
            insert_for(session, table_of(ReferralCode))
            .values(code=value, campaign_id=campaign.id, show_on_leaderboard=False)
            .on_conflict_do_nothing()
            .returning(col(ReferralCode.id))
        )
        if inserted.scalar_one_or_none() is not None:
            return CampaignView(campaign.id, name, value, welcome_points, reward_points, expires_at)
        if wanted is not None:
            raise ReferralError(ReferralRefusal.CODE_TAKEN, wanted)
    raise ReferralError(ReferralRefusal.BUSY)
