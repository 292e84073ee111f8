"""/groupbuy without arguments: a leader opens a group-buy in the group step by step (and
/drop without arguments: staff open one in every group, in private).

Every step has Back (but the first), Cancel and, on a step with a default, Skip, as in every
wizard (handlers/views/wizard.py); /cancel and /skip typed do the same. Nothing is created until
Confirm, which opens, posts and schedules through the same function as the one-line command.
The state is per chat and user, so in a group only the leader who started it answers;
everyone else talks as usual.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, OpenGroup, RoleFilter
from handlers.views.content import OFFER, TYPING, ContentDraft, ContentSteps, preview_lines
from handlers.views.groupbuy_join import REFUSALS
from handlers.views.groupbuy_open import (
    OPEN_ERRORS,
    USAGE,
    OpenValues,
    open_and_post,
    open_error_text,
)
from handlers.views.labels import FULFILMENT_MODE
from handlers.views.labels import label as value_label
from handlers.views.levels import level_name
from handlers.views.lint import (
    MAX_REASON,
    audit_override,
    claims,
    covered,
    findings_lines,
    product_texts,
    reason_error,
    wizard_findings,
    wizard_texts,
    words_of,
)
from handlers.views.paging import PageCallback, page_counter, page_row
from handlers.views.policy import held_text, opened_text
from handlers.views.text import (
    N_,
    CallbackId,
    CardPoster,
    CommitHook,
    DeadlineScheduler,
    HandlerSettings,
    counted,
    esc,
    esc_name,
    format_money,
    quoted,
)
from handlers.views.wizard import (
    EARLIER_STEP,
    Target,
    Wizard,
    drop_buttons,
    read_draft,
    save_draft,
)
from models.base import Clock
from models.community import LEVEL_CORE, LEVEL_VIP
from models.groupbuy import MIN_PEOPLE
from models.product import FULFIL_PICKUP, FULFILMENT_MODES
from services.community import CommunityView, open_communities
from services.compliance import Finding
from services.content import PICKUP_POINT, PICKUP_TIME
from services.drop import (
    TO_ALL,
    TO_CHOSEN,
    TO_TAG,
    DropTarget,
    group_pickups,
    group_titles,
    open_tags,
    preview,
    target_groups,
)
from services.groupbuy import (
    GroupBuyError,
    parse_count,
    parse_deadline,
    parse_minimum,
    parse_tiers,
)
from services.member import MemberView
from services.policy import (
    KIND_DROP,
    KIND_GROUPBUY,
    KIND_LEADER,
    WAIT_CAP,
    WAIT_GAP,
    WAIT_NEVER,
    WAIT_QUIET,
    HeldBack,
)
from services.product import ProductView, get_product, list_products
from services.role import Role, is_staff
from services.validation import number
from services.zones import group_zone, show, staff_zone

log = logging.getLogger(__name__)
router = Router(name="groupbuy_wizard")
NOT_A_COMMAND = ~F.text.startswith("/")

PRODUCT_BUTTONS = 10  # products on one page of the picker
PICKER = "gbw_product"  # the picker's name in its Back / More buttons
DEFAULT_MINIMUM = "2"  # people, as the one-line command
DEFAULT_LIMIT = "5"
DEFAULT_STOCK = 100  # when the product's stock is unlimited
PICKUP_POINT_MAX = 255  # GroupBuy.pickup_point
PICKUP_TIME_MAX = 64  # GroupBuy.pickup_time
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


class NewGroupBuy(StatesGroup):
    """The steps of the group-buy wizard, in order."""

    product = State()
    deadline = State()
    minimum = State()
    stock = State()
    limit = State()
    tiers = State()
    pickup_point = State()
    pickup_time = State()
    target = State()  # a drop's groups: all, with a tag, or chosen (buttons)
    group_pickup = State()  # a drop's own pickup text for some groups (typed lines)
    delivery = State()  # its own delivery mode, or its product's (Skip)
    confirm = State()
    translate = (
        State()
    )  # a drop's "Add a translation?", from the last look (handlers/views/content.py)
    translation = State()  # the pickup point or time in the chosen language
    override = State()  # why the texts may go out despite the lint's findings (logged)


class GroupBuyDraft(ContentDraft):
    """What the group-buy wizard has collected so far (nothing is opened until Confirm); a
    drop's translations are the pickup point's and time's."""

    scope: str | None = None  # "group": a leader's own, in the group; "drop": staff's, to many
    product_id: int | None = None
    title: str | None = None  # the product's, as chosen
    price: int | None = None  # the product's base price, in minor units of `currency`
    currency: str | None = None
    deadline: str | None = None  # kept as typed: "24h" counts from Confirm, not from the answer
    min_kind: str | None = None  # models/groupbuy.py MIN_PEOPLE or MIN_UNITS
    min_count: int | None = None
    stock_cap: int | None = None
    limit: int | None = None  # units one member may take at most
    tiers: list[tuple[int, int]] = Field(default_factory=list)  # (units, price), cheaper as more
    pickup_point: str = ""  # "": left out
    pickup_time: str = ""
    target: str | None = None  # a drop's groups, as DropTarget.pack() writes them (None: all)
    target_menu: str = ""  # the target question's buttons: "" the choices, "tags" or "pick"
    chosen: list[int] = Field(default_factory=list)  # the groups ticked in the picker, in order
    group_pickups: dict[int, str] = Field(default_factory=dict)  # a drop's own, {chat id: text}
    fulfilment: str = ""  # models/product.py FULFILMENT_MODES; "": as the product says
    override: str | None = None  # why the lint's findings may be ignored (logged)
    override_words: list[str] = Field(default_factory=list)  # the words that reason covers
    asked_at: datetime | None = None  # when the open question was asked (GROUP_IDLE)


