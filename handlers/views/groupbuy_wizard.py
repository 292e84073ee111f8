"""The group-buy wizard's steps as the user sees them (handlers/groupbuy_wizard.py and
handlers/groupbuy_wizard_confirm.py handle them): its states and typed draft, the shared Wizard
and its translation steps, each step's question and buttons, a drop's groups and its
recipients' preview, and the last look before Confirm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.i18n import gettext as _
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.content import OFFER, TYPING, ContentDraft, ContentSteps, preview_lines
from handlers.views.groupbuy_open import open_error_text
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.labels import FULFILMENT_MODE
from handlers.views.labels import label as value_label
from handlers.views.levels import level_name
from handlers.views.lint import claims, covered, product_texts, wizard_findings, wizard_texts
from handlers.views.paging import page_counter, page_row
from handlers.views.text import (
    N_,
    CallbackId,
    HandlerSettings,
    counted,
    esc,
    esc_name,
    format_money,
)
from handlers.views.wizard import Target, Wizard, read_draft, save_draft
from models.base import Clock
from models.community import LEVEL_CORE, LEVEL_VIP
from models.groupbuy import MIN_PEOPLE
from models.product import FULFIL_PICKUP, FULFILMENT_MODES, Fulfilment
from services.community import CommunityView, open_communities
from services.compliance import Finding
from services.content import PICKUP_POINT, PICKUP_TIME
from services.drop import (
    TO_ALL,
    TO_CHOSEN,
    TO_TAG,
    DropTarget,
    group_pickups,
    open_tags,
    preview,
    target_groups,
)
from services.groupbuy import GroupBuyError, parse_deadline
from services.member import MemberView
from services.policy import WAIT_CAP, WAIT_GAP, WAIT_NEVER, WAIT_QUIET
from services.product import ProductView, get_product, list_products
from services.zones import group_zone, show, staff_zone

PRODUCT_BUTTONS = 10  # products on one page of the picker
PICKER = "gbw_product"  # the picker's name in its Back / More buttons
DEFAULT_MINIMUM = "2"  # people, as the one-line command
DEFAULT_LIMIT = "5"
DEFAULT_STOCK = 100  # when the product's stock is unlimited
PICKUP_POINT_MAX = 255  # GroupBuy.pickup_point
PICKUP_TIME_MAX = 64  # GroupBuy.pickup_time


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
    mode: Fulfilment | None = None  # with DELIVERY: the delivery mode


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


def new_turn(
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


async def draft_of(turn: Turn) -> GroupBuyDraft:
    """The wizard's draft as saved (change it, then `save_draft`)."""
    return await read_draft(turn.state, GroupBuyDraft)


def money(turn: Turn, draft: GroupBuyDraft, amount: int | None) -> str:
    assert amount is not None and draft.currency is not None  # the product came first
    return format_money(amount, draft.currency, turn.locale)


async def chosen_product(turn: Turn, draft: GroupBuyDraft) -> ProductView | None:
    """The product chosen at the first step, as it is now (None: gone)."""
    assert draft.product_id is not None  # the first step
    return await get_product(turn.session, draft.product_id)


async def product_stock(turn: Turn, draft: GroupBuyDraft) -> int | None:
    """The product's stock left now (None: unlimited, or the product is gone)."""
    product = await chosen_product(turn, draft)
    return product.stock if product is not None else None


async def default_stock(turn: Turn, draft: GroupBuyDraft) -> int:
    stock = await product_stock(turn, draft)
    return stock if stock is not None else DEFAULT_STOCK


# ------------------------------------------------------------------ asking -------------


async def prompt(
    turn: Turn, step: str, offset: int = 0
) -> tuple[str, InlineKeyboardBuilder | None]:
    """The question of a step and its own buttons (the product picker: the page at `offset`)."""
    draft = await draft_of(turn)
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
            n=await default_stock(turn, draft)
        )
    elif step == "limit":
        text = _("How many units may one member take at most? Skip: {n}.").format(n=DEFAULT_LIMIT)
    elif step == "tiers":
        text = _(
            "Lower prices as more units sell? Send units:price pairs, like 10:35.90,30:32.90; "
            "the base price is {price}. Skip: no tiers."
        ).format(price=money(turn, draft, draft.price))
    elif step == "target":
        return await target_prompt(turn, draft)
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
        chosen = await chosen_product(turn, draft)
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


