"""Whom a trial invites: the members an audience names (promoters, members whose suggestion
was adopted, top referrers, tagged ambassadors, a tier), at most MAX_CANDIDATES; and the
tagged ambassadors who can be told in private.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.member import Member
from models.nps import NpsSurvey
from models.referral import Referral
from models.suggestion import SUGGESTION_ADOPTED, Suggestion
from models.tiers import MemberTier
from models.trial import TrialInvite
from services.member import AmbiguousMember, find_member
from services.referral import QUALIFIED_STATUSES
from services.tiers import list_tiers
from services.trial.values import TIER_ALIASES, Audience, Invitee, TrialError, TrialRefusal

PROMOTER_SCORE = 9  # an NPS answer of 9 or 10 makes a promoter
TOP_REFERRERS = 20  # `invite=referrers` reaches the brand's top inviters, this many
MAX_CANDIDATES = 500  # invitations one trial sends at most


async def _candidates(session: AsyncSession, audience: Audience) -> list[int]:
    """The members the audience names, in a stable order, without repeats."""
    found: list[int] = []

    def add(ids: Sequence[int | None]) -> None:
        for member_id in ids:
            if member_id is not None and member_id not in found:
                found.append(int(member_id))

    for group in audience.groups:
        if group == "promoters":
            latest = (
                select(col(NpsSurvey.member_id), func.max(col(NpsSurvey.answered_at)).label("at"))
                .where(col(NpsSurvey.score).is_not(None))
                .group_by(col(NpsSurvey.member_id))
                .subquery()
            )
            rows = await session.execute(
                select(col(NpsSurvey.member_id))
                .join(
                    latest,
                    (latest.c.member_id == col(NpsSurvey.member_id))
                    & (latest.c.at == col(NpsSurvey.answered_at)),
                )
                .where(col(NpsSurvey.score) >= PROMOTER_SCORE)
                .order_by(col(NpsSurvey.member_id))
            )
            add(list(rows.scalars().all()))
        elif group == "adopted":
            rows = await session.execute(
                select(col(Suggestion.member_id))
                .where(col(Suggestion.status) == SUGGESTION_ADOPTED)
                .group_by(col(Suggestion.member_id))
                .order_by(func.count().desc(), col(Suggestion.member_id))
            )
            add(list(rows.scalars().all()))
        elif group == "referrers":
            rows = await session.execute(
                select(col(Referral.referrer_id))
                .where(
                    col(Referral.referrer_id).is_not(None),
                    col(Referral.status).in_(QUALIFIED_STATUSES),
                )
                .group_by(col(Referral.referrer_id))
                .order_by(func.count().desc(), col(Referral.referrer_id))
                .limit(TOP_REFERRERS)
            )
            add(list(rows.scalars().all()))
        elif group == "ambassadors":
            rows = await session.execute(
                select(col(TrialInvite.member_id))
                .where(col(TrialInvite.good))
                .group_by(col(TrialInvite.member_id))
                .order_by(col(TrialInvite.member_id))
            )
            add(list(rows.scalars().all()))
    if audience.tier:
        tiers = await list_tiers(session)
        wanted = TIER_ALIASES.get(audience.tier, audience.tier)
        rank = next(
            (t.rank for t in tiers if wanted in (str(t.rank), t.code, t.name.lower())), None
        )
        if rank is None:
            raise TrialError(TrialRefusal.NO_TIER, audience.tier)
        rows = await session.execute(
            select(col(MemberTier.member_id))
            .where(col(MemberTier.rank) >= rank)
            .order_by(col(MemberTier.rank).desc(), col(MemberTier.member_id))
        )
        add(list(rows.scalars().all()))
    for reference in audience.people:
        try:
            person = await find_member(session, reference)
        except AmbiguousMember:
            raise TrialError(TrialRefusal.AMBIGUOUS, reference) from None
        if person is None:
            raise TrialError(TrialRefusal.NO_MEMBER, reference)
        add([person.id])
    return found[:MAX_CANDIDATES]


async def reachable_ambassadors(session: AsyncSession) -> list[Invitee]:
    """The tagged ambassadors (a good report before) who can be told in private, in their
    language: who `first=ambassadors` lets vote in a co-creation poll first."""
    tagged = await _candidates(session, Audience(groups=("ambassadors",)))
    rows = await session.execute(
        select(col(Member.id), col(Member.locale), col(Member.timezone))
        .where(
            col(Member.id).in_(tagged),
            col(Member.started),
            ~col(Member.is_bot),
            col(Member.forgotten_at).is_(None),
        )
        .order_by(col(Member.id))
    )
    return [Invitee(int(member_id), locale or "", zone) for member_id, locale, zone in rows.all()]