SKIPPABLE = (
    "minimum",
    "stock",
    "limit",
    "tiers",
    "pickup_point",
    "pickup_time",
    "group_pickup",
    "delivery",
    OFFER,
    TYPING,
)
DROP_ONLY = ("target", "group_pickup")  # steps a group's own group-buy passes over
GROUP_BUTTONS = 30  # groups the drop's group picker lists (by title)
NOT_YOURS = N_("This is someone else's group-buy setup, or it has ended.")
WIZARD = Wizard(NewGroupBuy, optional=SKIPPABLE, not_open=NOT_YOURS)
STEPS = WIZARD.steps
PICKUP_FIELDS = (PICKUP_POINT, PICKUP_TIME)  # what a drop gives per language


class GroupBuyWizardAction(StrEnum):
    PRODUCT = "product"  # with `product_id`
    DELIVERY = "delivery"  # with `mode`
    CONFIRM = "confirm"
    OVERRIDE = "override"
    ALL = "all"  # a drop's target: all groups
    TAGS = "tags"  # the tag list
    TAG = "tag"  # with `value`, the tag
    PICK = "pick"  # the group picker
    TOGGLE = "toggle"  # with `value`, a group id
    PICKED = "picked"  # the groups ticked, done
    LEVEL = "level"  # with `value`: vip or core


class GroupBuyWizardCallback(CallbackData, prefix="gbw"):
    """A button of the group-buy wizard's own (Back, Skip and Cancel are the wizards' shared)."""

    action: GroupBuyWizardAction
    step: str  # the step whose message carries the button
    product_id: CallbackId = 0
    value: str = ""
    mode: str = ""  # a delivery mode (models/product.py FULFILMENT_MODES)


async def on_current_step(
    query: CallbackQuery, callback_data: GroupBuyWizardCallback, raw_state: str | None
) -> bool:
    """The button belongs to the step the wizard of this user is on now."""
    return WIZARD.step_of(raw_state) == callback_data.step


@dataclass(frozen=True, slots=True)
class Turn:
    """One answer of the user: what a step needs to check it and to ask the next one."""

    state: FSMContext
    session: AsyncSession
    settings: HandlerSettings
    member: MemberView
    locale: str  # the language of the chat (the group's, or the member's in private)
    zone: str  # the time zone deadlines are read in
    now: datetime


def _turn(
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None,
) -> Turn:
    # in a group: the group's zone; a drop in private: the zone the staff member picked
    zone = (
        group_zone(community.timezone, settings.default_timezone)
        if community is not None
        else staff_zone(member.timezone, settings.default_timezone)
    )
    return Turn(state, session, settings, member, locale, zone, clock())


async def _draft(turn: Turn) -> GroupBuyDraft:
    """The wizard's draft as saved (change it, then `save_draft`)."""
    return await read_draft(turn.state, GroupBuyDraft)


def _money(turn: Turn, draft: GroupBuyDraft, amount: int | None) -> str:
    assert amount is not None and draft.currency is not None  # the product came first
    return format_money(amount, draft.currency, turn.locale)


