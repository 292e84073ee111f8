"""Pickup points and their keepers (/pickup_point_add, /pickup_points, /pickup_point_remove,
/keeper_add, /keeper_remove), pickup by code (/redeem, 核销), a point's sheet (/point_sheet)
and a group-buy's points (/gb_points)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    WebAppInfo,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, RoleFilter, refusal_text
from handlers.views.member import named_member
from handlers.views.order import Marking
from handlers.views.pickup import (
    NOT_YOURS,
    may_run_it,
    picked_up_notice,
    point_error_text,
    point_sheet_text,
    point_text,
    redeem_error_text,
    redeemed_text,
)
from handlers.views.pickup_points import audited
from handlers.views.text import (
    N_,
    BackgroundSender,
    CommitHook,
    HandlerSettings,
    esc,
    esc_name,
)
from services.community import CommunityView
from services.member import MemberView, get_member
from services.pickup import (
    PickupError,
    PointView,
    add_keeper,
    add_point,
    get_point,
    groupbuy_points,
    kept_points,
    may_manage_points,
    point_sheet,
    points_of,
    redeem_code,
    remove_keeper,
    remove_point,
    runs_pickups,
    set_groupbuy_points,
)
from services.role import Role, is_staff, led_communities
from services.validation import number

router = Router(name="pickup_points")


POINT_ADD_USAGE = N_(
    "Send the point as /pickup_point_add Name | address | opening hours, for example "
    "/pickup_point_add Shop A | 12 Main St | daily 9:00-18:00 (address and hours may be left "
    "out). Send it in the group the point serves."
)


KEEPER_USAGE = N_(
    "Tell me who and which point: /{command} @username POINT, for example /{command} @ann 3. "
    "/pickup_points lists the points with their numbers."
)


NO_POINT = N_("There is no pickup point #{id}. /pickup_points lists them with their numbers.")


NOT_YOUR_POINT = N_(
    "Only the leader of the group that pickup point #{id} serves, or the brand's staff, can "
    "do that."
)


async def _may_act(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    community: CommunityView | None,
    action: str,
    *,
    now: datetime,
    keepers: bool = False,
) -> bool:
    """In private, who may use a pickup-point command at all: staff, a leader of a group now,
    and (`keepers`) a keeper of a point; refused politely, audited either way. In a group the
    RoleFilter on the handler decided already (a leader of this group, or staff)."""
    if community is not None:
        return True
    allowed = await runs_pickups(session, member_id=member.id, owner_ids=settings.owner_ids)
    if not allowed and keepers:
        allowed = bool(await kept_points(session, member_id=member.id))
    if not await audited(session, member, message.chat.id, action, allowed, "", now=now):
        await message.answer(
            refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
    return allowed


@router.message(Command("pickup_point_add"), GROUP, RoleFilter(Role.LEADER, "pickup.point_add"))
@router.message(Command("pickup_point_add"), PRIVATE)
async def point_add_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Callable[[], datetime],
    member: MemberView,
    settings: HandlerSettings,
    community: CommunityView | None = None,
) -> None:
    """Adds a pickup point to this group (in private: to the one group the leader leads)."""
    if not await _may_act(
        message, session, member, settings, community, "pickup.point_add", now=clock()
    ):
        return
    group = community.id if community is not None else None
    if group is None:
        led = await led_communities(session, member_id=member.id)
        if len(led) != 1:
            await message.answer(_(POINT_ADD_USAGE))
            return
        group = next(iter(led))
    allowed = await may_manage_points(
        session, community_id=group, member_id=member.id, owner_ids=settings.owner_ids
    )
    detail = (command.args or "")[:200]
    if not await audited(
        session, member, message.chat.id, "pickup.point_add", allowed, detail, now=clock()
    ):
        await message.reply(
            refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
        return
    parts = [part.strip() for part in (command.args or "").split("|")]
    if len(parts) > 3:
        await message.reply(_(POINT_ADD_USAGE))
        return
    name, address, hours = [*parts, "", ""][:3]
    try:
        point = await add_point(
            session, community_id=group, name=name, address=address, hours=hours, actor_id=member.id
        )
    except PickupError as exc:
        await message.reply(point_error_text(exc))
        return
    await message.reply(
        _("Pickup point #{id} added.").format(id=point.id)
        + "\n"
        + point_text(point)
        + "\n\n"
        + _("Name its keepers with /keeper_add @username {id}.").format(id=point.id)
    )


@router.message(Command("pickup_points"), GROUP, RoleFilter(Role.LEADER, "pickup.points"))
@router.message(Command("pickup_points"), PRIVATE)
async def points_command(
    message: Message,
    session: AsyncSession,
    clock: Callable[[], datetime],
    member: MemberView,
    settings: HandlerSettings,
    community: CommunityView | None = None,
) -> None:
    """Lists the pickup points: this group's in a group; in private the points the member
    keeps or leads (staff: every group's)."""
    if not await _may_act(
        message, session, member, settings, community, "pickup.points", keepers=True, now=clock()
    ):
        return
    points: list[PointView]
    if community is not None:
        points = await points_of(session, community_ids=frozenset({community.id}))
    elif member.id in settings.owner_ids or await is_staff(session, member.id):
        points = await points_of(session)
    else:
        points = await kept_points(session, member_id=member.id)
    if not points:
        await message.answer(
            _(
                "No pickup points yet. The group's leader adds one in the group with "
                "/pickup_point_add Name | address | opening hours."
            )
        )
        return
    blocks = [_("📍 <b>Pickup points</b>")] + [point_text(point) for point in points[:40]]
    blocks.append(
        _(
            "Keepers: /keeper_add @username POINT, /keeper_remove @username POINT. A keeper "
            "confirms pickups with /redeem CODE; a point's sheet: /point_sheet POINT."
        )
    )
    await message.answer("\n\n".join(blocks))


async def _managed_point(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    point_id: int | None,
    action: str,
    *,
    now: datetime,
) -> PointView | None:
    """The point the command names, when the member may manage it; else replies why not."""
    point = await get_point(session, point_id) if point_id is not None else None
    if point is None or not point.active:
        await message.reply(_(NO_POINT).format(id=point_id or "?"))
        return None
    allowed = await may_manage_points(
        session, community_id=point.community_id, member_id=member.id, owner_ids=settings.owner_ids
    )
    if not await audited(
        session, member, message.chat.id, action, allowed, f"point #{point.id}", now=now
    ):
        await message.reply(_(NOT_YOUR_POINT).format(id=point.id))
        return None
    return point


@router.message(
    Command("pickup_point_remove"), GROUP, RoleFilter(Role.LEADER, "pickup.point_remove")
)
@router.message(Command("pickup_point_remove"), PRIVATE)
async def point_remove_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Callable[[], datetime],
    member: MemberView,
    settings: HandlerSettings,
    community: CommunityView | None = None,
) -> None:
    """Retires a pickup point: no longer offered; orders that chose it still name it."""
    if not await _may_act(
        message, session, member, settings, community, "pickup.point_remove", now=clock()
    ):
        return
    words = (command.args or "").split()
    point_id = number(words[0]) if len(words) == 1 else None
    if point_id is None:
        await message.reply(_("Tell me which point: /pickup_point_remove POINT, for example 3."))
        return
    point = await _managed_point(
        message, session, member, settings, point_id, "pickup.point_remove", now=clock()
    )
    if point is None:
        return
    await remove_point(session, point_id=point.id)
    await message.reply(
        _("Pickup point #{id} {name} is no longer offered.").format(
            id=point.id, name=esc_name(point.name)
        )
    )


