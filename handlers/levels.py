"""Layered communities: /group_level, /group_invite and /buyers_group for staff, the join
requests to VIP and core groups, which the bot approves or declines (telling the member why in
private), and a first buyer's invitation to the buyers' group of their area."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import ChatJoinRequest, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.groups import group_name
from handlers.views.levels import REFUSALS, level_name, level_set_text
from handlers.views.member import ambiguous_text
from handlers.views.perks import tier_name
from handlers.views.text import N_, CommitHook, HandlerSettings, esc, esc_name
from models.base import Clock
from models.community import JOIN_INVITE
from services.levels import (
    DECLINED_INVITE,
    DECLINED_PAID,
    EVERY_AREA,
    BuyersGroupView,
    JoinDecision,
    LevelError,
    LevelRefusal,
    buyers_groups,
    decide_join,
    invite_member,
    parse_area,
    parse_level,
    parse_rule,
    set_buyers_group,
    set_level,
)
from services.member import AmbiguousMember, MemberView, find_member
from services.role import Role
from services.validation import NumberRefused, number

log = logging.getLogger(__name__)
router = Router(name="levels")

LEVEL_USAGE = N_(
    "Send /group_level GROUP LEVEL [WHO], e.g. /group_level -1001234567890 vip gold.\n"
    "GROUP: the group's id (as /groups shows it). LEVEL: open, vip or core. WHO, for vip and "
    "core: a tier's name (that tier and above may join), invite (only members you invite with "
    "/group_invite) or paid (members of a paid membership of that level, see /membership_plans). "
    "Without WHO: invite."
)
INVITE_USAGE = N_(
    "Send /group_invite GROUP @member, e.g. /group_invite -1001234567890 @mia: their join "
    "request to that group will be approved."
)
BUYERS_USAGE = N_(
    "Send /buyers_group GROUP [AREA], e.g. /buyers_group -1001234567890 #pudong. A member's "
    "first paid order in a group of that area brings them a private, one-time invitation to "
    "GROUP. AREA: a group tag (#pudong), a time zone (Asia/Shanghai: the groups in that zone), "
    "or nothing for every area without a buyers' group of its own."
)


def _group_id(word: str) -> int | None:
    """A group's id as typed (-1001234567890), or None."""
    if not word.startswith("-"):
        return None
    try:
        value = number(word.removeprefix("-"), prefix="")
    except NumberRefused:
        return None
    return -value if value else None


def _refusal_text(exc: LevelError) -> str:
    """Why staff's level, buyers' group or invitation command was refused, naming the word."""
    return _(REFUSALS[exc.reason]).format(word=esc(exc.detail))


@router.message(Command("group_level"), PRIVATE, RoleFilter(Role.STAFF, "group.level"))
async def group_level_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """Sets a group's level and who may join it, or says how to."""
    words = (command.args or "").split()
    group_id = _group_id(words[0]) if words else None
    if group_id is None or len(words) not in (2, 3):
        await message.answer(_(LEVEL_USAGE))
        return
    try:
        level = parse_level(words[1])
        rule, tier = JOIN_INVITE, None
        if len(words) == 3:
            rule, tier = await parse_rule(session, words[2])
        view = await set_level(
            session,
            community_id=group_id,
            level=level,
            rule=rule,
            tier=tier,
            actor_id=member.id,
            now=clock(),
        )
    except LevelError as exc:
        await message.answer(_refusal_text(exc))
        return
    await message.answer(level_set_text(view))


def area_name(area: str) -> str:
    """An area as staff read it: its tag or zone, or "every area"."""
    return esc(area) if area != EVERY_AREA else _("every area")


def buyers_lines(groups: list[BuyersGroupView]) -> str:
    """The buyers' groups staff set, one line each."""
    if not groups:
        return _("No buyers' group is set yet.")
    return "\n".join(
        _("• {area}: {group}").format(
            area=area_name(g.area), group=group_name(g.title, g.community_id)
        )
        for g in groups
    )