async def _product(turn: Turn, draft: GroupBuyDraft) -> ProductView | None:
    """The product chosen at the first step, as it is now (None: gone)."""
    assert draft.product_id is not None  # the first step
    return await get_product(turn.session, draft.product_id)


async def _product_stock(turn: Turn, draft: GroupBuyDraft) -> int | None:
    """The product's stock left now (None: unlimited, or the product is gone)."""
    product = await _product(turn, draft)
    return product.stock if product is not None else None


async def _default_stock(turn: Turn, draft: GroupBuyDraft) -> int:
    stock = await _product_stock(turn, draft)
    return stock if stock is not None else DEFAULT_STOCK


# ------------------------------------------------------------------ asking -------------


async def _prompt(
    turn: Turn, step: str, offset: int = 0
) -> tuple[str, InlineKeyboardBuilder | None]:
    """The question of a step and its own buttons (the product picker: the page at `offset`)."""
    draft = await _draft(turn)
    if step == "product":
        builder = InlineKeyboardBuilder()
        page = await list_products(turn.session, limit=PRODUCT_BUTTONS, offset=offset)
        for product in page.items:
            builder.button(
                text=f"#{product.id} {product.title} · "
                + format_money(product.price, product.currency, turn.locale),
                callback_data=GroupBuyWizardCallback(
                    action=GroupBuyWizardAction.PRODUCT, step=step, product_id=product.id
                ),
            )
        builder.adjust(1)
        paging = page_row(PICKER, page, PRODUCT_BUTTONS)
        if paging:
            builder.row(*paging)
        question = _("Which product? Tap one below or send its number.")
        return question + "\n" + _("Products: {counter}").format(
            counter=page_counter(page)
        ), builder
    if step == "deadline":
        text = _(
            "When does it close? Send 24h, 3d, tomorrow 8pm, saturday 10am or a date and time "
            "like 2026-11-25 20:00 ({zone} time)."
        ).format(zone=turn.zone)
    elif step == "minimum":
        text = _(
            "How many are needed for it to form? Send a number of people, like 5, or of units, "
            "like 20u. Skip: {people}."
        ).format(people=counted("person", int(DEFAULT_MINIMUM)))
    elif step == "stock":
        text = _("How many units are for sale in total? Skip: {n}.").format(
            n=await _default_stock(turn, draft)
        )
    elif step == "limit":
        text = _("How many units may one member take at most? Skip: {n}.").format(n=DEFAULT_LIMIT)
    elif step == "tiers":
        text = _(
            "Lower prices as more units sell? Send units:price pairs, like 10:35.90,30:32.90; "
            "the base price is {price}. Skip: no tiers."
        ).format(price=_money(turn, draft, draft.price))
    elif step == "target":
        return await _target_prompt(turn, draft)
    elif step == "group_pickup":
        text = _(
            "Its own pickup text for some groups? Send one line per group: the group's name or "
            "id, a colon, the text. Skip: each group shows its pickup point if it has one, "
            "else the pickup above."
        )
    elif step == "override":
        text = _("Why may it go out as it is? The reason is logged.")
    elif step == "pickup_point":
        text = _("Where do members pick it up? At most {limit}. Skip: leave it out.")
        text = text.format(limit=counted("character", PICKUP_POINT_MAX))
    elif step == "delivery":
        chosen = await _product(turn, draft)
        mode = chosen.fulfilment if chosen is not None else FULFIL_PICKUP
        text = _(
            "How do its orders reach members? Tap one (or send pickup, delivery or both). "
            "Skip: as the product says, {mode}."
        ).format(mode=value_label(FULFILMENT_MODE, mode))
        builder = InlineKeyboardBuilder()
        for choice in FULFILMENT_MODES:
            builder.button(
                text=value_label(FULFILMENT_MODE, choice),
                callback_data=GroupBuyWizardCallback(
                    action=GroupBuyWizardAction.DELIVERY, step=step, mode=choice
                ),
            )
        builder.adjust(3)
        return text, builder
    else:
        text = _(
            "When can they pick it up? At most {limit}, like Sat 10:00-12:00. Skip: leave it out."
        ).format(limit=counted("character", PICKUP_TIME_MAX))
    return text, None


async def _texts(turn: Turn, draft: GroupBuyDraft) -> list[str]:
    """What members read on the card: the product's texts, the pickup texts, in every
    language (all linted)."""
    product = await _product(turn, draft)
    return [
        *(product_texts(product) if product is not None else []),
        *wizard_texts(draft.model_dump(), PICKUP_FIELDS),
        *draft.group_pickups.values(),
    ]


