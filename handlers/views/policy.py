"""What the promotion policy says to the person who sent a post: which chats it reaches now,
which wait (scheduled for when, and why), which it could not reach before the deadline (times
in the sender's zone, named when it is not theirs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.text import N_, HandlerSettings, counted, esc_name
from services.community import get_community
from services.member import MemberView
from services.policy import (
    KIND_BROADCAST,
    KIND_DROP,
    KIND_GROUPBUY,
    KIND_LEADER,
    KIND_PRESALE,
    WAIT_CAP,
    WAIT_GAP,
    WAIT_LEADER_CAP,
    WAIT_NEVER,
    WAIT_QUIET,
    Verdict,
)
from services.zones import show, staff_zone

# what a promotion in the calendar was (/promotions and the dashboard's promotions page)
KINDS = {
    KIND_BROADCAST: N_("broadcast #{id}"),
    KIND_DROP: N_("drop, group-buy #{id}"),
    KIND_GROUPBUY: N_("group-buy #{id}"),
    KIND_PRESALE: N_("pre-sale, group-buy #{id}"),
    KIND_LEADER: N_("leader's group-buy #{id} (leader cap)"),
}
if TYPE_CHECKING:
    from handlers.views.groupbuy_open import Opened

WAITS = {
    WAIT_QUIET: N_("{group}: quiet hours there until {time}."),
    WAIT_GAP: N_("{group}: too soon after its last promotion, allowed from {time}."),
    WAIT_CAP: N_("{group}: its weekly cap ({cap}) of promotions is used up, allowed from {time}."),
    WAIT_LEADER_CAP: N_(
        "{group}: the weekly cap ({cap}) of a leader's own group-buys is used up, allowed "
        "from {time}."
    ),
    WAIT_NEVER: N_("{group}: its weekly cap is 0, so no promotion goes there."),
}


async def _lines(
    session: AsyncSession,
    verdicts: Sequence[Verdict],
    *,
    member: MemberView,
    settings: HandlerSettings,
) -> list[str]:
    """One line per chat: the first allowed time there and the rule that holds the card."""
    rules = settings.pacing_rules()
    zone = staff_zone(member.timezone, settings.default_timezone)
    lines = []
    for verdict in verdicts:
        community = await get_community(session, verdict.chat_id)
        name = esc_name(community.title) if community else str(verdict.chat_id)
        cap = rules.leader_week_cap if verdict.reason == WAIT_LEADER_CAP else rules.group_week_cap
        when = show(verdict.at, zone, reader=member.timezone) if verdict.at else ""
        lines.append(
            "• " + _(WAITS[verdict.reason or WAIT_NEVER]).format(group=name, time=when, cap=cap)
        )
    return lines


async def held_text(
    session: AsyncSession,
    verdicts: Sequence[Verdict],
    *,
    member: MemberView,
    settings: HandlerSettings,
    posted: bool,
) -> str:
    """The chats a card could not reach before its deadline, each with the first allowed time
    and the rule that holds it; `posted` says whether it went to other chats."""
    lines = [
        _("Not posted in these groups: the promotion policy allows it only after its deadline:")
        if posted
        else _("Not posted: the promotion policy holds it back in every group.")
    ]
    lines += await _lines(session, verdicts, member=member, settings=settings)
    lines.append(_("Send it again from then to reach these groups."))
    return "\n".join(lines)


async def waits_text(
    session: AsyncSession, opened: Opened, *, member: MemberView, settings: HandlerSettings
) -> str:
    """Where a group-buy's card is scheduled (until when and why) and where it cannot go
    before the deadline; empty when it goes everywhere now."""
    parts = []
    if opened.scheduled:
        lines = [_("Scheduled: posted there at the first time the promotion policy allows:")]
        lines += await _lines(session, opened.scheduled, member=member, settings=settings)
        parts.append("\n".join(lines))
    if opened.refused:
        parts.append(
            await held_text(session, opened.refused, member=member, settings=settings, posted=True)
        )
    return "\n\n".join(parts)


async def opened_text(
    session: AsyncSession, opened: Opened, *, member: MemberView, settings: HandlerSettings
) -> str:
    """What the sender of a group-buy reads: where its card goes now, then `waits_text`."""
    posted = _("Group-buy #{id} posted in {groups}.").format(
        id=opened.gb.id, groups=counted("group", len(opened.posted))
    )
    waits = await waits_text(session, opened, member=member, settings=settings)
    return posted + "\n\n" + waits if waits else posted
