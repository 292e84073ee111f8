"""Group-buys in groups: open one (or a drop across groups), the card, joining, 接龙 list,
leader controls, and the announcements when a group-buy closes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
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

from handlers.filters import GROUP, PRIVATE, OpenGroup, RoleFilter
from handlers.views.groupbuy import (
    GroupBuyAction,
    GroupBuyCallback,
    GroupBuyVariantAction,
    GroupBuyVariantCallback,
    announce,
    card_text,
    fits_caption,
)
from handlers.views.groupbuy_join import prepay, refusal_text
from handlers.views.groupbuy_open import (
    DROP_ERRORS,
    USAGE,
    OpenDefaults,
    OpenValues,
    level_error_text,
    open_and_post,
    open_error_text,
    parse_open_line,
)
from handlers.views.levels import level_name
from handlers.views.lint import clear_command, product_texts, split_override
from handlers.views.pickup import for_whom_text
from handlers.views.policy import held_text, opened_text
from handlers.views.text import (
    CAPTION_LIMIT,
    LANGUAGE_NAMES,
    N_,
    BackgroundSender,
    CardPoster,
    CardToucher,
    CommitHook,
    DeadlineScheduler,
    GroupBuyCounters,
    HandlerSettings,
    RefundWaker,
    default_locale,
    esc,
    esc_name,
    later,
    list_text,
    quoted,
    unreadable_text,
    visible_length,
)
from models.base import Clock
from models.community import LEVEL_OPEN
from models.product import FULFILMENT_MODES, PAYMENT_TELEGRAM
from services.community import CommunityView, get_community
from services.drop import (
    DropError,
    DropRefusal,
    DropTarget,
    group_pickups,
    parse_target,
    target_groups,
)
from services.forwhom import for_whom_in_groupbuys
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyView,
    JoinResult,
    call_off_groupbuy,
    extend_deadline,
    get_groupbuy,
    groupbuys_in_chat,
    list_lines,
    parse_deadline,
    parse_tiers,
    participants,
    prepaid_units,
    set_pickup_language,
    set_quantity,
    settle_groupbuy,
)
from services.jielong import parse_form
from services.levels import LevelError, parse_level
from services.member import MemberView, get_member
from services.parsing import FULFILMENT_ALIASES, normalize, split_option, zone_label
from services.policy import (
    KIND_DROP,
    KIND_GROUPBUY,
    KIND_LEADER,
    HeldBack,
)
from services.product import ProductView, get_product
from services.referral import deep_link, groupbuy_start_parameter
from services.role import Role, is_staff
from services.tiers import list_tiers
from services.validation import number
from services.waitlist import waiting_counts
from services.zones import group_zone, member_zone, private_zone, show, staff_zone

log = logging.getLogger(__name__)
router = Router(name="groupbuy")


TARGET_OPTIONS = ("to=", "发往=")  # the one-line drop's target option, in English and Chinese


def level_option(words: list[str]) -> tuple[str | None, str]:
    """The level=vip (等级=核心) word among `words` and its value; (None, "") without one."""
    for word in words:
        option = split_option(word)
        if option is not None and option[0] == "level":
            return word, option[1]
    return None, ""


def drop_error_text(exc: DropError) -> str:
    """Why a drop's target was refused, naming the part that could not be read."""
    return _(DROP_ERRORS.get(exc.reason, DROP_ERRORS[DropRefusal.TARGET])).format(
        part=quoted(exc.detail)
    )


# /gb_extend to a time that is not after the group-buy's end (deadline_past, cannot_extend)
CANNOT_EXTEND = N_(
    "Group-buy #{id} already ends {when}: give a later time, for example /gb_extend {id} 12h."
)

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


async def _vip_window(
    session: AsyncSession, text: str, now: datetime, timezone: str
) -> tuple[datetime, int, str]:
    """vip=2h (the VIP tiers), vip=2h:gold / vip=2h:2 (that tier and above), or vip=2h:vip /
    优先=2h:核心 (members joining from a group of that level or above): the window's end, the
    least tier rank and the level ("" for a tier's window)."""
    span, _sep, tier_text = text.partition(":")
    try:
        until = parse_deadline(span, now=now, timezone=timezone)
    except GroupBuyError:
        raise GroupBuyError(GroupBuyRefusal.BAD_VIP, text) from None
    tiers = await list_tiers(session)
    wanted = tier_text.strip().lower()
    if not wanted:
        vip_tiers = [t.rank for t in tiers if t.vip_access]
        return until, vip_tiers[0] if vip_tiers else 1, ""
    for tier in tiers:
        if wanted in (str(tier.rank), tier.code, tier.name.lower()):
            return until, tier.rank, ""
    try:
        level = parse_level(wanted)
    except LevelError:
        raise GroupBuyError(GroupBuyRefusal.BAD_VIP, text) from None
    if level == LEVEL_OPEN:  # every group is open or above: no window at all
        raise GroupBuyError(GroupBuyRefusal.BAD_VIP, text)
    return until, 0, level