def _covered(found: list[tuple[str, list[Finding]]], draft: GroupBuyDraft) -> bool:
    """Whether the draft's override reason was given for these very findings."""
    return covered(found, draft.model_dump())


async def _summary(turn: Turn) -> tuple[str, InlineKeyboardBuilder]:
    """What Confirm will open, for a last look; user text escaped."""
    draft = await _draft(turn)
    assert draft.deadline is not None and draft.title is not None and draft.min_count is not None
    deadline = parse_deadline(draft.deadline, now=turn.now, timezone=turn.zone)
    local = deadline.astimezone(ZoneInfo(turn.zone))
    lines = [
        _("Please check, then confirm:"),
        f"🛒 <b>{esc(draft.title)}</b>",
        _("Price: {price}").format(price=_money(turn, draft, draft.price)),
    ]
    for units, price in draft.tiers:
        lines.append(
            "  "
            + _("from {units}: {price}").format(
                units=counted("unit", units), price=_money(turn, draft, price)
            )
        )
    noun = "person" if draft.min_kind == MIN_PEOPLE else "unit"
    lines.append(_("Minimum to form: {count}").format(count=counted(noun, draft.min_count)))
    lines += [
        _("Stock: {stock}").format(stock=draft.stock_cap),
        _("Limit {n} per member.").format(n=draft.limit),
        _("Closes {when} ({zone} time)").format(
            when=local.strftime("%Y-%m-%d %H:%M"), zone=turn.zone
        ),
    ]
    if draft.pickup_point:
        lines.append(_("Pickup: {place}").format(place=esc(draft.pickup_point)))
    if draft.pickup_time:
        lines.append(_("Pickup time: {time}").format(time=esc(draft.pickup_time)))
    if draft.fulfilment:
        lines.append(
            _("Orders: {mode}").format(mode=value_label(FULFILMENT_MODE, draft.fulfilment))
        )
    lines += preview_lines(draft.translations, PICKUP_FIELDS)
    if draft.scope == "drop":
        lines += await _preview_lines(turn, draft)
    texts = await _texts(turn, draft)
    findings = wizard_findings(texts, turn.settings.compliance_extra_words)
    lines += findings
    builder = InlineKeyboardBuilder()
    if findings and not _covered(claims(texts, turn.settings.compliance_extra_words), draft):
        builder.button(
            text=_("⚠️ Send anyway"),
            callback_data=GroupBuyWizardCallback(
                action=GroupBuyWizardAction.OVERRIDE, step="confirm"
            ),
        )
    else:
        builder.button(
            text=_("✅ Confirm"),
            callback_data=GroupBuyWizardCallback(
                action=GroupBuyWizardAction.CONFIRM, step="confirm"
            ),
        )
    if draft.scope == "drop":  # a drop reaches groups of every language
        builder.row(CONTENT.button())
    return "\n".join(lines), builder


async def _ask(target: Target, turn: Turn, step: str, *, error: str = "", intro: str = "") -> None:
    """Moves the wizard to `step` and asks its question (after the error, when there is one)."""
    above: InlineKeyboardBuilder | None
    if step == "confirm":
        try:
            text, above = await _summary(turn)
        except GroupBuyError as exc:  # an absolute deadline passed while the wizard waited
            await _ask(target, turn, "deadline", error=open_error_text(exc) or "")
            return
    else:
        if step == "target":  # asked afresh: the three choices, not a sub-list
            draft = await _draft(turn)
            draft.target_menu = ""
            await save_draft(turn.state, draft)
        text, above = await _prompt(turn, step)
    back = await WIZARD.enter(turn.state, step)
    draft = await _draft(turn)
    draft.asked_at = turn.now
    await save_draft(turn.state, draft)
    markup = WIZARD.keyboard(step, back=back, above=above)
    await target.answer("\n\n".join(filter(None, [intro, error, text])), reply_markup=markup)


def _turn_of(data: dict[str, Any]) -> Turn:
    """The turn of a shared Back or Skip (the handler's keyword arguments)."""
    return _turn(
        data["state"],
        data["session"],
        data["settings"],
        data["member"],
        data["locale"],
        data["clock"],
        data.get("community"),
    )


async def _ask_again(target: Target, step: str, data: dict[str, Any]) -> None:
    """Back: the step's question again."""
    if step in CONTENT.steps:
        await CONTENT.ask(target, step, data)
        return
    await _ask(target, _turn_of(data), step)


