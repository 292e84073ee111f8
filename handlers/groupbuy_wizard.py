"""/groupbuy without arguments: a leader opens a group-buy in the group step by step (and
/drop without arguments: staff open one in every group, in private).

Every step has Back (but the first), Cancel and, on a step with a default, Skip, as in every
wizard (handlers/views/wizard.py); /cancel and /skip typed do the same. Nothing is created until
Confirm, which opens, posts and schedules through the same function as the one-line command.
The state is per chat and user, so in a group only the leader who started it answers;
everyone else talks as usual.

Here: starting it, the typed answers, Skip's defaults and the buttons of the steps before the
last look. The questions, the draft and the last look are in handlers/views/groupbuy_wizard.py;
the product picker's pages, Confirm and ⚠️ Send anyway in handlers/groupbuy_wizard_confirm.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Literal

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, OpenGroup, RoleFilter
from handlers.views.groupbuy_join import REFUSALS
from handlers.views.groupbuy_open import OPEN_ERRORS, USAGE, open_error_text
from handlers.views.groupbuy_wizard import (
    CONTENT,
    DEFAULT_LIMIT,
    DEFAULT_MINIMUM,
    DROP_ONLY,
    PICKUP_POINT_MAX,
    PICKUP_TIME_MAX,
    STEPS,
    WIZARD,
    GroupBuyDraft,
    GroupBuyWizardAction,
    GroupBuyWizardCallback,
    NewGroupBuy,
    Turn,
    ask,
    ask_again,
    card_texts,
    default_stock,
    draft_of,
    drop_groups,
    money,
    new_turn,
    on_current_step,
    product_stock,
    target_prompt,
    turn_of,
)
from handlers.views.lint import MAX_REASON, claims, reason_error, words_of
from handlers.views.text import N_, HandlerSettings, counted, quoted
from handlers.views.wizard import Target, drop_buttons, save_draft
from models.base import Clock
from models.community import LEVEL_CORE, LEVEL_VIP
from models.product import FULFILMENT_MODES
from services.community import CommunityView
from services.drop import TO_CHOSEN, TO_TAG, DropTarget, group_titles
from services.groupbuy import (
    GroupBuyError,
    parse_count,
    parse_deadline,
    parse_minimum,
    parse_tiers,
)
from services.member import MemberView
from services.product import ProductView, get_product, list_products
from services.role import Role
from services.validation import number

log = logging.getLogger(__name__)
router = Router(name="groupbuy_wizard")
NOT_A_COMMAND = ~F.text.startswith("/")

# a leader who walked away from the wizard is chatting again, not answering it
GROUP_IDLE = timedelta(minutes=30)

WIZARD_ERRORS = {
    "no_product": OPEN_ERRORS["no_product"],
    "sold_out": REFUSALS["sold_out"],
    "minimum": N_("Send the minimum as a whole number above zero: 5 for people, 20u for units."),
    "minimum_above_product": N_(
        "The product has only {units} left, so the minimum can be at most {n}."
    ),
    "stock": N_("Send the stock as a whole number above zero, like 50."),
    "stock_below_minimum": N_("The stock cannot be less than the minimum, {n}."),
    "stock_above_product": N_("The product has only {units} left: send {n} or less."),
    "limit": N_("Send the limit as a whole number above zero, like 3."),
    "bad_tiers": N_(
        "I could not read the tier {part}. Write tiers as units:price pairs separated by "
        "commas, like 10:35.90,30:32.90."
    ),
    "tiers_not_decreasing": N_(
        "Each tier needs more units and a lower price than the one before it, and every price "
        "must be below the base price, {price}."
    ),
    "tier_above_stock": N_("A tier at {units} can never be reached: the stock is {stock}."),
    "too_long": N_("That is {length}, but at most {limit} fit here. Send a shorter one."),
    "delivery": N_("Tap how its orders reach members, or send pickup, delivery or both."),
}


def _error(key: str) -> str:
    """A wizard error message, translated."""
    return _(WIZARD_ERRORS[key])


# ------------------------------------------------------------------ a drop's groups -----


async def _take_group_pickups(turn: Turn, text: str) -> str | None:
    """Lines "group name or id: pickup text" for groups of the drop."""
    draft = await draft_of(turn)
    chat_ids = await drop_groups(turn, draft)
    titles = await group_titles(turn.session, chat_ids)
    given: dict[int, str] = {}
    for line in filter(None, (line.strip() for line in text.splitlines())):
        name, sep, pickup = line.replace("：", ":").partition(":")
        name = name.strip()
        found = [c for c in chat_ids if name in (str(c), titles.get(c, "").strip())] or [
            c for c in chat_ids if titles.get(c, "").strip().casefold() == name.casefold()
        ]
        if not sep or not pickup.strip() or not found:
            return _(
                "I could not match {line} to a group of this drop. Write the group's name or id, "
                "a colon, then its pickup text."
            ).format(line=quoted(line))
        if len(pickup.strip()) > PICKUP_POINT_MAX:
            return _error("too_long").format(
                length=counted("character", len(pickup.strip())), limit=PICKUP_POINT_MAX
            )
        given[found[0]] = pickup.strip()
    draft.group_pickups = given
    await save_draft(turn.state, draft)
    return None


@router.callback_query(
    GroupBuyWizardCallback.filter(
        F.action.in_(
            {
                GroupBuyWizardAction.ALL,
                GroupBuyWizardAction.TAGS,
                GroupBuyWizardAction.TAG,
                GroupBuyWizardAction.PICK,
                GroupBuyWizardAction.TOGGLE,
                GroupBuyWizardAction.PICKED,
                GroupBuyWizardAction.LEVEL,
            }
        )
    ),
    NewGroupBuy.target,
    on_current_step,
)
async def target_button(
    query: CallbackQuery,
    callback_data: GroupBuyWizardCallback,
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    bot: Bot,
) -> None:
    """A drop's groups: All, a tag, the groups ticked then Done, or the VIP or core groups;
    the tag list and the group picker replace the question's buttons."""
    if not isinstance(query.message, Message):
        await query.answer()
        return
    turn = new_turn(state, session, settings, member, locale, clock, None)
    action, value = callback_data.action, callback_data.value
    draft = await draft_of(turn)
    if action in (
        GroupBuyWizardAction.TAGS,
        GroupBuyWizardAction.PICK,
        GroupBuyWizardAction.TOGGLE,
    ):
        chosen = draft.chosen
        if action == GroupBuyWizardAction.TOGGLE and value.lstrip("-").isdigit():
            chat_id = int(value)
            chosen = (
                [c for c in chosen if c != chat_id] if chat_id in chosen else [*chosen, chat_id]
            )
        await query.answer()
        draft.target_menu = "tags" if action == GroupBuyWizardAction.TAGS else "pick"
        draft.chosen = chosen
        await save_draft(state, draft)
        text, above = await target_prompt(turn, draft)
        back = await WIZARD.enter(state, "target")
        with contextlib.suppress(TelegramBadRequest):  # the same buttons again
            await query.message.edit_text(
                text, reply_markup=WIZARD.keyboard("target", back=back, above=above)
            )
        return
    if action == GroupBuyWizardAction.PICKED:
        picked = tuple(draft.chosen)
        if not picked:
            await query.answer(_("Tap at least one group."), show_alert=True)
            return
        target = DropTarget(TO_CHOSEN, chat_ids=picked)
    elif action == GroupBuyWizardAction.TAG:
        target = DropTarget(TO_TAG, tag=value)
    elif action == GroupBuyWizardAction.LEVEL and value in (LEVEL_VIP, LEVEL_CORE):
        target = DropTarget(level=value)
    else:
        target = DropTarget()
    await query.answer()
    draft.target, draft.target_menu, draft.group_pickups = target.pack(), "", {}
    await save_draft(state, draft)
    await drop_buttons(bot, query)
    await ask(query.message, turn, "group_pickup")


