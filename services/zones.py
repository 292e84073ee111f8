"""The one time-zone policy: which zone a time is shown or read in, and how it is shown.

- What happens in a group (a deadline, a card, quiet hours of a group post) is in the
  group's zone, else the brand's (`DEFAULT_TIMEZONE`).
- A private message to a member is in the member's own zone (`/timezone`), else the zone of
  the group it is about or of their home group (the first the bot saw them in, the one their
  check-in day follows), else the brand's.
- A staff report (stats, exports, audit, referral figures) is in the zone the reader picked
  with `/timezone`, else the brand's.

A time shown to someone names its zone whenever that zone is not the reader's own, so
"20:00" is never read in the wrong zone. Pure functions, plus one query for a member's home
group.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.community import Community, CommunityMember
from services.parsing import zone_label

MOMENT = "%Y-%m-%d %H:%M"


def group_zone(group: str | None, default: str) -> str:
    """The zone of what happens in a group: the group's, else the brand's."""
    return group or default


def member_zone(member: str | None, group: str | None, default: str) -> str:
    """The zone of a private message to a member: theirs, else the group's, else the brand's."""
    return member or group or default


def staff_zone(chosen: str | None, default: str) -> str:
    """The zone of a staff report: the one the reader picked, else the brand's."""
    return chosen or default


def show(moment: datetime, zone: str, *, reader: str | None, pattern: str = MOMENT) -> str:
    """`moment` on the clock of `zone`, followed by the zone's name when it is not the
    reader's own zone (`reader` None: the reader has none, so the zone is always named)."""
    local = moment.astimezone(ZoneInfo(zone)).strftime(pattern)
    if zone == reader:
        return local
    return f"{local} {zone_label(zone)}"


async def home_group_zones(session: AsyncSession, member_ids: list[int]) -> dict[int, str]:
    """The zone of each member's home group: the first group the bot saw them in, the same
    group whose days their check-ins count in (services.loyalty.check_in_zone), so a member's
    day and clock do not flip when they speak in another group. Members never seen in a group
    are left out."""
    found: dict[int, str] = {}
    for start in range(0, len(member_ids), 500):
        chunk = member_ids[start : start + 500]
        rows = await session.execute(
            select(col(CommunityMember.member_id), col(Community.timezone))
            .join(Community, col(Community.id) == col(CommunityMember.community_id))
            .where(col(CommunityMember.member_id).in_(chunk))
            .order_by(col(CommunityMember.first_seen_at), col(CommunityMember.community_id))
        )
        for member_id, zone in rows.all():
            found.setdefault(int(member_id), zone)  # oldest first: the first one seen wins
    return found


def local_today(now: datetime, zone: str) -> date:
    """The day the clock of `zone` shows at `now` (a report's "today")."""
    return now.astimezone(ZoneInfo(zone)).date()


async def private_zone(
    session: AsyncSession, *, member_id: int, own: str | None, default: str
) -> str:
    """The zone of a private message to a member: theirs, else their home group's (the first
    group the bot saw them in), else the brand's."""
    if own:
        return own
    return member_zone(None, (await home_group_zones(session, [member_id])).get(member_id), default)