# ------------------------------------------------------------------ a drop's groups -----

TARGET_CHOICES = {
    TO_ALL: N_("All groups"),
    TO_TAG: N_("Groups with a tag: {tag}"),
    TO_CHOSEN: N_("Chosen groups: {count}"),
}


def _target_of(draft: GroupBuyDraft) -> DropTarget:
    return DropTarget.unpack(draft.target or TO_ALL)


async def _drop_groups(turn: Turn, draft: GroupBuyDraft) -> list[int]:
    return await target_groups(turn.session, _target_of(draft))


def _button(text: str, action: GroupBuyWizardAction, value: str = "") -> dict[str, Any]:
    return {
        "text": text,
        "callback_data": GroupBuyWizardCallback(action=action, step="target", value=value),
    }


async def _target_prompt(
    turn: Turn, draft: GroupBuyDraft
) -> tuple[str, InlineKeyboardBuilder | None]:
    """Where the drop goes: all groups, groups with a tag (its tags as buttons), or chosen
    groups (each a button that ticks it, then Done)."""
    builder = InlineKeyboardBuilder()
    menu = draft.target_menu
    if menu == "tags":
        for tag in await open_tags(turn.session):
            builder.button(**_button(f"#{tag}", GroupBuyWizardAction.TAG, tag))
        builder.adjust(2)
        return _("Which tag? The drop goes to the open groups with it (set with /tag)."), builder
    if menu == "pick":
        chosen = set(draft.chosen)
        page = await open_communities(turn.session, limit=GROUP_BUTTONS)
        for group in page.items:
            mark = "✅ " if group.id in chosen else "▫️ "
            builder.button(
                **_button(
                    mark + (group.title or str(group.id)),
                    GroupBuyWizardAction.TOGGLE,
                    str(group.id),
                )
            )
        builder.adjust(1)
        builder.row(
            InlineKeyboardButton(
                text=_("Done: {count}").format(count=counted("group", len(chosen))),
                callback_data=GroupBuyWizardCallback(
                    action=GroupBuyWizardAction.PICKED, step="target"
                ).pack(),
            )
        )
        return _("Tap the groups it goes to, then Done."), builder
    builder.button(**_button(_("All groups"), GroupBuyWizardAction.ALL))
    builder.button(**_button(_("Groups with a tag…"), GroupBuyWizardAction.TAGS))
    builder.button(**_button(_("Choose groups…"), GroupBuyWizardAction.PICK))
    builder.button(**_button(_("VIP groups"), GroupBuyWizardAction.LEVEL, LEVEL_VIP))
    builder.button(**_button(_("Core groups"), GroupBuyWizardAction.LEVEL, LEVEL_CORE))
    builder.adjust(1)
    return _("Which groups does the drop go to?"), builder


async def _take_group_pickups(turn: Turn, text: str) -> str | None:
    """Lines "group name or id: pickup text" for groups of the drop."""
    draft = await _draft(turn)
    chat_ids = await _drop_groups(turn, draft)
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


async def _preview_lines(turn: Turn, draft: GroupBuyDraft) -> list[str]:
    """The drop's recipients, each with its first allowed time, its cap use and its own
    pickup text, then the first and last delivery times (in the staff member's zone)."""
    target = _target_of(draft)
    chat_ids = await _drop_groups(turn, draft)
    if target.kind == TO_TAG:
        where = _(TARGET_CHOICES[TO_TAG]).format(tag=esc("#" + target.tag))
    elif target.kind == TO_CHOSEN:
        where = _(TARGET_CHOICES[TO_CHOSEN]).format(count=len(target.chat_ids))
    elif target.level:
        where = _("Groups of level {level}").format(level=level_name(target.level))
    else:
        where = _(TARGET_CHOICES[TO_ALL])
    if not chat_ids:
        return [where, _("No open group matches: go back and choose other groups.")]
    pickups = await group_pickups(turn.session, chat_ids, given=draft.group_pickups)
    seen = await preview(
        turn.session,
        chat_ids=chat_ids,
        now=turn.now,
        rules=turn.settings.pacing_rules(),
        default_timezone=turn.settings.default_timezone,
        pickups=pickups,
    )
    reader = turn.member.timezone
    lines = ["", where, _("Recipients: {groups}").format(groups=counted("group", len(chat_ids)))]
    for group in seen.groups:
        name = esc_name(group.title or str(group.chat_id))
        use = _("{used}/{cap} this week").format(used=group.used, cap=group.cap)
        if group.at is None:
            when = _("never (its weekly cap is 0)")
        elif group.reason is None:
            when = _("now")
        else:
            when = _("from {time}, {why}").format(
                time=show(group.at, turn.zone, reader=reader), why=_(WHY[group.reason])
            )
        lines.append(_("• {group}: {when} · {use}").format(group=name, when=when, use=use))
        if group.pickup:
            lines.append("  " + _("Pickup: {place}").format(place=esc(group.pickup)))
    if seen.first is not None and seen.last is not None:
        lines.append(
            _("First delivery {first}, last delivery {last}.").format(
                first=show(seen.first, turn.zone, reader=reader),
                last=show(seen.last, turn.zone, reader=reader),
            )
        )
    return lines


