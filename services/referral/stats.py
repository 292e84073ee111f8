"""The referral program's figures for staff: invited, qualified, conversion, reward cost and
viral coefficient over a period, for the whole program, per campaign and per community.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import ACCOUNT_MEMBER_POINTS, LedgerAccount, LedgerEntry, LedgerTransaction
from models.order import Order
from models.referral import REFERRAL_REVERSED, REFERRAL_REWARDED, Referral, ReferralCampaign
from services.referral.values import (
    QUALIFIED_STATUSES,
    TX_REFERRAL_COMMISSION,
    TX_WELCOME_POINTS,
    StatsRow,
)


@dataclass
class _Slices:
    """The figures being counted: the whole program, per campaign (named from `names`) and
    per community."""

    names: dict[int | None, str]
    total: StatsRow = field(default_factory=lambda: StatsRow(label=""))
    by_campaign: dict[int, StatsRow] = field(default_factory=dict)
    by_community: dict[int, StatsRow] = field(default_factory=dict)

    def campaign(self, campaign_id: int) -> StatsRow:
        return self.by_campaign.setdefault(
            campaign_id, StatsRow(label=self.names.get(campaign_id, "?"), key=campaign_id)
        )

    def community(self, community_id: int) -> StatsRow:
        return self.by_community.setdefault(community_id, StatsRow(label="", key=community_id))


async def program_stats(
    session: AsyncSession, *, start: datetime, end: datetime
) -> tuple[StatsRow, list[StatsRow], list[StatsRow]]:
    """Invited, qualified, conversion, reward cost and viral coefficient over [start, end):
    for the whole program, per campaign, and per community (where first orders were placed)."""
    names = {
        c.id: c.name for c in (await session.execute(select(ReferralCampaign))).scalars().all()
    }
    slices = _Slices(names)
    await _count_referrals(session, slices, start, end)
    # what is booked in the period and not reversed
    reversed_ids = select(col(LedgerTransaction.reverses_id)).where(
        col(LedgerTransaction.reverses_id).is_not(None)
    )
    await _count_commission(session, slices, start, end, reversed_ids)
    await _count_gifts(session, slices, start, end, reversed_ids)
    by_community = slices.by_community
    return (
        slices.total,
        sorted(slices.by_campaign.values(), key=lambda r: (-r.qualified, r.label)),
        [by_community[k] for k in sorted(by_community, key=lambda k: -by_community[k].qualified)],
    )


async def _count_referrals(
    session: AsyncSession, slices: _Slices, start: datetime, end: datetime
) -> None:
    """Referrals made or qualified in the period: invited, qualified, rewards, and the members
    who brought them, in each slice they belong to."""
    referrers: dict[object, set[int]] = defaultdict(set)
    rows = (
        await session.execute(
            select(Referral).where(
                (col(Referral.created_at) >= start) & (col(Referral.created_at) < end)
                | (col(Referral.qualified_at) >= start) & (col(Referral.qualified_at) < end)
            )
        )
    ).scalars()
    for referral in rows:
        of: list[tuple[object, StatsRow]] = [("all", slices.total)]
        if referral.campaign_id is not None:
            of.append((("campaign", referral.campaign_id), slices.campaign(referral.campaign_id)))
        if referral.community_id is not None:
            row = slices.community(referral.community_id)
            of.append((("community", referral.community_id), row))
        invited = start <= referral.created_at < end
        qualified = (
            referral.qualified_at is not None
            and start <= referral.qualified_at < end
            and referral.status in (*QUALIFIED_STATUSES, REFERRAL_REVERSED)
        )
        rewarded = referral.status == REFERRAL_REWARDED and referral.rewarded_at is not None
        for key, row in of:
            # a referral belongs to a group only once its first order is placed there: groups
            # count qualified referrals and the members who brought them, not sign-ups
            in_group = isinstance(key, tuple) and key[0] == "community"
            row.invited += int(invited and not in_group)
            row.qualified += int(qualified)
            row.member_qualified += int(qualified and referral.referrer_id is not None)
            if rewarded and start <= referral.rewarded_at < end:  # type: ignore[operator]
                row.reward_points += referral.reward_points
            counted = qualified if in_group else invited
            if counted and referral.referrer_id is not None:
                referrers[key].add(referral.referrer_id)
    slices.total.referrers = len(referrers["all"])
    for campaign_id, row in slices.by_campaign.items():
        row.referrers = len(referrers[("campaign", campaign_id)])
    for community_id, row in slices.by_community.items():
        row.referrers = len(referrers[("community", community_id)])


async def _count_commission(
    session: AsyncSession, slices: _Slices, start: datetime, end: datetime, reversed_ids: Any
) -> None:
    """Commission booked in the period and not reversed, by the group the order was placed in."""
    booked = await session.execute(
        select(col(Order.chat_id), col(LedgerEntry.asset), func.sum(col(LedgerEntry.amount)))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .join(Order, col(Order.id) == col(LedgerTransaction.order_id))
        .where(
            col(LedgerTransaction.kind) == TX_REFERRAL_COMMISSION,
            col(LedgerTransaction.created_at) >= start,
            col(LedgerTransaction.created_at) < end,
            col(LedgerTransaction.id).not_in(reversed_ids),
            col(LedgerEntry.amount) > 0,
        )
        .group_by(col(Order.chat_id), col(LedgerEntry.asset))
    )
    total = slices.total
    for chat_id, asset, amount in booked.all():
        total.commission[asset] = total.commission.get(asset, 0) + int(amount)
        row = slices.community(int(chat_id))
        row.commission[asset] = row.commission.get(asset, 0) + int(amount)


async def _count_gifts(
    session: AsyncSession, slices: _Slices, start: datetime, end: datetime, reversed_ids: Any
) -> None:
    """Welcome gifts given in the period and not taken back, by the campaign the newcomer
    used."""
    gifts = await session.execute(
        select(col(Referral.campaign_id), func.sum(col(LedgerEntry.amount)))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(Referral, col(Referral.invitee_id) == col(LedgerAccount.owner_id))
        .where(
            col(LedgerTransaction.kind) == TX_WELCOME_POINTS,
            col(LedgerAccount.kind) == ACCOUNT_MEMBER_POINTS,
            col(LedgerTransaction.created_at) >= start,
            col(LedgerTransaction.created_at) < end,
            col(LedgerTransaction.id).not_in(reversed_ids),
            col(LedgerEntry.amount) > 0,
        )
        .group_by(col(Referral.campaign_id))
    )
    for gift_campaign, points in gifts.all():
        slices.total.reward_points += int(points)
        if gift_campaign is not None:
            slices.campaign(int(gift_campaign)).reward_points += int(points)