@router.message(
    Command("keeper_add", "keeper_remove"), GROUP, RoleFilter(Role.LEADER, "pickup.keeper")
)
@router.message(Command("keeper_add", "keeper_remove"), PRIVATE)
async def keeper_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Callable[[], datetime],
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    community: CommunityView | None = None,
) -> None:
    """Names a keeper of a pickup point (/keeper_add @user POINT), or removes one; the keeper
    is told."""
    if not await _may_act(
        message, session, member, settings, community, "pickup.keeper", now=clock()
    ):
        return
    words = (command.args or "").split()
    point_id = number(words[1]) if len(words) == 2 else None
    if point_id is None:
        await message.reply(_(KEEPER_USAGE).format(command=command.command))
        return
    adding = command.command == "keeper_add"
    action = "pickup.keeper_add" if adding else "pickup.keeper_remove"
    point = await _managed_point(message, session, member, settings, point_id, action, now=clock())
    if point is None:
        return
    target = await named_member(session, words[0], message.reply)
    if target is None:
        return
    name, place = esc(target.display_name), esc_name(point.name)
    if adding:
        added = await add_keeper(
            session, point_id=point.id, member_id=target.id, actor_id=member.id
        )
        text = (
            _(
                "{name} now keeps pickup point #{id} {point}: they confirm pickups there with "
                "/redeem CODE."
            )
            if added
            else _("{name} already keeps pickup point #{id} {point}.")
        )
    else:
        removed = await remove_keeper(session, point_id=point.id, member_id=target.id)
        text = (
            _("{name} no longer keeps pickup point #{id} {point}.")
            if removed
            else _("{name} does not keep pickup point #{id} {point}.")
        )
    if adding and added and target.started:
        with i18n.use_locale(target.locale or settings.default_locale):
            notice = _(
                "You now keep pickup point #{id} {point}. When a member shows you the pickup "
                "code of their order, send /redeem CODE to me here (or scan their QR code with "
                "the button /redeem gives), then hand the order over."
            ).format(id=point.id, point=place)
        notifier.send(target.id, notice)
    await message.reply(text.format(name=name, id=point.id, point=place))


