"""Group-buys in groups: the card's buttons (joining, details), and the 接龙 list. Opening
one: handlers/groupbuy_open.py; leaders' controls: handlers/groupbuy_admin.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import (
    CallbackQuery,
    EphemeralMessageParameters,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, OpenGroup
from handlers.views.groupbuy import (
    GroupBuyAction,
    GroupBuyCallback,
    GroupBuyVariantAction,
    GroupBuyVariantCallback,
    card_text,
    fits_caption,
)
from handlers.views.groupbuy_join import prepay, refusal_text
from handlers.views.levels import level_name
from handlers.views.pickup import for_whom_text
from handlers.views.text import (
    CAPTION_LIMIT,
    N_,
    BackgroundSender,
    CardToucher,
    CommitHook,
    GroupBuyCounters,
    HandlerSettings,
    default_locale,
    esc,
    esc_name,
    later,
    list_text,
    visible_length,
)
from models.base import Clock
from models.product import PAYMENT_TELEGRAM
from services.community import CommunityView, get_community
from services.forwhom import for_whom_in_groupbuys
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyView,
    JoinResult,
    get_groupbuy,
    groupbuys_in_chat,
    list_lines,
    participants,
    prepaid_units,
    set_quantity,
)
from services.member import MemberView, get_member
from services.parsing import zone_label
from services.referral import deep_link, groupbuy_start_parameter
from services.waitlist import waiting_counts
from services.zones import group_zone, member_zone, private_zone, show

log = logging.getLogger(__name__)
router = Router(name="groupbuy")


# a Join tap before the VIP window ends (vip_level_only, vip_only), naming when it ends
VIP_LEVEL_ONLY = N_(
    "Early access is for members of the groups of level {level} until {time}; everyone "
    "can join after that."
)
VIP_ONLY = N_(
    "Early access is for VIP members until {time}; everyone can join after that. "
    "See /me for your tier."
)


# a Join tap on a card whose every unit is taken: the card's 🔔 button is the way on
SOLD_OUT_WAITLIST = N_("Sorry, it is sold out: tap 🔔 Notify me on the card to join the waitlist.")


def _toast(result_quantity: int, position: int) -> str:
    if result_quantity == 0:
        return _("You left this group-buy.")
    return _("You are #{position}, quantity {quantity}.").format(
        position=position, quantity=result_quantity
    )


def confirm_in_group(
    bot: Bot,
    query: CallbackQuery,
    *,
    chat_id: int,
    member: MemberView,
    groupbuy: GroupBuyView,
    quantity: int,
    position: int,
) -> Callable[[], Awaitable[object]]:
    """The join confirmation for a member who never started the bot: an ephemeral message in
    the group that only they see (Bot API 10.2), tied to their tap, with a button that opens
    the bot on their place. Sent after commit by the background sender (a rush of joins must
    not wait for a group's pace); Telegram does not promise to deliver it."""

    text = _(
        "{name}, you joined {title}: quantity {quantity}, you are #{position}. Only you see "
        "this message. Open the bot to get your confirmations, reminders and pickup details "
        "in private."
    ).format(
        name=esc(member.display_name),
        title=esc_name(groupbuy.in_language(member.locale, default_locale()).title),
        quantity=quantity,
        position=position,
    )
    label = _("Open the bot")

    async def send() -> None:
        me = await bot.me()  # aiogram asks Telegram once and keeps the answer
        link = deep_link(me.username or "", groupbuy_start_parameter(groupbuy.id))
        await bot.send_message(
            chat_id,
            text,
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text=label, url=link)]]
            ),
            ephemeral_message_parameters=EphemeralMessageParameters(
                receiver_user_id=member.id, callback_query_id=query.id
            ),
        )

    return send