# ------------------------------------------------------------------ answers ------------

Take = Callable[[Turn, str], Awaitable[str | None]]


async def _choose_product(turn: Turn, product: ProductView | None) -> str | None:
    if product is None or not product.active:
        return _error("no_product")
    if product.stock is not None and product.stock < 1:
        return _error("sold_out")
    draft = await draft_of(turn)
    draft.product_id, draft.title = product.id, product.title
    draft.price, draft.currency = product.price, product.currency
    await save_draft(turn.state, draft)
    return None


async def _take_product(turn: Turn, text: str) -> str | None:
    wanted = number(text)
    product = await get_product(turn.session, wanted) if wanted is not None else None
    return await _choose_product(turn, product)


async def _take_deadline(turn: Turn, text: str) -> str | None:
    try:
        parse_deadline(text, now=turn.now, timezone=turn.zone)
    except GroupBuyError as exc:
        return open_error_text(exc) or ""
    # kept as typed: "24h" counts from Confirm, not from this answer
    draft = await draft_of(turn)
    draft.deadline = text.strip()
    await save_draft(turn.state, draft)
    return None


async def _take_minimum(turn: Turn, text: str) -> str | None:
    try:
        kind, count = parse_minimum(text)
    except GroupBuyError:
        return _error("minimum")
    if count == 0:
        return _error("minimum")
    draft = await draft_of(turn)
    left = await product_stock(turn, draft)
    if left is not None and count > left:
        return _error("minimum_above_product").format(n=left, units=counted("unit", left))
    draft.min_kind, draft.min_count = kind, count
    await save_draft(turn.state, draft)
    return None


