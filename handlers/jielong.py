"""Sign-up lists (接龙) in groups: a leader pastes a list (/signup, or /jielong), checks what the
bot read and opens it; members order several items from the card's buttons or by replying to
the card with `1x2 3x1` or `+1 3`. The card is a group-buy's, kept current the same way."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from pydantic import Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, OpenGroup, RoleFilter
from handlers.views.groupbuy import ListAction, ListCallback
from handlers.views.groupbuy_join import refusal_text
from handlers.views.groupbuy_open import (
    SIGNUP_KEYS,
    OpenValues,
    command_options,
    open_and_post,
    open_error_text,
    option_count,
)
from handlers.views.jielong import lines_text
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.lint import clear_command, split_override
from handlers.views.policy import held_text, opened_text
from handlers.views.text import (
    N_,
    BackgroundSender,
    CardPoster,
    CardToucher,
    CommitHook,
    DeadlineScheduler,
    HandlerSettings,
    counted,
    default_locale,
    esc,
    esc_name,
    format_money,
    later,
    list_text,
    quoted,
    shorten,
)
from handlers.views.wizard import Draft, read_draft, save_draft
from models.base import Clock
from models.groupbuy import MIN_PEOPLE
from services.community import CommunityView
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    LineChange,
    ListOrder,
    change_lines,
    my_lines,
    parse_deadline,
    parse_minimum,
    set_quantity,
)
from services.jielong import (
    LINE_CATALOGUE,
    LINE_CHOOSE_VARIANT,
    LINE_DUPLICATE,
    LINE_NAME,
    LINE_NO_VARIANTS,
    LINE_NOT_OFFLINE,
    LINE_OPTION,
    LINE_OUT_OF_STOCK,
    LINE_PRICE,
    LINE_PRICE_FIXED,
    LINE_PRODUCT_OFF,
    LINE_SHAPE,
    LINE_TOO_MANY,
    LINE_UNKNOWN_PRODUCT,
    LINE_UNKNOWN_VARIANT,
    UNLIMITED_ITEM,
    BadLine,
    ListError,
    ListItem,
    ParsedList,
    ReplyUnreadable,
    list_entries,
    list_of_card,
    list_of_listing,
    list_product,
    parse_form,
    parse_list,
    parse_reply,
    resolve_catalogue,
)
from services.member import MemberView
from services.policy import KIND_GROUPBUY, KIND_LEADER, HeldBack
from services.role import Role, is_staff

router = Router(name="jielong")

DEFAULT_LIMIT = 10  # units of each item one member may order, unless limit= says otherwise

USAGE = N_(
    "Open a sign-up list (接龙): /signup (or /jielong), then on the same line the deadline and "
    "options if you like (min=, limit= of each item, form=each or form=all, pickup=), then a "
    "title line if you like, then one item a line with its number and price, and stock= or "
    "min= of its own if you like; #12 puts product 12 of the catalogue on the list at its "
    "price, #12:250g its variant 250g:\n"
    "/signup 24h limit=5 pickup=Shop A, Sat 10:00\n"
    "Fruit of the day\n"
    "1. Strawberries 1kg ¥39.9\n"
    "2. Blueberries 125g ¥25 stock=20 min=5\n"
    "3. #12:250g stock=10"
)
BAD_LINES = {
    LINE_SHAPE: N_("not an item: start it with its number, like 1. Strawberries ¥39.9"),
    LINE_PRICE: N_("no price I can read: write it like ¥39.9 or 39.9元"),
    LINE_NAME: N_("the item needs a name of at most 64 characters before its price"),
    LINE_DUPLICATE: N_("another item has this name already"),
    LINE_OPTION: N_("I cannot read {part}: stock= and min= take a whole number, stock above zero"),
    LINE_TOO_MANY: N_("a list has at most {part} items"),
    LINE_CATALOGUE: N_(
        "I cannot read {part}: write a product of the catalogue as #12, or #12:250g for one of "
        "its variants"
    ),
    LINE_UNKNOWN_PRODUCT: N_("there is no product {part} in the catalogue"),
    LINE_PRODUCT_OFF: N_("{product} is switched off in the catalogue"),
    LINE_NOT_OFFLINE: N_(
        "{product} is paid by invoice or in another currency, and a list is paid at pickup"
    ),
    LINE_CHOOSE_VARIANT: N_("name a variant of {product}, like {part}. Its variants: {choices}"),
    LINE_UNKNOWN_VARIANT: N_("{product} has no variant {part}. Its variants: {choices}"),
    LINE_NO_VARIANTS: N_("{product} has no variants: write it as {part}"),
    LINE_OUT_OF_STOCK: N_("{product} is out of stock"),
    LINE_PRICE_FIXED: N_(
        "only staff change a catalogue price: leave the price out to sell {product} at {price}"
    ),
}
ITEM_REFUSALS: dict[str, str] = {
    GroupBuyRefusal.UNKNOWN_ITEM: N_("There is no item {item} on this list."),
    GroupBuyRefusal.ITEM_UNAVAILABLE: N_(
        "{item} is no longer on sale in the catalogue: send the list again without it."
    ),
    GroupBuyRefusal.ITEM_OVER_LIMIT: N_("{item}: at most {figure} per member."),
    GroupBuyRefusal.ITEM_SOLD_OUT: N_("{item} is sold out."),
    "item_too_few": N_("{item}: only {figure} left."),
}
UNREADABLE_REPLY = N_(
    "I could not read {part}. Order like 1x2 3x1 (item × quantity), or +1 for one more of item 1."
)


class ListDraft(StatesGroup):
    """A pasted list waiting for its leader's confirmation."""

    confirm = State()