WHY = {
    WAIT_QUIET: N_("quiet hours there"),
    WAIT_GAP: N_("too soon after its last promotion"),
    WAIT_CAP: N_("weekly cap used up"),
    WAIT_NEVER: N_("weekly cap used up"),
}


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
    turn = _turn(state, session, settings, member, locale, clock, None)
    action, value = callback_data.action, callback_data.value
    draft = await _draft(turn)
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
        text, above = await _target_prompt(turn, draft)
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
    await _ask(query.message, turn, "group_pickup")


# ------------------------------------------------------------------ answers ------------

Take = Callable[[Turn, str], Awaitable[str | None]]


async def _choose_product(turn: Turn, product: ProductView | None) -> str | None:
    if product is None or not product.active:
        return _error("no_product")
    if product.stock is not None and product.stock < 1:
        return _error("sold_out")
    draft = await _draft(turn)
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
    draft = await _draft(turn)
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
    draft = await _draft(turn)
    left = await _product_stock(turn, draft)
    if left is not None and count > left:
        return _error("minimum_above_product").format(n=left, units=counted("unit", left))
    draft.min_kind, draft.min_count = kind, count
    await save_draft(turn.state, draft)
    return None


async def _take_stock(turn: Turn, text: str) -> str | None:
    draft = await _draft(turn)
    assert draft.min_count is not None  # the step before
    try:
        stock = parse_count(text)
    except GroupBuyError:
        return _error("stock")
    if stock == 0:
        return _error("stock")
    if stock < draft.min_count:
        return _error("stock_below_minimum").format(n=draft.min_count)
    left = await _product_stock(turn, draft)
    if left is not None and stock > left:
        return _error("stock_above_product").format(n=left, units=counted("unit", left))
    draft.stock_cap = stock
    await save_draft(turn.state, draft)
    return None


async def _take_limit(turn: Turn, text: str) -> str | None:
    try:
        limit = parse_count(text)
    except GroupBuyError:
        return _error("limit")
    if limit == 0:
        return _error("limit")
    draft = await _draft(turn)
    assert draft.stock_cap is not None  # the step before
    # nobody can take more than there is; the service caps it the same way
    draft.limit = min(limit, draft.stock_cap)
    await save_draft(turn.state, draft)
    return None


async def _take_tiers(turn: Turn, text: str) -> str | None:
    draft = await _draft(turn)
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
            return _error("tiers_not_decreasing").format(price=_money(turn, draft, draft.price))
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


async def _take_pickup_point(turn: Turn, text: str) -> str | None:
    cleaned = text.strip()
    error = _too_long(cleaned, PICKUP_POINT_MAX)
    if error is None:
        draft = await _draft(turn)
        draft.pickup_point = cleaned
        await save_draft(turn.state, draft)
    return error


async def _take_pickup_time(turn: Turn, text: str) -> str | None:
    cleaned = text.strip()
    error = _too_long(cleaned, PICKUP_TIME_MAX)
    if error is None:
        draft = await _draft(turn)
        draft.pickup_time = cleaned
        await save_draft(turn.state, draft)
    return error


async def _take_delivery(turn: Turn, text: str) -> str | None:
    """pickup, delivery or both (a button, or typed); "" (Skip) follows the product."""
    mode = text.strip().lower()
    if mode and mode not in FULFILMENT_MODES:
        return _error("delivery")
    draft = await _draft(turn)
    draft.fulfilment = mode
    await save_draft(turn.state, draft)
    return None


async def _take_override(turn: Turn, text: str) -> str | None:
    error = reason_error(text)
    if error is None:
        draft = await _draft(turn)
        found = claims(await _texts(turn, draft), turn.settings.compliance_extra_words)
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
        return str(await _default_stock(turn, await _draft(turn)))
    if step == "limit":
        return DEFAULT_LIMIT
    return ""  # no tiers, no pickup point, no pickup time