@router.callback_query(
    GroupBuyCallback.filter(
        F.action.in_({GroupBuyAction.JOIN, GroupBuyAction.LESS, GroupBuyAction.LEAVE})
    ),
    OpenGroup(),
)
@router.callback_query(
    GroupBuyVariantCallback.filter(F.action == GroupBuyVariantAction.JOIN), OpenGroup()
)
async def join_button(
    query: CallbackQuery,
    callback_data: GroupBuyCallback | GroupBuyVariantCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    cards: CardToucher,
    notifier: BackgroundSender,
    settings: HandlerSettings,
    after_commit: CommitHook,
    metrics: GroupBuyCounters,
) -> None:
    """Joins, adds one fewer, or leaves, answering with a short toast as soon as the change
    is committed (so a toast never promises a place a rollback took back)."""
    if query.message is None:
        await query.answer()
        return
    now = clock()
    try:
        result = await _change_quantity(
            session, callback_data, member_id=member.id, chat_id=query.message.chat.id, now=now
        )
    except GroupBuyError as exc:
        with i18n.use_locale(member.locale):  # an answer to a tap is the member's alone
            if exc.reason in (GroupBuyRefusal.VIP_ONLY, GroupBuyRefusal.VIP_LEVEL_ONLY):
                refusal = await _vip_refusal(
                    session, callback_data.groupbuy_id, query, member, settings.default_timezone
                )
                await query.answer(refusal)
                return
            if exc.reason == GroupBuyRefusal.SOLD_OUT and exc.detail in ("", "0"):
                # the card's 🔔 button (of the group-buy, or of the variant) is the waitlist
                await query.answer(_(SOLD_OUT_WAITLIST), show_alert=True)
                return
            await query.answer(refusal_text(exc), show_alert=True)
        return
    with i18n.use_locale(member.locale):  # a toast is the member's alone: in their language
        toast = _toast(result.quantity, result.position)
    after_commit.add(lambda: query.answer(toast))
    if callback_data.action == GroupBuyAction.JOIN:
        after_commit.add(later(metrics.joined))
    if result.groupbuy.payment_mode == PAYMENT_TELEGRAM:
        await prepay(
            bot, i18n, session, settings, member, result.groupbuy.id, query.message.chat.id
        )
    if member.started and result.quantity:
        # in the background: a rush of joins must not wait for Telegram's pace
        with i18n.use_locale(member.locale):
            text = _("You joined {title}: quantity {quantity}, you are #{position}.").format(
                title=esc_name(result.groupbuy.in_language(member.locale, default_locale()).title),
                quantity=result.quantity,
                position=result.position,
            )
        notifier.send(member.id, text)  # queued once the update commits
    after_commit.add(later(cards.touch, callback_data.groupbuy_id))
    if not member.started and result.quantity:
        with i18n.use_locale(member.locale):  # seen by the member alone: in their language
            confirm = confirm_in_group(
                bot,
                query,
                chat_id=query.message.chat.id,
                member=member,
                groupbuy=result.groupbuy,
                quantity=result.quantity,
                position=result.position,
            )
        # in the background, like the private confirmation: it counts against the group's
        # pace, and a join that waited for it would hold up the taps behind it
        notifier.send_steps(query.message.chat.id, confirm)


async def _change_quantity(
    session: AsyncSession,
    callback_data: GroupBuyCallback | GroupBuyVariantCallback,
    *,
    member_id: int,
    chat_id: int,
    now: datetime,
) -> JoinResult:
    """The tap's change: join with the button's quantity, or one fewer, or leave (never below
    the units the member prepaid); GroupBuyError when it cannot be made."""
    if callback_data.action == GroupBuyAction.JOIN:
        return await set_quantity(
            session,
            groupbuy_id=callback_data.groupbuy_id,
            member_id=member_id,
            chat_id=chat_id,
            quantity=callback_data.quantity,
            now=now,
            add=True,
            variant_id=getattr(callback_data, "variant_id", None),
        )
    current = {
        p.member_id: p.quantity for p in await participants(session, callback_data.groupbuy_id)
    }.get(member_id, 0)
    target = 0 if callback_data.action == GroupBuyAction.LEAVE else max(0, current - 1)
    paid = await prepaid_units(session, groupbuy_id=callback_data.groupbuy_id, member_id=member_id)
    if target < paid:
        raise GroupBuyError(GroupBuyRefusal.PREPAID, str(paid))
    return await set_quantity(
        session,
        groupbuy_id=callback_data.groupbuy_id,
        member_id=member_id,
        chat_id=chat_id,
        quantity=target,
        now=now,
    )