def _scanner_keyboard(settings: HandlerSettings) -> InlineKeyboardMarkup | None:
    """The button that opens the keeper's Mini App page (Telegram opens https pages only)."""
    base = settings.public_dashboard_url
    if base is None or not base.startswith("https://"):
        return None
    button = InlineKeyboardButton(
        text=_("📷 Scan a pickup QR code"), web_app=WebAppInfo(url=f"{base}/keeper")
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


@router.message(Command("redeem"), PRIVATE)
async def redeem_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
    bot: Bot,
    after_commit: CommitHook,
) -> None:
    """Confirms a pickup by the code the member shows (核销): /redeem CODE, once; the member
    is told, and invited to review it as after any pickup."""
    code = (command.args or "").strip()
    zone = member.timezone or settings.default_timezone
    if not code:
        if not await _may_act(
            message, session, member, settings, None, "pickup.redeem", keepers=True, now=clock()
        ):
            return
        await message.answer(
            _(
                "Send the member's pickup code: /redeem CODE, for example /redeem K7MP2X. Or "
                "scan the QR code in their order with the button below."
            ),
            reply_markup=_scanner_keyboard(settings),
        )
        return
    try:
        redeemed = await redeem_code(
            session, code=code, actor_id=member.id, owner_ids=settings.owner_ids, now=clock()
        )
    except PickupError as exc:
        await audited(
            session, member, message.chat.id, "pickup.redeem", False, exc.reason, now=clock()
        )
        await message.answer(redeem_error_text(exc, zone, member.timezone))
        return
    await audited(
        session,
        member,
        message.chat.id,
        "pickup.redeem",
        True,
        f"order #{redeemed.order.id}",
        now=clock(),
    )
    buyer = await get_member(session, redeemed.order.member_id)
    if buyer is not None:
        if buyer.started:
            with i18n.use_locale(redeemed.buyer_locale or settings.default_locale):
                notice = picked_up_notice(
                    redeemed, buyer.timezone or settings.default_timezone, buyer.timezone
                )
            notifier.send(buyer.id, notice)
        marking = Marking(settings, notifier, i18n, clock(), bot, after_commit)
        await marking.picked_up(session, buyer, [redeemed.order])
    await message.answer(redeemed_text(redeemed))