def _fulfilment(text: str | None) -> str:
    """delivery=pickup|delivery|both: the group-buy's own delivery mode ("" when not given)."""
    if text is None:
        return ""
    mode = normalize(text).lower()
    mode = FULFILMENT_ALIASES.get(mode, mode)
    if mode not in FULFILMENT_MODES:
        raise GroupBuyError(GroupBuyRefusal.BAD_FULFILMENT, text)
    return mode


async def _open(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
    chat_ids: list[int],
    timezone: str,
    commission_bps: int,
    kind: str,
    pickups: dict[int, str] | None = None,
) -> None:
    args, reason = split_override(command.args or "")
    words = args.split()
    product_id = number(words[0]) if words else None
    if len(words) < 2 or product_id is None:
        await message.reply(_(USAGE))
        return
    now = clock()
    try:
        product = await get_product(session, product_id)
        if product is None or not product.active:
            raise GroupBuyError(GroupBuyRefusal.NO_PRODUCT)
        values = await _open_values(
            session, product, words[1:], now, timezone, member.locale, settings, pickups
        )
        # what members read on the card: the product's texts and the pickup note, linted
        cleared = await clear_command(
            message,
            [*product_texts(product), values.pickup_point, *(pickups or {}).values()],
            extra_words=settings.compliance_extra_words,
            reason=reason,
        )
        if cleared is None:
            return
        opened = await open_and_post(
            session,
            closer,
            poster,
            after_commit,
            values,
            opened_by=member.id,
            chat_ids=chat_ids,
            commission_bps=commission_bps,
            now=now,
            kind=kind,
            settings=settings,
        )
    except GroupBuyError as exc:
        await message.reply(open_error_text(exc) or _(USAGE))
        return
    except HeldBack as exc:
        await message.reply(
            await held_text(session, exc.verdicts, member=member, settings=settings, posted=False)
        )
        return
    gb = opened.gb
    await cleared.audit(
        session, actor_id=member.id, action="groupbuy.open", what=f"#{gb.id}", now=now
    )
    if message.chat.type == ChatType.PRIVATE or opened.scheduled or opened.refused:
        await message.answer(await opened_text(session, opened, member=member, settings=settings))


async def _open_values(
    session: AsyncSession,
    product: ProductView,
    words: list[str],
    now: datetime,
    timezone: str,
    locale: str,
    settings: HandlerSettings,
    pickups: dict[int, str] | None,
) -> OpenValues:
    """The group-buy's terms from the line after the product's id, with the product's
    defaults; GroupBuyError for a term that cannot be read."""
    stock_default = product.stock if product.stock is not None else 100
    if product.variants:  # stock= is then per variant: by default, all each one has
        stock_default = max(100 if v.stock is None else v.stock for v in product.variants)
    values, options = parse_open_line(
        words,
        product_id=product.id,
        defaults=OpenDefaults(minimum="2", stock=stock_default, limit=5),
        now=now,
        timezone=timezone,
    )
    values = replace(
        values,
        tiers=parse_tiers(
            options.get("tiers", ""),
            currency=product.currency,
            locale=locale,
            base_price=product.price,
            ceiling=settings.max_order_amount,
        ),
        pickup_point=options.get("pickup", ""),
        pickups=pickups,
        fulfilment=_fulfilment(options.get("delivery")),
    )
    if "form" in options:  # the product's variants as a sign-up list (接龙)
        values = replace(values, multi=True, form_per_item=parse_form(options["form"]))
    if "vip" in options:
        vip_until, vip_rank, vip_level = await _vip_window(session, options["vip"], now, timezone)
        values = replace(values, vip_until=vip_until, vip_rank=vip_rank, vip_level=vip_level)
    return values


# without arguments, /groupbuy and /drop start the wizard (handlers/groupbuy_wizard.py)
@router.message(
    Command("groupbuy", magic=F.args), GROUP, OpenGroup(), RoleFilter(Role.LEADER, "groupbuy.open")
)
async def groupbuy_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
) -> None:
    """Opens a group-buy in this group from one line."""
    await _open(
        message,
        command,
        session,
        member,
        settings,
        clock,
        closer,
        poster,
        after_commit,
        [community.id],
        community.timezone,
        settings.leader_commission_bps,
        # a leader's own group-buy in their group counts against the leader cap
        KIND_GROUPBUY if await is_staff(session, member.id) else KIND_LEADER,
    )