async def _skip(target: Target, step: str, data: dict[str, Any]) -> None:
    """Skip: the step's default as the answer (a translation: none, or no more)."""
    if step in CONTENT.steps:
        await CONTENT.skip(target, step, data)
        return
    turn = _turn_of(data)
    await _answer(target, turn, step, await _default(turn, step))


async def _answer(target: Target, turn: Turn, step: str, text: str) -> None:
    """Checks the answer to a step: the next step when it is good, the same one again if not."""
    error = await TAKE[step](turn, text)
    if error is not None:
        await _ask(target, turn, step, error=error)
        return
    # the reason for ⚠️ Send anyway leads back to the last look, now with ✅ Confirm
    await _ask(target, turn, "confirm" if step == "override" else await _next(turn, step))


async def _next(turn: Turn, step: str) -> str:
    """The step after `step`: a group's own group-buy passes over the drop's steps."""
    following = STEPS[STEPS.index(step) + 1]
    if following in DROP_ONLY and (await _draft(turn)).scope != "drop":
        return await _next(turn, following)
    return following


# ------------------------------------------------------------------ handlers -----------


async def _start(target: Target, turn: Turn, scope: str, intro: str) -> None:
    await turn.state.clear()
    if not (await list_products(turn.session, limit=1)).total:
        await target.answer(_("There are no products on sale yet."))
        return
    await save_draft(turn.state, GroupBuyDraft(scope=scope))
    await _ask(target, turn, "product", intro=intro)


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
    turn = _turn(state, session, settings, member, locale, clock, community)
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
    turn = _turn(state, session, settings, member, locale, clock, None)
    intro = _(
        "New drop, step by step: to every group, to groups with a tag or to the groups you "
        "choose. /cancel stops at any step."
    )
    await _start(message, turn, "drop", intro)


async def _after_translations(target: Target, data: dict[str, Any]) -> None:
    """Done with a drop's translations: the last look again, showing each language."""
    await _ask(target, _turn_of(data), "confirm")


CONTENT = ContentSteps(WIZARD, PICKUP_FIELDS, confirm="confirm", after=_after_translations)
WIZARD.register(router, ask=_ask_again, skip=_skip)
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
    turn = _turn(state, session, settings, member, locale, clock, community)
    asked_at = (await _draft(turn)).asked_at
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
    turn = _turn(state, session, settings, member, locale, clock, community)
    error = await _choose_product(turn, await get_product(session, callback_data.product_id))
    next_step = "product" if error is not None else "deadline"
    await _ask(query.message, turn, next_step, error=error or "")


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
    turn = _turn(state, session, settings, member, locale, clock, community)
    await _answer(query.message, turn, "delivery", callback_data.mode)