async def card_texts(turn: Turn, draft: GroupBuyDraft) -> list[str]:
    """What members read on the card: the product's texts, the pickup texts, in every
    language (all linted)."""
    product = await chosen_product(turn, draft)
    return [
        *(product_texts(product) if product is not None else []),
        *wizard_texts(draft.model_dump(), PICKUP_FIELDS),
        *draft.group_pickups.values(),
    ]


def reason_covers(found: list[tuple[str, list[Finding]]], draft: GroupBuyDraft) -> bool:
    """Whether the draft's override reason was given for these very findings."""
    return covered(found, draft.model_dump())


async def _summary(turn: Turn) -> tuple[str, InlineKeyboardBuilder]:
    """What Confirm will open, for a last look; user text escaped."""
    draft = await draft_of(turn)
    assert draft.deadline is not None and draft.title is not None and draft.min_count is not None
    deadline = parse_deadline(draft.deadline, now=turn.now, timezone=turn.zone)
    local = deadline.astimezone(ZoneInfo(turn.zone))
    lines = [
        _("Please check, then confirm:"),
        f"🛒 <b>{esc(draft.title)}</b>",
        _("Price: {price}").format(price=money(turn, draft, draft.price)),
    ]
    for units, price in draft.tiers:
        lines.append(
            "  "
            + _("from {units}: {price}").format(
                units=counted("unit", units), price=money(turn, draft, price)
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
    texts = await card_texts(turn, draft)
    findings = wizard_findings(texts, turn.settings.compliance_extra_words)
    lines += findings
    builder = InlineKeyboardBuilder()
    if findings and not reason_covers(claims(texts, turn.settings.compliance_extra_words), draft):
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


async def ask(target: Target, turn: Turn, step: str, *, error: str = "", intro: str = "") -> None:
    """Moves the wizard to `step` and asks its question (after the error, when there is one)."""
    above: InlineKeyboardBuilder | None
    if step == "confirm":
        try:
            text, above = await _summary(turn)
        except GroupBuyError as exc:  # an absolute deadline passed while the wizard waited
            await ask(target, turn, "deadline", error=open_error_text(exc) or "")
            return
    else:
        if step == "target":  # asked afresh: the three choices, not a sub-list
            draft = await draft_of(turn)
            draft.target_menu = ""
            await save_draft(turn.state, draft)
        text, above = await prompt(turn, step)
    back = await WIZARD.enter(turn.state, step)
    draft = await draft_of(turn)
    draft.asked_at = turn.now
    await save_draft(turn.state, draft)
    markup = WIZARD.keyboard(step, back=back, above=above)
    await target.answer("\n\n".join(filter(None, [intro, error, text])), reply_markup=markup)


def turn_of(data: dict[str, Any]) -> Turn:
    """The turn of a shared Back or Skip (the handler's keyword arguments)."""
    return new_turn(
        data["state"],
        data["session"],
        data["settings"],
        data["member"],
        data["locale"],
        data["clock"],
        data.get("community"),
    )


async def ask_again(target: Target, step: str, data: dict[str, Any]) -> None:
    """Back: the step's question again."""
    if step in CONTENT.steps:
        await CONTENT.ask(target, step, data)
        return
    await ask(target, turn_of(data), step)


# ------------------------------------------------------------------ a drop's groups -----

TARGET_CHOICES = {
    TO_ALL: N_("All groups"),
    TO_TAG: N_("Groups with a tag: {tag}"),
    TO_CHOSEN: N_("Chosen groups: {count}"),
}


def _target_of(draft: GroupBuyDraft) -> DropTarget:
    return DropTarget.unpack(draft.target or TO_ALL)


async def drop_groups(turn: Turn, draft: GroupBuyDraft) -> list[int]:
    return await target_groups(turn.session, _target_of(draft))


def _button(text: str, action: GroupBuyWizardAction, value: str = "") -> dict[str, Any]:
    return {
        "text": text,
        "callback_data": GroupBuyWizardCallback(action=action, step="target", value=value),
    }


async def target_prompt(
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


async def _preview_lines(turn: Turn, draft: GroupBuyDraft) -> list[str]:
    """The drop's recipients, each with its first allowed time, its cap use and its own
    pickup text, then the first and last delivery times (in the staff member's zone)."""
    target = _target_of(draft)
    chat_ids = await drop_groups(turn, draft)
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


async def _after_translations(target: Target, data: dict[str, Any]) -> None:
    """Done with a drop's translations: the last look again, showing each language."""
    await ask(target, turn_of(data), "confirm")


CONTENT = ContentSteps(WIZARD, PICKUP_FIELDS, confirm="confirm", after=_after_translations)