@router.message(
    Command("drop", magic=F.args),
    PRIVATE,
    RoleFilter(Role.STAFF, "groupbuy.drop"),
)
async def drop_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
) -> None:
    """Opens one group-buy at once in every approved group, or in those with a tag, or in
    chosen ones (to=#tea, to=-1001,-1002; 发往=全部 / 发往=#tea), sharing one stock, and only
    in the groups of one level with level=vip (等级=核心); each group with a pickup point
    shows it as the pickup."""
    words = (command.args or "").split(" ")
    # the target options come before pickup=, which takes the rest of the line
    head = words[: next((i for i, w in enumerate(words) if w.startswith("pickup=")), len(words))]
    wanted = next((w for w in head if w.lower().startswith(TARGET_OPTIONS)), None)
    leveled, level = level_option(head)
    try:
        target = parse_target(wanted.partition("=")[2]) if wanted else DropTarget()
        if leveled:
            target = replace(target, level=parse_level(level))
    except DropError as exc:
        await message.reply(drop_error_text(exc))
        return
    except LevelError as exc:
        await message.reply(level_error_text(exc))
        return
    chats = await target_groups(session, target)
    if not chats:
        await message.reply(_(DROP_ERRORS["no_groups"]))
        return
    for word in (wanted, leveled):
        if word:
            words.remove(word)
    command = replace(command, args=" ".join(words))
    await _open(
        message,
        command,
        session,
        member,
        settings,
        clock,
        closer,
        poster,
        after_commit,
        chats,
        staff_zone(member.timezone, settings.default_timezone),  # the deadline as staff typed it
        0,  # a staff drop earns nobody a commission
        KIND_DROP,
        await group_pickups(session, chats),
    )


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
    the bot on their place. Sent after commit; Telegram does not promise to deliver it."""

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
        after_commit.add(confirm)


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


DROP_PICKUP_USAGE = N_(
    "Send /drop_pickup ID LANGUAGE PLACE | TIME to change where and when an open drop is picked "
    "up, as the groups of that language read it, for example /drop_pickup 4 zh_Hans 茶室 | "
    "周六 10:00. Languages: en, zh_Hans, zh_Hant. Nothing after the language removes that "
    "language's own text."
)


def _language(word: str) -> str | None:
    """A language as typed ('zh_Hans', 'zh-hans', 'EN'), as the bot's locale; None: unknown."""
    wanted = word.replace("-", "_").lower()
    return next((locale for locale in LANGUAGE_NAMES if locale.lower() == wanted), None)


@router.message(
    Command("drop_pickup"),
    PRIVATE,
    RoleFilter(Role.STAFF, "groupbuy.pickup_text"),
)
async def drop_pickup_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    cards: CardToucher,
) -> None:
    """Changes an open drop's pickup place and time in one language; its cards show it."""
    args, reason = split_override(command.args or "")
    words = args.split(maxsplit=2)
    gb_id = number(words[0], prefix="") if len(words) >= 2 else None
    locale = _language(words[1]) if len(words) >= 2 else None
    if gb_id is None or locale is None:
        await message.reply(_(DROP_PICKUP_USAGE))
        return
    point, _bar, time = (words[2] if len(words) > 2 else "").replace("｜", "|").partition("|")
    point, time = point.strip(), time.strip()
    cleared = await clear_command(
        message, [point, time], extra_words=settings.compliance_extra_words, reason=reason
    )
    if cleared is None:
        return
    try:
        gb = await set_pickup_language(
            session, groupbuy_id=gb_id, locale=locale, point=point, time=time
        )
    except GroupBuyError as exc:
        text = open_error_text(exc) if exc.reason == GroupBuyRefusal.BAD_TRANSLATION else None
        await message.reply(text or _("There is no open group-buy #{id}.").format(id=gb_id))
        return
    await cleared.audit(
        session, actor_id=member.id, action="groupbuy.pickup_text", what=f"#{gb.id}", now=clock()
    )
    language = LANGUAGE_NAMES[locale]
    if not point and not time:
        reply = _(
            "Group-buy #{id} no longer has its own pickup text in {language}: its cards there "
            "show the brand's default."
        ).format(id=gb.id, language=language)
    else:
        reply = _("Saved. In {language}, group-buy #{id} is picked up at: {pickup}").format(
            id=gb.id, language=language, pickup=esc(" · ".join(t for t in (point, time) if t))
        )
    await message.reply(reply)
    cards.touch(gb.id)