@router.message(Command("point_sheet"), GROUP, RoleFilter(Role.LEADER, "pickup.point_sheet"))
@router.message(Command("point_sheet"), PRIVATE)
async def point_sheet_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Callable[[], datetime],
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    community: CommunityView | None = None,
) -> None:
    """Shows a pickup point's sheet to its keepers, its group's leader and staff."""
    words = (command.args or "").split()
    point_id = number(words[0]) if len(words) == 1 else None
    if point_id is None:
        if not await _may_act(
            message,
            session,
            member,
            settings,
            community,
            "pickup.point_sheet",
            keepers=True,
            now=clock(),
        ):
            return
        await message.reply(_("Tell me which point: /point_sheet POINT, for example 3."))
        return
    sheet = await point_sheet(session, point_id=point_id)
    if sheet is None:
        await message.reply(_(NO_POINT).format(id=point_id))
        return
    kept = {p.id for p in await kept_points(session, member_id=member.id)}
    allowed = point_id in kept or await may_manage_points(
        session,
        community_id=sheet.point.community_id,
        member_id=member.id,
        owner_ids=settings.owner_ids,
    )
    if not await audited(
        session,
        member,
        message.chat.id,
        "pickup.point_sheet",
        allowed,
        f"point #{point_id}",
        now=clock(),
    ):
        await message.reply(
            _(
                "Only the keepers of pickup point #{id}, its group's leader and staff see its "
                "sheet."
            ).format(id=point_id)
        )
        return
    await message.answer(point_sheet_text(sheet, locale))


GB_POINTS_USAGE = N_(
    "Tell me the group-buy and the points it offers: /gb_points GROUPBUY POINT POINT..., for "
    "example /gb_points 4 1 2; /gb_points 4 all offers every point of its groups again, and "
    "/gb_points 4 shows what it offers now."
)


@router.message(Command("gb_points"), GROUP, RoleFilter(Role.LEADER, "pickup.gb_points"))
@router.message(Command("gb_points"), PRIVATE)
async def gb_points_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Callable[[], datetime],
    member: MemberView,
    settings: HandlerSettings,
    community: CommunityView | None = None,
) -> None:
    """Chooses the pickup points a group-buy offers (a member picks one when several), or
    shows them: /gb_points GROUPBUY [POINT ...|all]."""
    if not await _may_act(
        message, session, member, settings, community, "pickup.gb_points", now=clock()
    ):
        return
    words = (command.args or "").split()
    gb_id = number(words[0]) if words else None
    points = [number(word) for word in words[1:]]
    everything = [word.lower() for word in words[1:]] == ["all"]
    if gb_id is None or (not everything and None in points):
        await message.reply(_(GB_POINTS_USAGE))
        return
    if not await may_run_it(session, settings, member, gb_id, "pickup.gb_points", now=clock()):
        await message.reply(_(NOT_YOURS).format(id=gb_id))
        return
    if words[1:]:
        try:
            await set_groupbuy_points(
                session,
                groupbuy_id=gb_id,
                point_ids=[] if everything else [p for p in points if p is not None],
            )
        except PickupError as exc:
            await message.reply(
                _(
                    "Pickup point #{id} is not offered in a group this group-buy is posted in. "
                    "/pickup_points lists the points with their numbers."
                ).format(id=esc(exc.detail))
            )
            return
    offered = await groupbuy_points(session, groupbuy_id=gb_id)
    if not offered:
        await message.reply(
            _(
                "Group-buy #{id} has no pickup points to offer yet: add one with /pickup_point_add."
            ).format(id=gb_id)
        )
        return
    names = ", ".join(f"#{point.id} {esc_name(point.name)}" for point in offered)
    await message.reply(
        _("Group-buy #{id} offers these pickup points: {points}.").format(id=gb_id, points=names)
    )