ItemRow = tuple[str, int, int | None, int, int | None, int | None]


class JielongDraft(Draft):
    """A pasted list as the bot read it, waiting for its leader's ✅ Open it."""

    chat: int | None = None  # the group it was pasted in (only there can it be opened)
    title: str = ""
    items: list[ItemRow] = Field(default_factory=list)  # ListItem's fields, in order
    currency: str = ""
    deadline: datetime | None = None
    timezone: str = "UTC"  # the group's: the deadline is shown in it
    min_kind: str = MIN_PEOPLE
    min_count: int = 1
    limit: int = DEFAULT_LIMIT  # units of each item per member
    per_item: bool = False  # True: each item forms at its own minimum
    pickup: str = ""

    @field_validator("items", mode="before")
    @classmethod
    def _catalogue_columns(cls, rows: object) -> object:
        """A draft saved before catalogue items (four values a line) has none of them."""
        return [[*row, None, None][:6] for row in rows] if isinstance(rows, list) else rows

    def due(self) -> datetime:
        """The deadline (a list is read with one: None only in a draft that never was)."""
        assert self.deadline is not None
        return self.deadline

    def list_items(self) -> list[ListItem]:
        """The items, in the list's order."""
        return [ListItem(*row) for row in self.items]


class DraftAction(StrEnum):
    """The leader's answer under the list the bot read."""

    OPEN = "open"
    DROP = "drop"


class DraftCallback(CallbackData, prefix="jl"):
    """The leader's answer under the list the bot read."""

    action: DraftAction


def bad_line_text(bad: BadLine, currency: str, locale: str) -> str:
    """Why a line of a pasted list was not read, naming the line (and for a catalogue line the
    product, with its variants when the line names none or another)."""
    why = _(BAD_LINES[bad.reason]).format(
        part=quoted(bad.part),
        product=f"<b>{esc_name(bad.product)}</b>",
        choices=list_text(quoted(name) for name in bad.choices),
        price=format_money(bad.amount, currency, locale),
    )
    return _("Line {n} {line}: {why}").format(
        n=bad.number, line=quoted(shorten(bad.text, 40)), why=why
    )


def item_refusal(exc: GroupBuyError) -> str:
    """Why an order of several items was refused: the item it stopped at, by number and name."""
    if exc.reason == GroupBuyRefusal.UNKNOWN_ITEM:
        return _(ITEM_REFUSALS[GroupBuyRefusal.UNKNOWN_ITEM]).format(item=exc.detail)
    if exc.reason in (
        GroupBuyRefusal.ITEM_OVER_LIMIT,
        GroupBuyRefusal.ITEM_SOLD_OUT,
        GroupBuyRefusal.ITEM_UNAVAILABLE,
    ):
        number, name, figure = [*exc.detail.split("\t"), "", "", ""][:3]
        reason = exc.reason
        if reason == GroupBuyRefusal.ITEM_SOLD_OUT and figure.isdigit() and int(figure) > 0:
            reason = "item_too_few"
        return _(ITEM_REFUSALS[reason]).format(item=f"{number}. {esc(name)}", figure=figure)
    return refusal_text(exc)