@router.message(Command("gb_extend"), GROUP, RoleFilter(Role.LEADER, "groupbuy.extend"))
async def extend_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    clock: Clock,
    cards: CardToucher,
) -> None:
    """Moves a group-buy's deadline later: /gb_extend ID 12h."""
    words = (command.args or "").split(maxsplit=1)
    gb_id = number(words[0], prefix="") if len(words) == 2 else None
    if gb_id is None:
        await message.reply(_("Send /gb_extend ID NEW_DEADLINE, for example /gb_extend 4 12h."))
        return
    if gb_id not in await groupbuys_in_chat(session, community.id):
        await message.reply(_("There is no open group-buy #{id} in this group.").format(id=gb_id))
        return
    now = clock()
    found: GroupBuyView | None = None
    try:
        found = await get_groupbuy(session, gb_id)
        assert found is not None
        # "12h" counts from the current deadline; "明天晚上8点" is tomorrow from now
        since = max(now, found.deadline)
        deadline = parse_deadline(words[1], now=now, timezone=community.timezone, since=since)
        gb = await extend_deadline(session, groupbuy_id=gb_id, deadline=deadline, now=now)
    except GroupBuyError as exc:
        # a time before the current end (or a race with its closing): say the end it has
        later = (GroupBuyRefusal.CANNOT_EXTEND, GroupBuyRefusal.DEADLINE_PAST)
        if exc.reason in later and found is not None:
            ends = found.deadline.astimezone(ZoneInfo(community.timezone))
            text = _(CANNOT_EXTEND).format(id=gb_id, when=ends.strftime("%m-%d %H:%M"))
        else:
            text = open_error_text(exc) or unreadable_text("when", words[1])
        await message.reply(text)
        return
    local = gb.deadline.astimezone(ZoneInfo(community.timezone))
    await message.reply(
        _("Group-buy #{id} now ends {when}.").format(id=gb.id, when=local.strftime("%m-%d %H:%M"))
    )
    cards.touch(gb_id)


async def _open_here(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    usage: str,
) -> int | None:
    """The group-buy id a leader command names, if it is open in this group; else replies."""
    words = (command.args or "").split()
    gb_id = number(words[0], prefix="") if len(words) == 1 else None
    if gb_id is None:
        await message.reply(usage)
        return None
    if gb_id not in await groupbuys_in_chat(session, community.id):
        await message.reply(_("There is no open group-buy #{id} in this group.").format(id=gb_id))
        return None
    return gb_id


@router.message(Command("gb_close"), GROUP, RoleFilter(Role.LEADER, "groupbuy.close"))
async def close_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    metrics: GroupBuyCounters,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    refunder: RefundWaker,
) -> None:
    """Closes an open group-buy of this group now: it forms if it reached its minimum."""
    gb_id = await _open_here(
        message, command, session, community, _("Send /gb_close ID, for example /gb_close 4.")
    )
    if gb_id is None:
        return
    closing = await settle_groupbuy(
        session,
        groupbuy_id=gb_id,
        now=clock(),
        early=True,
        tier_currency=settings.tier_measure,
        default_locale=settings.default_locale,
        default_timezone=community.timezone,
    )
    if closing is None:  # closed meanwhile by the scheduler
        await message.reply(_("This group-buy is closed."))
        return
    metrics.settled(closing.formed)
    announce(
        bot,
        i18n,
        closing,
        clock(),
        notifier=notifier,
        after_commit=after_commit,
        settings=settings,
        refunder=refunder,
    )


@router.message(Command("gb_cancel"), GROUP, RoleFilter(Role.LEADER, "groupbuy.cancel"))
async def cancel_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    refunder: RefundWaker,
) -> None:
    """Cancels an open group-buy of this group; everyone is told."""
    gb_id = await _open_here(
        message, command, session, community, _("Send /gb_cancel ID, for example /gb_cancel 4.")
    )
    if gb_id is None:
        return
    closing = await call_off_groupbuy(
        session,
        groupbuy_id=gb_id,
        now=clock(),
        tier_currency=settings.tier_measure,
        default_locale=settings.default_locale,
        default_timezone=community.timezone,
    )
    announce(
        bot,
        i18n,
        closing,
        clock(),
        notifier=notifier,
        after_commit=after_commit,
        settings=settings,
        refunder=refunder,
    )
