"""Group-buys in groups: open one (or a drop across groups), the card, joining, 接龙 list,
leader controls, and the announcements when a group-buy closes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
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
from handlers.views.delivery import deliver_keyboard
from handlers.views.groupbuy import (
    GroupBuyAction,
    GroupBuyCallback,
    GroupBuyVariantAction,
    GroupBuyVariantCallback,
    card_text,
    closing_effects,
    fits_caption,
)
from handlers.views.levels import level_name
from handlers.views.lint import clear_command, product_texts, split_override
from handlers.views.order import send_invoice
from handlers.views.pickup import for_whom_text, unreached_leader_effects
from handlers.views.policy import held_text, opened_text
from handlers.views.text import (
    CAPTION_LIMIT,
    LANGUAGE_NAMES,
    N_,
    UNREADABLE,
    BackgroundSender,
    CardPoster,
    CardToucher,
    CommitHook,
    DeadlineScheduler,
    GroupBuyCounters,
    HandlerSettings,
    RefundWaker,
    carry_out,
    counted,
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
from models.order import DELIVERY_PICKUP
from models.product import FULFIL_BOTH, FULFILMENT_MODES, PAYMENT_TELEGRAM
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
    Closing,
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyView,
    ListEntry,
    call_off_groupbuy,
    extend_deadline,
    get_groupbuy,
    groupbuys_in_chat,
    list_lines,
    open_groupbuy,
    parse_count,
    parse_deadline,
    parse_minimum,
    parse_tiers,
    participants,
    posts,
    prepaid_units,
    prepayment_due,
    set_pickup_language,
    set_quantity,
    settle_groupbuy,
    sync_prepayment,
)
from services.jielong import parse_form
from services.levels import LevelError, parse_level
from services.member import MemberView, get_member
from services.order import (
    start_invoice,
)
from services.parsing import FULFILMENT_ALIASES, is_option, normalize, split_option, zone_label
from services.policy import (
    KIND_DROP,
    KIND_GROUPBUY,
    KIND_LEADER,
    HeldBack,
    Verdict,
    decide,
    schedule_cards,
)
from services.product import get_product
from services.referral import deep_link, groupbuy_start_parameter
from services.role import Role, is_staff
from services.tiers import list_tiers
from services.validation import number
from services.waitlist import waiting_counts
from services.zones import group_zone, member_zone, private_zone, show, staff_zone

log = logging.getLogger(__name__)
router = Router(name="groupbuy")

REFUSALS: dict[str, str] = {
    GroupBuyRefusal.CLOSED: N_("This group-buy is closed."),
    GroupBuyRefusal.SOLD_OUT: N_("Sorry, it is sold out."),
    "too_few_left": N_("Sorry, only {left} left: take fewer."),
    GroupBuyRefusal.OVER_LIMIT: N_("That is more than the limit per member."),
    GroupBuyRefusal.NOT_JOINED: N_("You have not joined this group-buy."),
    GroupBuyRefusal.BAD_QUANTITY: N_("That quantity is not possible."),
    GroupBuyRefusal.NOT_FOUND: N_("This group-buy no longer exists."),
    GroupBuyRefusal.PREPAID: N_(
        "You have already paid for these units. Ask your leader if you must cancel."
    ),
    GroupBuyRefusal.CHOOSE_VARIANT: N_("Tap the Join button of the variant you want."),
    GroupBuyRefusal.OTHER_VARIANT: N_(
        "You joined with {variant}. Leave first to take another variant."
    ),
}
OPEN_ERRORS: dict[str, str] = {
    GroupBuyRefusal.NO_PRODUCT: N_("There is no such product. Send /products to see them."),
    GroupBuyRefusal.MIN_ABOVE_STOCK: N_(
        "The minimum is larger than the stock: lower min= or raise stock=."
    ),
    GroupBuyRefusal.DEADLINE_PAST: N_("The deadline must be in the future."),
    GroupBuyRefusal.DEADLINE_TOO_FAR: N_("The deadline can be at most 30 days away."),
    GroupBuyRefusal.BAD_DEADLINE: UNREADABLE["when"],
    GroupBuyRefusal.TIERS_NOT_DECREASING: N_(
        "Tiers must go up in units and down in price, below the base price, like "
        "tiers=10:35.90,30:32.90."
    ),
    GroupBuyRefusal.BAD_TIERS: N_(
        "I could not read the tier {part}. Write tiers like tiers=10:35.90,30:32.90 (units:price)."
    ),
    GroupBuyRefusal.NOT_ENOUGH_STOCK: N_(
        "The product does not have that much stock left: {units}. Lower stock= to at most {left}."
    ),
    GroupBuyRefusal.NOT_POSITIVE: N_("Minimum, stock and limit must be whole numbers above zero."),
    GroupBuyRefusal.NO_CHATS: N_("There is no group to post it in."),
    GroupBuyRefusal.GROUP_NOT_OPEN: N_(
        "This group is not open for group-buys: the brand has not approved it (or has paused it)."
    ),
    GroupBuyRefusal.BAD_VIP: N_(
        "Write the VIP window as vip=2h for the VIP tiers, vip=2h:gold for Gold and above "
        "(see /tiers), or vip=2h:vip / vip=2h:core for the members of the VIP or core groups."
    ),
    GroupBuyRefusal.VIP_AFTER_DEADLINE: N_("The VIP window must end before the deadline."),
    GroupBuyRefusal.BAD_FULFILMENT: N_(
        "Write how its orders reach members as delivery=pickup, delivery=delivery or "
        "delivery=both (leave it out: as the product says)."
    ),
    GroupBuyRefusal.BAD_TRANSLATION: N_(
        "A translation of the pickup text is too long or in a language I do not speak: {part}."
    ),
    GroupBuyRefusal.VARIANTS_NO_TIERS: N_(
        "Each variant of this product has its own price, so its group-buys take no tiers: "
        "leave out tiers=."
    ),
    GroupBuyRefusal.VARIANTS_PREPAID: N_(
        "Group-buys of products with variants are paid at pickup for now: set the product to "
        "offline payment, or sell it with /buy."
    ),
    GroupBuyRefusal.BAD_FORM: N_(
        "Write how the list forms as form=each (item by item) or form=all (as a whole)."
    ),
    GroupBuyRefusal.NO_ITEMS: N_(
        "A sign-up list of a product needs its variants as items: this product has none. "
        "Paste a list with /signup instead."
    ),
    GroupBuyRefusal.LEADER_LIMIT: N_(
        "The brand's staff limit the group-buys you may have open at once to {limit}, and that "
        "many are open now. Open this one when one of them has closed, or ask the brand's staff."
    ),
}


TARGET_OPTIONS = ("to=", "发往=")  # the one-line drop's target option, in English and Chinese
DROP_ERRORS: dict[str, str] = {
    DropRefusal.TARGET: N_(
        "I could not read where the drop goes: {part}. Write to=all, to=#tag or group ids "
        "like to=-1001234567890,-1009876543210."
    ),
    DropRefusal.TAG: N_("A tag is made of letters, digits, - and _, at most 32: {part}."),
    "no_groups": N_("No open group matches: nothing was posted."),
    "level": N_(
        "I could not read the level: {part}. Write level=open, level=vip or level=core "
        "(等级=普通, 等级=VIP, 等级=核心)."
    ),
}


def level_option(words: list[str]) -> tuple[str | None, str]:
    """The level=vip (等级=核心) word among `words` and its value; (None, "") without one."""
    for word in words:
        option = split_option(word)
        if option is not None and option[0] == "level":
            return word, option[1]
    return None, ""


def level_error_text(exc: LevelError) -> str:
    """Why a level option (level=vip, 等级=核心) was refused, naming what was written."""
    return _(DROP_ERRORS["level"]).format(part=quoted(exc.detail))


def drop_error_text(exc: DropError) -> str:
    """Why a drop's target was refused, naming the part that could not be read."""
    return _(DROP_ERRORS.get(exc.reason, DROP_ERRORS[DropRefusal.TARGET])).format(
        part=quoted(exc.detail)
    )