async def _take_stock(turn: Turn, text: str) -> str | None:
    draft = await draft_of(turn)
    assert draft.min_count is not None  # the step before
    stock = _count_above_zero(text)
    if stock is None:
        return _error("stock")
    if stock < draft.min_count:
        return _error("stock_below_minimum").format(n=draft.min_count)
    left = await product_stock(turn, draft)
    if left is not None and stock > left:
        return _error("stock_above_product").format(n=left, units=counted("unit", left))
    draft.stock_cap = stock
    await save_draft(turn.state, draft)
    return None


def _count_above_zero(text: str) -> int | None:
    """A whole number above zero, as the stock and the limit are typed; None if it is not."""
    try:
        count = parse_count(text)
    except GroupBuyError:
        return None
    return count or None


async def _take_limit(turn: Turn, text: str) -> str | None:
    limit = _count_above_zero(text)
    if limit is None:
        return _error("limit")
    draft = await draft_of(turn)
    assert draft.stock_cap is not None  # the step before
    # nobody can take more than there is; the service caps it the same way
    draft.limit = min(limit, draft.stock_cap)
    await save_draft(turn.state, draft)
    return None


async def _take_tiers(turn: Turn, text: str) -> str | None:
    draft = await draft_of(turn)
    # the product and the stock came first
    assert draft.currency is not None and draft.price is not None and draft.stock_cap is not None
    try:
        tiers = parse_tiers(
            text,
            currency=draft.currency,
            locale=turn.member.locale,
            base_price=draft.price,
            ceiling=turn.settings.max_order_amount,
        )
    except GroupBuyError as exc:
        if exc.reason == "tiers_not_decreasing":
            return _error("tiers_not_decreasing").format(price=money(turn, draft, draft.price))
        return _error("bad_tiers").format(part=quoted(exc.detail))
    for units, _price in tiers:
        if units > draft.stock_cap:
            return _error("tier_above_stock").format(
                units=counted("unit", units), stock=draft.stock_cap
            )
    draft.tiers = list(tiers)
    await save_draft(turn.state, draft)
    return None


def _too_long(cleaned: str, limit: int) -> str | None:
    if len(cleaned) > limit:
        return _error("too_long").format(length=counted("character", len(cleaned)), limit=limit)
    return None


async def _take_pickup(
    turn: Turn, text: str, field: Literal["pickup_point", "pickup_time"], limit: int
) -> str | None:
    """The pickup point or time as typed (stripped), kept when it fits in `limit`."""
    cleaned = text.strip()
    error = _too_long(cleaned, limit)
    if error is None:
        draft = await draft_of(turn)
        setattr(draft, field, cleaned)
        await save_draft(turn.state, draft)
    return error


async def _take_pickup_point(turn: Turn, text: str) -> str | None:
    return await _take_pickup(turn, text, "pickup_point", PICKUP_POINT_MAX)


async def _take_pickup_time(turn: Turn, text: str) -> str | None:
    return await _take_pickup(turn, text, "pickup_time", PICKUP_TIME_MAX)


async def _take_delivery(turn: Turn, text: str) -> str | None:
    """pickup, delivery or both (a button, or typed); "" (Skip) follows the product."""
    mode = text.strip().lower()
    if mode and mode not in FULFILMENT_MODES:
        return _error("delivery")
    draft = await draft_of(turn)
    draft.fulfilment = mode
    await save_draft(turn.state, draft)
    return None


async def _take_override(turn: Turn, text: str) -> str | None:
    error = reason_error(text)
    if error is None:
        draft = await draft_of(turn)
        found = claims(await card_texts(turn, draft), turn.settings.compliance_extra_words)
        draft.override, draft.override_words = text.strip()[:MAX_REASON], words_of(found)
        await save_draft(turn.state, draft)
    return error


TAKE: dict[str, Take] = {
    "product": _take_product,
    "deadline": _take_deadline,
    "minimum": _take_minimum,
    "stock": _take_stock,
    "limit": _take_limit,
    "tiers": _take_tiers,
    "pickup_point": _take_pickup_point,
    "pickup_time": _take_pickup_time,
    "group_pickup": _take_group_pickups,
    "delivery": _take_delivery,
    "override": _take_override,
}