def _order_text(order: ListOrder, name: str, locale: str) -> str:
    if not order.lines:
        return _("{name} left the list.").format(name=esc_name(name))
    return _("{name}, your order: {lines} · you are #{position}.").format(
        name=esc_name(name),
        lines=lines_text(order.lines, order.groupbuy.currency, locale),
        position=order.position,
    )


def _draft_text(draft: JielongDraft, bad: list[BadLine], locale: str) -> str:
    """The list as the bot read it, with the lines it could not read, for the leader to check."""
    currency = draft.currency
    lines = [_("📝 <b>Sign-up list: {title}</b>").format(title=esc_name(draft.title))]
    for number, item in enumerate(draft.list_items(), start=1):
        name = esc(item.name) + (f" (#{item.product_id})" if item.product_id else "")
        line = f"{number}. {name} · {format_money(item.price, currency, locale)}"
        if item.stock is not None:
            line += " · " + _("{n} in stock").format(n=item.stock)
        if item.min_units:
            line += " · " + _("min {n}").format(n=item.min_units)
        lines.append(line)
    when = draft.due().astimezone(ZoneInfo(draft.timezone)).strftime("%m-%d %H:%M")
    minimum = draft.min_count
    lines.append(
        _("Ends {when} · forms at {min} · limit {limit} of each item per member").format(
            when=when,
            min=counted("person" if draft.min_kind == MIN_PEOPLE else "unit", minimum),
            limit=draft.limit,
        )
    )
    lines.append(
        _("Forms item by item, each at its own minimum.")
        if draft.per_item
        else _("Forms as a whole: the minimum of the list and of every item ordered.")
    )
    if draft.pickup:
        lines.append(_("Pickup: {place}").format(place=esc(draft.pickup)))
    if bad:
        lines.append("")
        lines.append(_("I could not read these lines (left out):"))
        lines += [bad_line_text(line, currency, locale) for line in bad]
    lines.append("")
    lines.append(_("Open it as shown?"))
    return "\n".join(lines)


def _draft_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✅ Open it"), callback_data=DraftCallback(action=DraftAction.OPEN))
    builder.button(text=_("✖ Cancel"), callback_data=DraftCallback(action=DraftAction.DROP))
    return builder.as_markup()