@router.message(Command("buyers_group"), PRIVATE, RoleFilter(Role.STAFF, "group.buyers"))
async def buyers_group_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """Sets the buyers' group of an area (or of every area); without arguments, lists them."""
    words = (command.args or "").split()
    if not words:
        await message.answer(_(BUYERS_USAGE) + "\n\n" + buyers_lines(await buyers_groups(session)))
        return
    group_id = _group_id(words[0])
    if group_id is None or len(words) > 2:
        await message.answer(_(BUYERS_USAGE))
        return
    try:
        area = parse_area(words[1]) if len(words) == 2 else EVERY_AREA
        view = await set_buyers_group(
            session, community_id=group_id, area=area, actor_id=member.id, now=clock()
        )
    except LevelError as exc:
        await message.answer(_refusal_text(exc))
        return
    await message.answer(
        _(
            "{group} is now the buyers' group of {area}. A member's first paid order there "
            "brings them a one-time invitation to it, in private."
        ).format(group=group_name(view.title, view.community_id), area=area_name(view.area))
    )


@router.message(Command("group_invite"), PRIVATE, RoleFilter(Role.STAFF, "group.invite"))
async def group_invite_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
) -> None:
    """Invites a member to a VIP or core group: their join request will be approved."""
    words = (command.args or "").split()
    group_id = _group_id(words[0]) if words else None
    if group_id is None or len(words) != 2:
        await message.answer(_(INVITE_USAGE))
        return
    try:
        invited = await find_member(session, words[1])
    except AmbiguousMember as exc:
        await message.answer(ambiguous_text(exc))
        return
    except NumberRefused:
        invited = None
    if invited is None:
        await message.answer(_(REFUSALS[LevelRefusal.NOT_MEMBER]))
        return
    try:
        view = await invite_member(
            session, community_id=group_id, member_id=invited.id, actor_id=member.id, now=clock()
        )
    except LevelError as exc:
        await message.answer(_refusal_text(exc))
        return
    await message.answer(
        _("{member} is invited to {group}: I will approve their join request.").format(
            member=esc(invited.display_name), group=group_name(view.title, view.community_id)
        )
    )


def decision_text(decision: JoinDecision) -> str:
    """What the member is told in private about their join request."""
    group = f"<b>{esc_name(decision.title)}</b>"
    level = level_name(decision.level)
    if decision.approved:
        return _("Welcome! Your request to join {group} ({level} group) is approved.").format(
            group=group, level=level
        )
    if decision.reason == DECLINED_INVITE:
        why = _(
            "{group} is a {level} group open by invitation only. Ask the brand's staff or your "
            "group leader for an invitation, then ask to join again."
        )
    elif decision.reason == DECLINED_PAID:
        why = _(
            "{group} is a {level} group for paid members. Become a member with /membership, "
            "then ask to join again."
        )
    else:
        why = _(
            "{group} is a {level} group for members of tier {tier} and above; your tier is "
            "{mine}. Reach {tier} with your orders (see /me), then ask to join again."
        )
    tier = tier_name(decision.tier) if decision.tier is not None else ""
    return (
        _("Sorry, I could not approve your request to join this group.")
        + "\n"
        + why.format(group=group, level=level, tier=tier, mine=tier_name(decision.member_tier))
    )


@router.chat_join_request()
async def join_requested(
    request: ChatJoinRequest,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """A join request to a VIP or core group: the member is told the decision in private,
    then the request is approved or declined (open groups are left to their admins)."""
    decision = await decide_join(
        session,
        community_id=request.chat.id,
        member_id=request.from_user.id,
        now=clock(),
        default_locale=settings.default_locale,
    )
    if decision is None:
        return
    with i18n.use_locale(decision.locale):  # in private: the member's language, not the group's
        text = decision_text(decision)

    async def carry_out() -> None:
        # the bot may write to the requester only while the request is pending: tell first
        try:
            await bot.send_message(request.user_chat_id, text)
        except TelegramAPIError as exc:
            log.info("join request %s/%s: not told: %s", request.chat.id, request.from_user.id, exc)
        try:
            if decision.approved:
                await bot.approve_chat_join_request(request.chat.id, request.from_user.id)
            else:
                await bot.decline_chat_join_request(request.chat.id, request.from_user.id)
        except TelegramAPIError as exc:
            log.warning(
                "join request %s/%s not answered: %s", request.chat.id, request.from_user.id, exc
            )

    after_commit.add(carry_out)