def open_error_text(exc: GroupBuyError) -> str | None:
    """Why a group-buy could not open, with the figure or the unreadable part the refusal
    carries (None: unknown)."""
    text = OPEN_ERRORS.get(exc.reason)
    if not text:
        return None
    # the stock left, when the refusal is about it (detail is then the number the service found)
    units = (
        counted("unit", int(exc.detail))
        if exc.reason == GroupBuyRefusal.NOT_ENOUGH_STOCK
        else exc.detail
    )
    return _(text).format(limit=exc.detail, left=exc.detail, units=units, part=quoted(exc.detail))


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


def refusal_text(exc: GroupBuyError) -> str:
    """Why a join or change was refused; a sell-out says how many units are left, if any."""
    if exc.reason == GroupBuyRefusal.SOLD_OUT and exc.detail.isdigit() and int(exc.detail) > 0:
        return _(REFUSALS["too_few_left"]).format(left=exc.detail)
    if exc.reason == GroupBuyRefusal.OTHER_VARIANT:
        return _(REFUSALS[GroupBuyRefusal.OTHER_VARIANT]).format(variant=exc.detail)
    return _(REFUSALS.get(exc.reason, REFUSALS[GroupBuyRefusal.CLOSED]))


USAGE = N_(
    "Open a group-buy with one line:\n/groupbuy PRODUCT DEADLINE [min=N or min=Nu] [stock=N] "
    "[limit=N] [tiers=10:35.90,30:32.90] [vip=2h or vip=2h:gold] "
    "[delivery=pickup, delivery or both] [pickup=place and time]\n"
    "For example: /groupbuy 3 24h "
    "min=5 stock=50 limit=3 tiers=10:35.90 pickup=Shop A, Sat 10:00"
)