@router.message(
    Command("signup", "jielong"),
    GROUP,
    OpenGroup(),
    RoleFilter(Role.LEADER, "groupbuy.open"),
)
async def signup_command(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    locale: str,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Reads a pasted sign-up list and shows it, with the lines it could not read, to confirm."""
    # the first line holds the command, its deadline and options; the list follows
    first, _newline, body = (message.text or "").partition("\n")
    head = first.split(maxsplit=1)[1] if len(first.split(maxsplit=1)) > 1 else ""
    args, reason = split_override(head)
    words = args.split()
    now = clock()
    try:
        options_at = next((i for i, w in enumerate(words) if "=" in w or "＝" in w), len(words))
        options = command_options(words[options_at:], SIGNUP_KEYS)
        when = " ".join(words[:options_at]) or options.get("deadline", "") or "24h"
        deadline = parse_deadline(when, now=now, timezone=community.timezone)
        min_kind, min_count = parse_minimum(options.get("min", "1"))
        limit = option_count(options, "limit", DEFAULT_LIMIT)
        per_item = parse_form(options.get("form", "all"))
    except GroupBuyError as exc:
        await message.reply(open_error_text(exc, _(USAGE)) or _(USAGE))
        return
    currency = settings.tier_currency
    parsed = parse_list(
        ["", *body.splitlines()],  # numbered as the message's lines: the command is line 1
        currency=currency,
        locale=locale,
        ceiling=settings.max_order_amount,
    )
    # the catalogue's products named on the list (#12, #12:250g): only staff set their price
    parsed = await resolve_catalogue(
        session, parsed, currency=currency, may_set_price=await is_staff(session, member.id)
    )
    if not parsed.items:
        bad = [bad_line_text(line, currency, locale) for line in parsed.bad]
        await message.reply("\n".join([_("I found no item in this list."), *bad, "", _(USAGE)]))
        return
    pickup = options.get("pickup", "")
    typed = [item.name for item in parsed.items if item.product_id is None]
    texts = [parsed.title, *typed, pickup]  # the catalogue's names were checked when added
    cleared = await clear_command(
        message, texts, extra_words=settings.compliance_extra_words, reason=reason
    )
    if cleared is None:
        return
    local = now.astimezone(ZoneInfo(community.timezone))
    draft = JielongDraft(
        chat=community.id,
        title=parsed.title or _("Sign-up list {date}").format(date=local.strftime("%m-%d")),
        items=[
            (i.name, i.price, i.stock, i.min_units, i.product_id, i.variant_id)
            for i in parsed.items
        ],
        currency=currency,
        deadline=deadline,
        timezone=community.timezone,
        min_kind=min_kind,
        min_count=min_count,
        limit=limit,
        per_item=per_item,
        pickup=pickup,
    )
    await state.clear()  # a list pasted before is replaced
    await state.set_state(ListDraft.confirm)
    await save_draft(state, draft)
    await message.reply(
        _draft_text(draft, list(parsed.bad), locale), reply_markup=_draft_keyboard()
    )


@router.callback_query(DraftCallback.filter(F.action == DraftAction.DROP))
async def drop_draft(query: CallbackQuery, state: FSMContext) -> None:
    """Forgets the list the bot read; the message says so."""
    if await state.get_state() != ListDraft.confirm.state:
        await query.answer(_("This list is no longer waiting: send it again."), show_alert=True)
        return
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(_("Sign-up list cancelled: nothing was opened."))


@router.callback_query(
    DraftCallback.filter(F.action == DraftAction.OPEN),
    OpenGroup(),
    RoleFilter(Role.LEADER, "groupbuy.open"),
)
async def open_draft(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    closer: DeadlineScheduler,
    poster: CardPoster,
    after_commit: CommitHook,
) -> None:
    """Opens the list the leader confirmed: a product of its items, then its card."""
    draft = await read_draft(state, JielongDraft)
    if await state.get_state() != ListDraft.confirm.state or draft.chat != community.id:
        await query.answer(_("This list is no longer waiting: send it again."), show_alert=True)
        return
    await state.clear()
    items = draft.list_items()
    now = clock()
    try:
        # the list's product and its group-buy, or neither: a refusal takes the product back
        async with session.begin_nested():
            product = await list_product(
                session,
                parsed=ParsedList(draft.title, tuple(items), ()),
                title=draft.title,
                currency=draft.currency,
                created_by=member.id,
            )
            values = OpenValues(
                product_id=product.id,
                deadline=draft.due(),
                min_kind=draft.min_kind,
                min_count=draft.min_count,
                stock_cap=UNLIMITED_ITEM,
                per_member_limit=draft.limit,
                pickup_point=draft.pickup,
                multi=True,
                form_per_item=draft.per_item,
                items=list_entries(product, tuple(items)),
            )
            opened = await open_and_post(
                session,
                closer,
                poster,
                after_commit,
                values,
                opened_by=member.id,
                chat_ids=[community.id],
                commission_bps=settings.leader_commission_bps,
                now=now,
                kind=KIND_GROUPBUY if await is_staff(session, member.id) else KIND_LEADER,
                settings=settings,
            )
    except (GroupBuyError, ListError) as exc:
        text = open_error_text(exc) if isinstance(exc, GroupBuyError) else None
        if isinstance(exc, GroupBuyError) and exc.reason in (
            GroupBuyRefusal.ITEM_SOLD_OUT,
            GroupBuyRefusal.ITEM_UNAVAILABLE,
        ):
            text = item_refusal(exc)  # an item of the catalogue sold or switched off meanwhile
        await query.answer(text or _("This list could not be opened."), show_alert=True)
        return
    except HeldBack as exc:
        text = await held_text(
            session, exc.verdicts, member=member, settings=settings, posted=False
        )
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(text)
        return
    text = (
        await opened_text(session, opened, member=member, settings=settings)
        if opened.scheduled or opened.refused
        else _("Sign-up list #{id} opened: its card follows.").format(id=opened.gb.id)
    )
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)


def _reply_order(message: Message) -> dict[str, object] | bool:
    """A reply to a bot's message whose first word is an order (1x2, +1): its changes, or the
    word that could not be read."""
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or not reply.from_user.is_bot:
        return False
    try:
        changes = parse_reply(message.text or "")
    except ReplyUnreadable as exc:
        return {"changes": [], "unreadable": exc.part}
    if changes is None:
        return False
    return {"changes": changes, "unreadable": None}


@router.message(GROUP, F.text, F.reply_to_message, OpenGroup(), _reply_order)
async def order_by_reply(
    message: Message,
    changes: list[LineChange],
    unreadable: str | None,
    session: AsyncSession,
    member: MemberView,
    locale: str,
    clock: Clock,
    cards: CardToucher,
    after_commit: CommitHook,
) -> None:
    """Books the items a member asks for by replying to a list's card: 1x2 3x1, +1 3."""
    assert message.reply_to_message is not None
    gb_id = await list_of_card(
        session, chat_id=message.chat.id, message_id=message.reply_to_message.message_id
    )
    if gb_id is None:  # a reply to the /list message orders from the one list it shows
        gb_id = await list_of_listing(
            session, chat_id=message.chat.id, text=message.reply_to_message.text or ""
        )
    if gb_id is None:  # a reply to another message of the bot's: not an order
        return
    if unreadable is not None:
        await message.reply(_(UNREADABLE_REPLY).format(part=quoted(unreadable)))
        return
    try:
        order = await change_lines(
            session,
            groupbuy_id=gb_id,
            member_id=member.id,
            chat_id=message.chat.id,
            changes=changes,
            now=clock(),
        )
    except GroupBuyError as exc:
        await message.reply(item_refusal(exc))
        return
    after_commit.add(later(cards.touch, gb_id))
    await message.reply(_order_text(order, member.display_name, locale))


@router.callback_query(ListCallback.filter(), OpenGroup())
async def list_button(
    query: CallbackQuery,
    callback_data: ListCallback,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    cards: CardToucher,
    notifier: BackgroundSender,
    after_commit: CommitHook,
) -> None:
    """One more of an item, leave the list, or see my order: a short popup for the member."""
    if query.message is None:
        await query.answer()
        return
    now = clock()
    try:
        if callback_data.action == ListAction.MINE:
            order = await my_lines(
                session, groupbuy_id=callback_data.groupbuy_id, member_id=member.id
            )
        elif callback_data.action == ListAction.LEAVE:
            await set_quantity(
                session,
                groupbuy_id=callback_data.groupbuy_id,
                member_id=member.id,
                chat_id=query.message.chat.id,
                quantity=0,
                now=now,
            )
            order = await my_lines(
                session, groupbuy_id=callback_data.groupbuy_id, member_id=member.id
            )
        else:
            order = await change_lines(
                session,
                groupbuy_id=callback_data.groupbuy_id,
                member_id=member.id,
                chat_id=query.message.chat.id,
                changes=[LineChange(callback_data.item, 1, add=True)],
                now=now,
            )
    except GroupBuyError as exc:
        with i18n.use_locale(member.locale):  # an answer to a tap is the member's alone
            await query.answer(shorten(item_refusal(exc), 190), show_alert=True)
        return
    with i18n.use_locale(member.locale):
        title = order.groupbuy.in_language(member.locale, default_locale()).title
        if callback_data.action == ListAction.MINE and not order.lines:
            toast = _("You have no order on this list.")
        elif not order.lines:
            toast = _("You left this list.")
        else:
            toast = _("Your order: {lines} · #{position}").format(
                lines=lines_text(order.lines, order.groupbuy.currency, member.locale, html=False),
                position=order.position,
            )
        told = _("Your order in {title}: {lines}").format(
            title=esc_name(title),
            lines=lines_text(order.lines, order.groupbuy.currency, member.locale),
        )
    after_commit.add(lambda: query.answer(shorten(toast, 190), show_alert=True))
    if callback_data.action != ListAction.MINE:
        after_commit.add(later(cards.touch, callback_data.groupbuy_id))
        if member.started:
            notifier.send(member.id, told)  # queued once the update commits
