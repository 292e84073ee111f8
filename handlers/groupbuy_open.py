"""Opening group-buys in one line: /groupbuy in a group, /drop across groups (with to=,
level=, vip=, tiers=, form= and the other terms); without arguments the wizard takes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    Message,
)
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, OpenGroup, RoleFilter
from handlers.views.groupbuy_open import (
    DROP_ERRORS,
    GROUPBUY_KEYS,
    USAGE,
    OpenDefaults,
    OpenValues,
    level_error_text,
    open_and_post,
    open_error_text,
    parse_open_line,
)
from handlers.views.lint import clear_command, product_texts, split_override
from handlers.views.policy import held_text, opened_text
from handlers.views.text import (
    CardPoster,
    CommitHook,
    DeadlineScheduler,
    HandlerSettings,
    quoted,
)
from models.base import Clock
from models.community import LEVEL_OPEN
from models.product import FULFILMENT_MODES
from services.community import CommunityView
from services.drop import (
    DropError,
    DropRefusal,
    DropTarget,
    group_pickups,
    parse_target,
    target_groups,
)
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    parse_deadline,
    parse_tiers,
)
from services.jielong import parse_form
from services.levels import LevelError, parse_level
from services.member import MemberView
from services.parsing import FULFILMENT_ALIASES, normalize, split_option
from services.policy import (
    KIND_DROP,
    KIND_GROUPBUY,
    KIND_LEADER,
    HeldBack,
)
from services.product import ProductView, get_product
from services.role import Role, is_staff
from services.tiers import list_tiers
from services.validation import number
from services.zones import staff_zone

router = Router(name="groupbuy_open")


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
        await message.reply(open_error_text(exc, _(USAGE)) or _(USAGE))
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
        keys=GROUPBUY_KEYS,
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