async def _vip_refusal(
    session: AsyncSession,
    groupbuy_id: int,
    query: CallbackQuery,
    member: MemberView,
    default_zone: str,
) -> str:
    """Why a member cannot join yet: the VIP window, ending at a time in the group's zone
    (named when the member reads another zone)."""
    gb = await get_groupbuy(session, groupbuy_id)
    chat_id = query.message.chat.id if query.message else 0
    community = await get_community(session, chat_id)
    group = community.timezone if community else None
    zone = group_zone(group, default_zone)
    until = gb.vip_until if gb and gb.vip_until else datetime.now(UTC)
    reader = member_zone(member.timezone, group, default_zone)
    time = show(until, zone, reader=reader, pattern="%H:%M")
    if gb is not None and gb.vip_level:
        return _(VIP_LEVEL_ONLY).format(level=level_name(gb.vip_level), time=time)
    return _(VIP_ONLY).format(time=time)


@router.callback_query(GroupBuyCallback.filter(F.action == GroupBuyAction.DETAILS))
async def details_button(
    query: CallbackQuery,
    callback_data: GroupBuyCallback,
    session: AsyncSession,
    member: MemberView,
    locale: str,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Shows the member their own share in a popup; in private (a broadcast's button) to
    someone who has not joined, the group-buy's card."""
    mine = {p.member_id: p for p in await participants(session, callback_data.groupbuy_id)}
    entry = mine.get(member.id)
    private = isinstance(query.message, Message) and query.message.chat.type == ChatType.PRIVATE
    if entry is None and private:
        gb = await get_groupbuy(session, callback_data.groupbuy_id)
        if gb is not None and isinstance(query.message, Message):
            await query.answer()
            zone = await private_zone(
                session, member_id=member.id, own=member.timezone, default=settings.default_timezone
            )
            hint = "\n\n" + _("Join it with the button under its card in your group.")
            if zone != member.timezone:  # not the reader's own zone: say which it is
                hint += "\n" + _("Times on this card are {zone} time.").format(
                    zone=esc(zone_label(zone))
                )
            if gb.photo_file_id and fits_caption(gb, locale, zone, clock()):
                caption = card_text(gb, locale, zone, clock(), caption=True)
                if visible_length(caption + hint) <= CAPTION_LIMIT:
                    await query.message.answer_photo(gb.photo_file_id, caption=caption + hint)
                    return
            await query.message.answer(card_text(gb, locale, zone, clock()) + hint)
            return
    if entry is None:
        await query.answer(_("You have not joined this group-buy."), show_alert=True)
        return
    await query.answer(
        _("You are #{position}, quantity {quantity}.").format(
            position=entry.position, quantity=entry.quantity
        ),
        show_alert=True,
    )


@router.message(Command("list"), GROUP)
async def sign_up_list(
    message: Message, session: AsyncSession, community: CommunityView, locale: str
) -> None:
    """Shows who joined the group's open group-buys, numbered (接龙)."""
    ids = await groupbuys_in_chat(session, community.id)
    if not ids:
        await message.answer(
            _("There is no open group-buy in this group. Leaders open one with /groupbuy.")
        )
        return
    lines: list[str] = []
    waiting = await waiting_counts(session, ids)
    for_whom = await for_whom_in_groupbuys(session, ids)
    for gb_id in ids:
        gb = await get_groupbuy(session, gb_id)
        if gb is None:
            continue
        heading = _("<b>#{id} {title}</b> — {units} sold").format(
            id=gb.id,
            title=esc_name(gb.in_language(community.locale, default_locale()).title),
            units=gb.units_sold,
        )
        if waiting.get(gb_id):
            heading += " · " + _("{n} on the waitlist").format(n=waiting[gb_id])
        lines.append(heading)
        names = {v.variant_id: v.name for v in gb.variants}  # a variant beside each share
        ordered = await list_lines(session, gb_id)  # a sign-up list: each member's lines
        for entry in await participants(session, gb_id):
            who = await get_member(session, entry.member_id)
            name = who.display_name if who else str(entry.member_id)
            variant = names.get(entry.variant_id or 0)
            line = f"{entry.position}. {esc_name(name)} ×{entry.quantity}"
            line += f" · {esc_name(variant)}" if variant else ""
            if entry.member_id in ordered:
                line = f"{entry.position}. {esc_name(name)}: " + list_text(
                    f"{item.item}. {esc_name(item.name)} ×{item.quantity}"
                    for item in ordered[entry.member_id]
                )
            for whom in for_whom.get((gb_id, entry.member_id), []):
                line += for_whom_text(whom)
            lines.append(line)
        lines.append("")
    lines.append(_("Leaders: when it closes, /orders marks payments and pickups."))
    await message.answer("\n".join(lines).strip())