def command_options(words: list[str]) -> dict[str, str]:
    """key=value words (English keys or their Chinese aliases); pickup= takes the rest of the
    line; a word without = continues the value before it."""
    options: dict[str, str] = {}
    last = None
    for index, word in enumerate(words):
        option = split_option(word)  # English or Chinese keys, = or ＝: 阶梯＝10：35.90
        if option is None:
            if last is None:
                raise GroupBuyError(GroupBuyRefusal.USAGE, word)
            options[last] += " " + word  # "tiers=10:35.90, 30:32.90" typed with a space
            continue
        key, value = option
        last = key
        if key == "pickup":
            options[key] = " ".join([value, *words[index + 1 :]]).strip()
            break
        options[key] = value
    return options


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


def option_count(options: dict[str, str], key: str, default: int) -> int:
    return parse_count(options.get(key, str(default)).lower().removesuffix("u").removesuffix("件"))


@dataclass(frozen=True, slots=True)
class OpenValues:
    """A group-buy to open, already parsed from the one-line command or the wizard."""

    product_id: int
    deadline: datetime
    min_kind: str
    min_count: int
    stock_cap: int
    per_member_limit: int
    tiers: tuple[tuple[int, int], ...] = ()
    pickup_point: str = ""
    pickup_time: str = ""
    vip_until: datetime | None = None  # the VIP early-access window ends then
    vip_rank: int = 0  # the lowest tier rank admitted during the window
    vip_level: str = ""  # or: the least level of the groups joined from during the window
    # a drop's pickup texts in other languages: {locale: {"pickup_point": ..., ...}}
    pickup_translations: dict[str, dict[str, str]] | None = None
    # a targeted drop's own pickup text per group: {chat id: text}
    pickups: dict[int, str] | None = None
    fulfilment: str = ""  # its own delivery mode (pickup, delivery, both); "": the product's
    # a sign-up list (接龙) of the product's variants, forming item by item or as a whole, each
    # item's own minimum in the variants' order
    multi: bool = False
    form_per_item: bool = False
    item_minimums: tuple[int, ...] = ()
    # a pasted list's items in its order, the list's own and the catalogue's (services/jielong.py)
    items: tuple[ListEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class OpenDefaults:
    """What a one-line open command (/groupbuy, /drop, /poll_presale) takes for an option not
    written: each command has its own."""

    minimum: str  # written as min= is: "2" (people) or "20u" (units)
    stock: int
    limit: int


def parse_open_line(
    words: list[str],
    *,
    product_id: int,
    defaults: OpenDefaults,
    now: datetime,
    timezone: str,
    keys: frozenset[str] | None = None,
) -> tuple[OpenValues, dict[str, str]]:
    """The words after a one-line open command's product: the deadline (every word up to the
    first option, "12-31 20:00", "tomorrow 8pm", or deadline= / 截止=), then key=value options
    (command_options). Reads deadline, min, stock and limit, the defaults filling in those not
    written; returns them as values to open and every option as written, for the command's
    own (tiers=, level=, ...). With `keys`, an option outside them is refused (bad_option)."""
    options_at = next((i for i, w in enumerate(words) if is_option(w)), len(words))
    options = command_options(words[options_at:])
    unknown = next((key for key in options if keys is not None and key not in keys), None)
    if unknown is not None:
        raise GroupBuyError(GroupBuyRefusal.BAD_OPTION, unknown)
    when = " ".join(words[:options_at]) or options.get("deadline", "")
    if not when:
        raise GroupBuyError(GroupBuyRefusal.USAGE)
    deadline = parse_deadline(when, now=now, timezone=timezone)
    min_kind, min_count = parse_minimum(options.get("min", defaults.minimum))
    values = OpenValues(
        product_id=product_id,
        deadline=deadline,
        min_kind=min_kind,
        min_count=min_count,
        stock_cap=option_count(options, "stock", defaults.stock),
        per_member_limit=option_count(options, "limit", defaults.limit),
    )
    return values, options


@dataclass(frozen=True, slots=True)
class Opened:
    """A group-buy just opened, and what the promotion policy said about its cards."""

    gb: GroupBuyView
    posted: list[int]  # the chats whose card goes now (posted once the update committed)
    scheduled: list[Verdict]  # the chats whose card waits for its first allowed moment
    refused: list[Verdict]  # the chats it may reach only after its deadline, or never


async def open_and_post(
    session: AsyncSession,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
    values: OpenValues,
    *,
    opened_by: int,
    chat_ids: list[int],
    commission_bps: int,
    now: datetime,
    kind: str,
    settings: HandlerSettings,
) -> Opened:
    """Opens the group-buy in the chats the promotion policy lets a card of `kind` reach before
    its deadline and schedules a card in each: due now where the policy allows it now, at the
    first allowed moment elsewhere. The cards due now are posted once the update committed;
    the others by the card poster at their time. Schedules the deadline too.

    Raises GroupBuyError (nothing opened) when the values are refused, HeldBack (nothing
    opened) when no chat may take the card before the deadline.
    """
    if values.deadline <= now:  # said as such, not as "no group before the deadline"
        raise GroupBuyError(GroupBuyRefusal.DEADLINE_PAST)
    verdicts = await decide(
        session,
        kind=kind,
        chat_ids=chat_ids,
        now=now,
        rules=settings.pacing_rules(),
        default_timezone=settings.default_timezone,
    )
    fits = [v for v in verdicts if v.at is not None and v.at < values.deadline]
    refused = [v for v in verdicts if v not in fits]
    if not fits:
        raise HeldBack(refused)
    gb = await open_groupbuy(
        session,
        product_id=values.product_id,
        opened_by=opened_by,
        chat_ids=[verdict.chat_id for verdict in fits],
        min_kind=values.min_kind,
        min_count=values.min_count,
        stock_cap=values.stock_cap,
        per_member_limit=values.per_member_limit,
        deadline=values.deadline,
        now=now,
        tiers=values.tiers,
        pickup_point=values.pickup_point,
        pickup_time=values.pickup_time,
        pickup_translations=values.pickup_translations,
        pickups=values.pickups,
        commission_bps=commission_bps,
        vip_until=values.vip_until,
        vip_rank=values.vip_rank,
        vip_level=values.vip_level,
        fulfilment=values.fulfilment,
        multi=values.multi,
        form_per_item=values.form_per_item,
        item_minimums=values.item_minimums,
        items=values.items,
    )
    # the groups it opened in (a group no longer open for business is left out)
    opened = {post.chat_id for post in await posts(session, gb.id)}
    fits = [verdict for verdict in fits if verdict.chat_id in opened]
    rows = await schedule_cards(session, kind=kind, groupbuy_id=gb.id, verdicts=fits, now=now)
    after_commit.add(lambda: poster.post(gb.id))
    for row_id, due_at in rows:
        if due_at > now:
            after_commit.add(later(poster.schedule, row_id, due_at))
    closer.schedule(gb.id, gb.deadline)
    return Opened(
        gb,
        [verdict.chat_id for verdict in fits if verdict.now],
        [verdict for verdict in fits if not verdict.now],
        refused,
    )


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
        stock_default = product.stock if product.stock is not None else 100
        if product.variants:  # stock= is then per variant: by default, all each one has
            stock_default = max(100 if v.stock is None else v.stock for v in product.variants)
        values, options = parse_open_line(
            words[1:],
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
                locale=member.locale,
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
            vip_until, vip_rank, vip_level = await _vip_window(
                session, options["vip"], now, timezone
            )
            values = replace(values, vip_until=vip_until, vip_rank=vip_rank, vip_level=vip_level)
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
        if callback_data.action == GroupBuyAction.JOIN:
            result = await set_quantity(
                session,
                groupbuy_id=callback_data.groupbuy_id,
                member_id=member.id,
                chat_id=query.message.chat.id,
                quantity=callback_data.quantity,
                now=now,
                add=True,
                variant_id=getattr(callback_data, "variant_id", None),
            )
        else:
            current = {
                p.member_id: p.quantity
                for p in await participants(session, callback_data.groupbuy_id)
            }.get(member.id, 0)
            target = 0 if callback_data.action == GroupBuyAction.LEAVE else max(0, current - 1)
            paid = await prepaid_units(
                session, groupbuy_id=callback_data.groupbuy_id, member_id=member.id
            )
            if target < paid:
                raise GroupBuyError(GroupBuyRefusal.PREPAID, str(paid))
            result = await set_quantity(
                session,
                groupbuy_id=callback_data.groupbuy_id,
                member_id=member.id,
                chat_id=query.message.chat.id,
                quantity=target,
                now=now,
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
        await _prepay(
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


async def start_on_groupbuy(
    message: Message,
    *,
    groupbuy_id: int,
    bot: Bot,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
) -> None:
    """After the welcome, for a member who came from "Open the bot" under their join
    confirmation: their place in the group-buy, and its invoice when it is paid in Telegram."""
    groupbuy = await get_groupbuy(session, groupbuy_id)
    place = next(
        (p for p in await participants(session, groupbuy_id) if p.member_id == member.id), None
    )
    if groupbuy is None or place is None:
        await message.answer(_(REFUSALS[GroupBuyRefusal.NOT_JOINED]))
        return
    joined = _("You joined {title}: quantity {quantity}, you are #{position}.").format(
        title=esc_name(groupbuy.in_language(member.locale, default_locale()).title),
        quantity=place.quantity,
        position=place.position,
    )
    await message.answer(
        joined + "\n" + _("From now on I send your confirmations and pickup details here.")
    )
    if groupbuy.payment_mode != PAYMENT_TELEGRAM:
        return
    order = await prepayment_due(
        session, groupbuy_id=groupbuy.id, member_id=member.id, chat_id=place.chat_id
    )
    if order is None:
        return
    invoice = await start_invoice(session, order_id=order.id, member_id=member.id)
    try:
        await send_invoice(bot, invoice, settings)
    except TelegramAPIError as exc:
        log.info("could not send the prepayment invoice of order %s: %s", order.id, exc)


async def _prepay(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    groupbuy_id: int,
    chat_id: int,
) -> None:
    """A Telegram-paid group-buy is paid when joining: the member's unpaid order follows their
    quantity, and a new one gets its invoice in private, in the member's language."""
    order = await sync_prepayment(
        session, groupbuy_id=groupbuy_id, member_id=member.id, chat_id=chat_id
    )
    if order is None or not member.started:
        return
    invoice = await start_invoice(session, order_id=order.id, member_id=member.id)
    groupbuy = await get_groupbuy(session, groupbuy_id)
    # offered both ways (the group-buy's own mode, or its product's): delivery is a tap away
    both = groupbuy is not None and groupbuy.fulfilment == FULFIL_BOTH
    try:
        with i18n.use_locale(member.locale):  # the join was in the group's language
            await send_invoice(bot, invoice, settings)
            if both and invoice.delivery == DELIVERY_PICKUP:
                await bot.send_message(
                    member.id,
                    _(
                        "Rather have order #{id} delivered? Tap below; a new invoice follows."
                    ).format(id=order.id),
                    reply_markup=deliver_keyboard(order.id).as_markup(),
                )
    except TelegramAPIError as exc:
        log.info("could not send the prepayment invoice of order %s: %s", order.id, exc)


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


def announce(
    bot: Bot,
    i18n: I18n,
    closing: Closing,
    now: datetime,
    *,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    settings: HandlerSettings,
    refunder: RefundWaker,
) -> None:
    """Tells every group and participant how a group-buy closed, each in their language, once
    the closing committed; formed Telegram-paid orders get their invoices, and the refunder
    sends back the Stars the closing refunded."""
    carry_out(
        closing_effects(i18n, closing, now, settings) + unreached_leader_effects(i18n, closing),
        bot=bot,
        notifier=notifier,
        after_commit=after_commit,
    )
    if closing.star_refunds:
        after_commit.add(later(refunder.wake))
