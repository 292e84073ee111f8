"""Opening a group-buy, as every way of opening one does it (/groupbuy, /drop, the group-buy
wizard, a 接龙 list and a poll's winner): the command's options and defaults, the refusals,
and opening it with its cards posted where the promotion policy allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.text import (
    N_,
    UNREADABLE,
    CardPoster,
    CommitHook,
    DeadlineScheduler,
    HandlerSettings,
    counted,
    later,
    quoted,
)
from services.drop import (
    DropRefusal,
)
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyView,
    ListEntry,
    open_groupbuy,
    parse_count,
    parse_deadline,
    parse_minimum,
    posts,
)
from services.levels import LevelError
from services.parsing import is_option, split_option
from services.policy import (
    HeldBack,
    Verdict,
    decide,
    schedule_cards,
)

OPEN_ERRORS: dict[str, str] = {
    GroupBuyRefusal.NO_PRODUCT: N_("There is no such product. Send /products to see them."),
    GroupBuyRefusal.BAD_OPTION: N_(
        "I do not know the option {part}: check how it is spelled. The options this command "
        "takes are below."
    ),
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


def level_error_text(exc: LevelError) -> str:
    """Why a level option (level=vip, 等级=核心) was refused, naming what was written."""
    return _(DROP_ERRORS["level"]).format(part=quoted(exc.detail))


def open_error_text(exc: GroupBuyError, usage: str = "") -> str | None:
    """Why a group-buy could not open, with the figure or the unreadable part the refusal
    carries (None: unknown); an option the command does not take is followed by `usage`, the
    command's own (localized) usage."""
    text = OPEN_ERRORS.get(exc.reason)
    if not text:
        return None
    if exc.reason == GroupBuyRefusal.BAD_OPTION and usage:
        return _(text).format(part=quoted(exc.detail)) + "\n\n" + usage
    # the stock left, when the refusal is about it (detail is then the number the service found)
    units = (
        counted("unit", int(exc.detail))
        if exc.reason == GroupBuyRefusal.NOT_ENOUGH_STOCK
        else exc.detail
    )
    return _(text).format(limit=exc.detail, left=exc.detail, units=units, part=quoted(exc.detail))


USAGE = N_(
    "Open a group-buy with one line:\n/groupbuy PRODUCT DEADLINE [min=N or min=Nu] [stock=N] "
    "[limit=N] [tiers=10:35.90,30:32.90] [vip=2h or vip=2h:gold] "
    "[delivery=pickup, delivery or both] [pickup=place and time]\n"
    "For example: /groupbuy 3 24h "
    "min=5 stock=50 limit=3 tiers=10:35.90 pickup=Shop A, Sat 10:00"
)


# the options /groupbuy and /drop take (/drop's to= and level= are read before), and /signup's
GROUPBUY_KEYS = frozenset(
    {"deadline", "min", "stock", "limit", "tiers", "vip", "delivery", "pickup", "form"}
)
SIGNUP_KEYS = frozenset({"deadline", "min", "limit", "form", "pickup"})


def command_options(words: list[str], keys: frozenset[str] | None = None) -> dict[str, str]:
    """key=value words (English keys or their Chinese aliases); pickup= takes the rest of the
    line; a word without = continues the value before it. With `keys`, a key outside them is
    refused (bad_option, naming the key as read): a misspelt stok=10 must not open a
    group-buy at the default stock."""
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
        if keys is not None and key not in keys:
            raise GroupBuyError(GroupBuyRefusal.BAD_OPTION, key)
        last = key
        if key == "pickup":
            options[key] = " ".join([value, *words[index + 1 :]]).strip()
            break
        options[key] = value
    return options


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
    options = command_options(words[options_at:], keys)
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