@router.callback_query(PageCallback.filter(F.name == PICKER), NewGroupBuy.product)
async def product_page(
    query: CallbackQuery,
    callback_data: PageCallback,
    state: FSMContext,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """Back or More under the product picker: the same question shows the other products."""
    await query.answer()
    if not isinstance(query.message, Message):
        return
    turn = _turn(state, session, settings, member, locale, clock, community)
    text, above = await _prompt(turn, "product", callback_data.offset)
    back = await WIZARD.enter(state, "product")
    await query.message.edit_text(
        text, reply_markup=WIZARD.keyboard("product", back=back, above=above)
    )


@router.callback_query(PageCallback.filter(F.name == PICKER))
async def stale_product_page(query: CallbackQuery) -> None:
    """Back or More under a picker that is not this user's open question."""
    await query.answer(_("That question is not open any more."), show_alert=True)


async def _kind(turn: Turn, *, drop: bool) -> str:
    """Which promotion the opening counts as (services/policy.py), for its caps."""
    if drop:
        return KIND_DROP
    if await is_staff(turn.session, turn.member.id):
        return KIND_GROUPBUY
    return KIND_LEADER  # a leader's own group-buy in their group: the leader cap


def _nothing_created(restart: str, why: str) -> str:
    """Why Confirm opened nothing (when known), and how to start again."""
    again = _("Nothing was created. Send {command} to start again.").format(command=restart)
    return "\n".join(filter(None, [why, again]))


async def _open_values(
    turn: Turn, draft: GroupBuyDraft, *, drop: bool, chat_ids: list[int]
) -> OpenValues:
    """The group-buy the draft describes, its deadline read now ("24h" counts from Confirm);
    a drop's pickup text for each of its groups."""
    # every step before the last look was answered (or skipped) to reach it
    assert draft.product_id is not None and draft.deadline is not None
    assert draft.min_kind is not None and draft.min_count is not None
    assert draft.stock_cap is not None and draft.limit is not None
    return OpenValues(
        product_id=draft.product_id,
        deadline=parse_deadline(draft.deadline, now=turn.now, timezone=turn.zone),
        min_kind=draft.min_kind,
        min_count=draft.min_count,
        stock_cap=draft.stock_cap,
        per_member_limit=draft.limit,
        tiers=tuple(draft.tiers),
        pickup_point=draft.pickup_point,
        pickup_time=draft.pickup_time,
        pickup_translations=draft.translations if drop else None,
        pickups=(
            await group_pickups(turn.session, chat_ids, given=draft.group_pickups) if drop else None
        ),
        fulfilment=draft.fulfilment,
    )


@router.callback_query(
    GroupBuyWizardCallback.filter(F.action == GroupBuyWizardAction.CONFIRM),
    NewGroupBuy.confirm,
    on_current_step,
)
async def confirm_button(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
    community: CommunityView | None = None,
) -> None:
    """Opens the group-buy, posts its card(s) and schedules the deadline."""
    draft = await read_draft(state, GroupBuyDraft)
    # the wizard ends before anything is created: a second tap finds no wizard to confirm
    await state.clear()
    drop = draft.scope == "drop"
    # the role is checked again where the group-buy is really opened (refusal answered, audited)
    check = (
        RoleFilter(Role.STAFF, "groupbuy.drop")
        if drop
        else RoleFilter(Role.LEADER, "groupbuy.open")
    )
    if not await check(query, bot, session, settings, member, community, clock):
        return
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is None:
        return
    turn = _turn(state, session, settings, member, locale, clock, community)
    restart = "/drop" if drop else "/groupbuy"
    found = claims(await _texts(turn, draft), settings.compliance_extra_words)
    if found and not _covered(found, draft):  # the texts changed since the last look
        await query.message.answer(_nothing_created(restart, "\n".join(findings_lines(found))))
        return
    try:
        chat_ids = await _drop_groups(turn, draft) if drop else [query.message.chat.id]
        opened = await open_and_post(
            session,
            closer,
            poster,
            after_commit,
            await _open_values(turn, draft, drop=drop, chat_ids=chat_ids),
            opened_by=member.id,
            chat_ids=chat_ids,
            commission_bps=0 if drop else settings.leader_commission_bps,  # drops earn none
            now=turn.now,
            kind=await _kind(turn, drop=drop),
            settings=settings,
        )
    except GroupBuyError as exc:
        await query.message.answer(_nothing_created(restart, open_error_text(exc) or ""))
        return
    except HeldBack as exc:
        await query.message.answer(
            await held_text(session, exc.verdicts, member=member, settings=settings, posted=False)
        )
        return
    gb = opened.gb
    if found:
        await audit_override(
            session,
            actor_id=member.id,
            action="groupbuy.drop" if drop else "groupbuy.open",
            found=found,
            reason=str(draft.override),
            what=f"#{gb.id}",
            now=clock(),
        )
    if drop or opened.scheduled or opened.refused:
        await query.message.answer(
            await opened_text(session, opened, member=member, settings=settings)
        )


@router.callback_query(
    GroupBuyWizardCallback.filter(F.action == GroupBuyWizardAction.OVERRIDE),
    NewGroupBuy.confirm,
    on_current_step,
)
async def override_button(
    query: CallbackQuery,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    locale: str,
    clock: Clock,
    community: CommunityView | None = None,
) -> None:
    """⚠️ Send anyway: asks why the findings may be ignored."""
    await query.answer()
    await drop_buttons(bot, query)
    if query.message is not None:
        turn = _turn(state, session, settings, member, locale, clock, community)
        await _ask(query.message, turn, "override")


@router.callback_query(GroupBuyWizardCallback.filter())
async def stale_button(query: CallbackQuery, raw_state: str | None) -> None:
    """A button of an earlier step, of a wizard that ended, or of someone else's wizard."""
    if WIZARD.step_of(raw_state) is not None:
        await query.answer(_(EARLIER_STEP), show_alert=True)
        return
    await query.answer(_(NOT_YOURS), show_alert=True)