async def _default(turn: Turn, step: str) -> str:
    """What Skip answers at a step."""
    if step == "minimum":
        return DEFAULT_MINIMUM
    if step == "stock":
        return str(await default_stock(turn, await draft_of(turn)))
    if step == "limit":
        return DEFAULT_LIMIT
    return ""  # no tiers, no pickup point, no pickup time


async def _skip(target: Target, step: str, data: dict[str, Any]) -> None:
    """Skip: the step's default as the answer (a translation: none, or no more)."""
    if step in CONTENT.steps:
        await CONTENT.skip(target, step, data)
        return
    turn = turn_of(data)
    await _answer(target, turn, step, await _default(turn, step))


async def _answer(target: Target, turn: Turn, step: str, text: str) -> None:
    """Checks the answer to a step: the next step when it is good, the same one again if not."""
    error = await TAKE[step](turn, text)
    if error is not None:
        await ask(target, turn, step, error=error)
        return
    # the reason for ⚠️ Send anyway leads back to the last look, now with ✅ Confirm
    await ask(target, turn, "confirm" if step == "override" else await _next(turn, step))


async def _next(turn: Turn, step: str) -> str:
    """The step after `step`: a group's own group-buy passes over the drop's steps."""
    following = STEPS[STEPS.index(step) + 1]
    if following in DROP_ONLY and (await draft_of(turn)).scope != "drop":
        return await _next(turn, following)
    return following


# ------------------------------------------------------------------ handlers -----------


async def _start(target: Target, turn: Turn, scope: str, intro: str) -> None:
    await turn.state.clear()
    if not (await list_products(turn.session, limit=1)).total:
        await target.answer(_("There are no products on sale yet."))
        return
    await save_draft(turn.state, GroupBuyDraft(scope=scope))
    await ask(target, turn, "product", intro=intro)


@router.message(
    Command("groupbuy", magic=~F.args), GROUP, OpenGroup(), RoleFilter(Role.LEADER, "groupbuy.open")
)
async def start_in_group(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView,
) -> None:
    """Step 1: which product (the one-line form shown for next time)."""
    turn = new_turn(state, session, settings, member, locale, clock, community)
    intro = _(
        "New group-buy, step by step. Answer each question by replying to it; /cancel stops "
        "at any step."
    )
    await _start(message, turn, "group", intro + "\n\n" + _(USAGE))


@router.message(Command("drop", magic=~F.args), PRIVATE, RoleFilter(Role.STAFF, "groupbuy.drop"))
async def start_drop(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
) -> None:
    """Step 1 of a drop in every group: which product."""
    turn = new_turn(state, session, settings, member, locale, clock, None)
    intro = _(
        "New drop, step by step: to every group, to groups with a tag or to the groups you "
        "choose. /cancel stops at any step."
    )
    await _start(message, turn, "drop", intro)


WIZARD.register(router, ask=ask_again, skip=_skip)
CONTENT.register(router)


@router.message(
    StateFilter(*(getattr(NewGroupBuy, s) for s in TAKE if s != "target")), F.text, NOT_A_COMMAND
)
async def answer_step(
    message: Message,
    state: FSMContext,
    raw_state: str | None,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """A typed answer to the current step."""
    step = WIZARD.step_of(raw_state)
    assert step is not None
    turn = new_turn(state, session, settings, member, locale, clock, community)
    asked_at = (await draft_of(turn)).asked_at
    if community is not None and asked_at is not None and turn.now - asked_at > GROUP_IDLE:
        await state.clear()  # silently: in a group this is most likely just conversation
        return
    await _answer(message, turn, step, message.text or "")


@router.callback_query(
    GroupBuyWizardCallback.filter(F.action == GroupBuyWizardAction.PRODUCT),
    NewGroupBuy.product,
    on_current_step,
)
async def product_button(
    query: CallbackQuery,
    callback_data: GroupBuyWizardCallback,
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """The product tapped: asks the deadline."""
    await query.answer()
    if query.message is None:
        return
    turn = new_turn(state, session, settings, member, locale, clock, community)
    error = await _choose_product(turn, await get_product(session, callback_data.product_id))
    next_step = "product" if error is not None else "deadline"
    await ask(query.message, turn, next_step, error=error or "")


@router.callback_query(
    GroupBuyWizardCallback.filter(F.action == GroupBuyWizardAction.DELIVERY),
    NewGroupBuy.delivery,
    on_current_step,
)
async def delivery_button(
    query: CallbackQuery,
    callback_data: GroupBuyWizardCallback,
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """A delivery mode tapped: the last look."""
    await query.answer()
    if query.message is None:
        return
    turn = new_turn(state, session, settings, member, locale, clock, community)
    await _answer(query.message, turn, "delivery", callback_data.mode or "")
