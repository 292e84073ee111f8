"""A group-buy as members see it: its card and buttons (the group-buy router posts them, the
card refresher edits them), and what everyone is told when it closes (the leader's close or
cancel, and the closing job), with `announce` carrying that out once the closing committed."""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import EditMessageCaption, EditMessageText, SendMessage, SendPhoto
from aiogram.types import (
    InlineKeyboardMarkup,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.levels import level_name
from handlers.views.myorders import pay_keyboard
from handlers.views.order import invoice
from handlers.views.pickup import sheet_keyboard, sheet_text, unreached_leader_effects
from handlers.views.review import rating_line, reviews_button
from handlers.views.text import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    N_,
    BackgroundSender,
    CallbackId,
    Calls,
    CommitHook,
    Effect,
    HandlerSettings,
    Notice,
    RefundWaker,
    carry_out,
    countdown,
    counted,
    default_locale,
    esc,
    esc_name,
    format_money,
    later,
    list_text,
    shorten,
    visible_length,
)
from handlers.views.waitlist import WaitlistAction, WaitlistCallback
from models.groupbuy import (
    GROUPBUY_CANCELLED,
    GROUPBUY_FAILED,
    GROUPBUY_FORMED,
    GROUPBUY_OPEN,
    MIN_PEOPLE,
)
from models.product import PAYMENT_TELEGRAM
from services.groupbuy import (
    Closing,
    GroupBuyVariantView,
    GroupBuyView,
    GroupNotice,
    MemberNotice,
    OwedBack,
    formed_items,
)
from services.jielong import UNLIMITED_ITEM

log = logging.getLogger(__name__)


class GroupBuyAction(StrEnum):
    JOIN = "join"  # add `quantity`
    LESS = "less"  # one fewer
    LEAVE = "leave"
    DETAILS = "details"


class GroupBuyCallback(CallbackData, prefix="gb"):
    """A button on a group-buy card."""

    action: GroupBuyAction
    groupbuy_id: CallbackId
    quantity: CallbackId = 0


class GroupBuyVariantAction(StrEnum):
    JOIN = "join"  # add `quantity` of the variant


class GroupBuyVariantCallback(CallbackData, prefix="gbv"):
    """A variant's Join button on the card of a group-buy of a product with variants."""

    action: GroupBuyVariantAction
    groupbuy_id: CallbackId
    variant_id: CallbackId
    quantity: CallbackId = 1


class ListAction(StrEnum):
    ADD = "add"  # one more of item `item`
    LEAVE = "leave"  # every line off
    MINE = "mine"  # my order


class ListCallback(CallbackData, prefix="gbl"):
    """A button on the card of a sign-up list (接龙)."""

    action: ListAction
    groupbuy_id: CallbackId
    item: CallbackId = 0  # the item's number on the list, from 1


CARD_DESCRIPTION = 200  # characters of the product's description a card shows at most
# a photo card's caption keeps this much room for the lines that grow after it is posted (the
# closing status instead of the deadline, more digits): its edits fit the caption too
CAPTION_ROOM = 64


def card_text(
    gb: GroupBuyView, locale: str, timezone: str, now: datetime, *, caption: bool = False
) -> str:
    """The card as members see it in the group's language: as a photo's caption when `caption`
    (within Telegram's 1024 characters: the description is shortened to fit, and in the worst
    case the last lines are left out), else as a message."""
    gb = gb.in_language(locale, default_locale())
    lines = _card_lines(gb, locale, timezone, now)
    limit = CAPTION_LIMIT if caption else MESSAGE_LIMIT
    if gb.description.strip():
        room = limit - visible_length("\n".join(lines)) - 1
        description = shorten(gb.description, min(CARD_DESCRIPTION, room))
        if description:
            lines.insert(1, f"<i>{esc(description)}</i>")
    while len(lines) > 1 and visible_length("\n".join(lines)) > limit:
        lines.pop()
    return "\n".join(lines)


def fits_caption(gb: GroupBuyView, locale: str, timezone: str, now: datetime) -> bool:
    """Whether the card, without its description, leaves room in a photo's caption."""
    text = "\n".join(_card_lines(gb, locale, timezone, now))
    return visible_length(text) <= CAPTION_LIMIT - CAPTION_ROOM


def post_card(
    gb: GroupBuyView, chat_id: int, locale: str, timezone: str, now: datetime
) -> SendPhoto | SendMessage:
    """The card to post in a chat: the product's photo with the card as its caption when the
    product has a photo and the card fits a caption, else a text message; same buttons."""
    if gb.photo_file_id and fits_caption(gb, locale, timezone, now):
        return SendPhoto(
            chat_id=chat_id,
            photo=gb.photo_file_id,
            caption=card_text(gb, locale, timezone, now, caption=True),
            reply_markup=card_keyboard(gb),
        )
    return SendMessage(
        chat_id=chat_id,
        text=card_text(gb, locale, timezone, now),
        reply_markup=card_keyboard(gb),
    )


def edit_card(
    gb: GroupBuyView,
    chat_id: int,
    message_id: int,
    *,
    photo: bool,
    locale: str,
    timezone: str,
    now: datetime,
) -> EditMessageCaption | EditMessageText:
    """The edit that brings a posted card up to date: its caption when the card is a photo
    (Telegram refuses editMessageText there), else its text; the buttons go when it closed."""
    if photo:
        return EditMessageCaption(
            chat_id=chat_id,
            message_id=message_id,
            caption=card_text(gb, locale, timezone, now, caption=True),
            reply_markup=card_keyboard(gb),
        )
    return EditMessageText(
        chat_id=chat_id,
        message_id=message_id,
        text=card_text(gb, locale, timezone, now),
        reply_markup=card_keyboard(gb),
    )


def _card_lines(gb: GroupBuyView, locale: str, timezone: str, now: datetime) -> list[str]:
    gb = gb.in_language(locale, default_locale())
    price = format_money(gb.current_price, gb.currency, locale)
    lines = [f"🛒 <b>{esc_name(gb.title)}</b>"]
    if gb.multi:  # a sign-up list: its items, numbered as members order them
        lines += [
            f"{n}. {esc(item_label(v, gb.currency, locale))}"
            for n, v in enumerate(gb.variants, start=1)
        ]
    elif gb.variants:  # each variant at its own price, with its own stock
        lines += [f"• {esc(variant_label(v, gb.currency, locale))}" for v in gb.variants]
    else:
        lines.append(_("Price now: {price}").format(price=price))
    rating = rating_line(gb.review_count, gb.review_stars, locale)
    if rating:
        lines.append(rating)
    for units, tier_price in gb.tiers:
        mark = "✅" if gb.units_sold >= units else "▫️"
        lines.append(
            "  "
            + mark
            + " "
            + _("from {units}: {price}").format(
                units=counted("unit", units), price=format_money(tier_price, gb.currency, locale)
            )
        )
    # the noun agrees with the larger number: 0/1 person, 2/1 people, 3/5 people
    if gb.min_kind == MIN_PEOPLE:
        progress = ngettext(
            "Progress: {n}/{m} person",
            "Progress: {n}/{m} people",
            max(gb.participants, gb.min_count),
        ).format(n=gb.participants, m=gb.min_count)
    else:
        progress = ngettext(
            "Progress: {n}/{m} unit", "Progress: {n}/{m} units", max(gb.units_sold, gb.min_count)
        ).format(n=gb.units_sold, m=gb.min_count)
    lines.append(progress)
    if not gb.multi and gb.status == GROUPBUY_OPEN:  # a list says what each item has left;
        # once closed, nothing is left to take (a formed card read "Units left: 7")
        lines.append(_("Units left: {n}").format(n=gb.units_left))
    local = gb.deadline.astimezone(ZoneInfo(timezone))
    if gb.status == GROUPBUY_OPEN:
        left = countdown((gb.deadline - now).total_seconds())
        lines.append(
            _("Ends {when} ({left} left)").format(when=local.strftime("%m-%d %H:%M"), left=left)
        )
    else:
        lines.append(_(STATUS_LINES[gb.status]) if gb.status in STATUS_LINES else gb.status)
    if gb.status == GROUPBUY_OPEN and gb.vip_only(now) and gb.vip_until is not None:
        until = gb.vip_until.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")
        if gb.vip_level:
            early = _("👑 Early access for groups of level {level} until {time}").format(
                level=level_name(gb.vip_level), time=until
            )
        else:
            early = _("👑 VIP early access until {time}").format(time=until)
        lines.append(early)
    if gb.pickup_point:
        lines.append(_("Pickup: {place}").format(place=esc(gb.pickup_point)))
    if gb.pickup_time:
        lines.append(_("Pickup time: {time}").format(time=esc(gb.pickup_time)))
    if gb.multi:
        lines.append(_("Limit {n} of each item per member.").format(n=gb.per_member_limit))
        if gb.form_per_item:
            lines.append(_("Each item forms on its own, at its own minimum."))
        if gb.status == GROUPBUY_OPEN:
            lines.append(
                _("To order, reply to this card: 1x2 3x1 (item × quantity), or +1 for one more.")
            )
        return lines
    lines.append(_("Limit {n} per member.").format(n=gb.per_member_limit))
    return lines


STATUS_LINES = {
    "formed": N_("✅ Formed! Orders are open for payment and pickup."),
    "failed": N_("❌ Not formed: every reservation was released."),
    "cancelled": N_("❌ Cancelled: every reservation was released."),
    "settling": N_("⏳ Closing…"),
}


def variant_label(variant: GroupBuyVariantView, currency: str, locale: str) -> str:
    """A variant on the card (plain text): name, price, units left."""
    left = (
        _("{count} left").format(count=variant.units_left) if variant.units_left else _("sold out")
    )
    return f"{variant.name} · {format_money(variant.unit_price, currency, locale)} · {left}"


def item_label(item: GroupBuyVariantView, currency: str, locale: str) -> str:
    """An item of a sign-up list on its card (plain text): name, price, units left, and its
    minimum with the units ordered so far when it has one."""
    if item.stock_cap >= UNLIMITED_ITEM and item.units_left > 0:  # typed without a stock
        label = f"{item.name} · {format_money(item.unit_price, currency, locale)}"
    else:
        label = variant_label(item, currency, locale)
    if item.min_units:
        label += " · " + _("min {m}: {n}/{m}").format(m=item.min_units, n=item.units_sold)
    return label


def _list_keyboard(gb: GroupBuyView) -> InlineKeyboardMarkup | None:
    """A sign-up list's buttons: one more of each item (one unit a tap), Leave, My order."""
    if gb.status != GROUPBUY_OPEN:
        return None
    builder = InlineKeyboardBuilder()
    for number, item in enumerate(gb.variants, start=1):
        if item.units_left <= 0:  # sold out: its button joins the item's waitlist
            builder.button(
                text=_("🔔 {n}. {item}").format(n=number, item=shorten(item.name, 24)),
                callback_data=WaitlistCallback(
                    action=WaitlistAction.WAIT, groupbuy_id=gb.id, variant_id=item.variant_id
                ),
            )
            continue
        builder.button(
            text=_("+1 · {n}. {item}").format(n=number, item=shorten(item.name, 24)),
            callback_data=ListCallback(action=ListAction.ADD, groupbuy_id=gb.id, item=number),
        )
    builder.button(
        text=_("Leave"), callback_data=ListCallback(action=ListAction.LEAVE, groupbuy_id=gb.id)
    )
    builder.button(
        text=_("My order"), callback_data=ListCallback(action=ListAction.MINE, groupbuy_id=gb.id)
    )
    columns = 2 if len(gb.variants) > 1 else 1
    builder.adjust(*([columns] * ((len(gb.variants) + columns - 1) // columns)), 2)
    return builder.as_markup()


def card_keyboard(gb: GroupBuyView) -> InlineKeyboardMarkup | None:
    if gb.multi:  # a sold-out item's button is its waitlist's
        return _list_keyboard(gb)
    if gb.units_left <= 0 and gb.status in (GROUPBUY_OPEN, GROUPBUY_FORMED) and not gb.variants:
        return _sold_out_keyboard(gb)
    if gb.status != GROUPBUY_OPEN:
        return None
    builder = InlineKeyboardBuilder()
    if gb.variants:  # one Join per variant (one unit a tap), then the same row as without
        for variant in gb.variants:
            if variant.units_left <= 0:  # sold out: its button joins the variant's waitlist
                builder.button(
                    text=_("🔔 {variant}").format(variant=variant.name),
                    callback_data=WaitlistCallback(
                        action=WaitlistAction.WAIT, groupbuy_id=gb.id, variant_id=variant.variant_id
                    ),
                )
                continue
            builder.button(
                text=_("Join {variant}").format(variant=variant.name),
                callback_data=GroupBuyVariantCallback(
                    action=GroupBuyVariantAction.JOIN,
                    groupbuy_id=gb.id,
                    variant_id=variant.variant_id,
                ),
            )
        _change_buttons(builder, gb)
        columns = 2 if len(gb.variants) > 1 else 1
        builder.adjust(*([columns] * ((len(gb.variants) + columns - 1) // columns)), 3)
    else:
        for quantity in range(1, min(3, gb.per_member_limit) + 1):
            builder.button(
                text=_("Join ×{n}").format(n=quantity),
                callback_data=GroupBuyCallback(
                    action=GroupBuyAction.JOIN, groupbuy_id=gb.id, quantity=quantity
                ),
            )
        _change_buttons(builder, gb)
        builder.adjust(min(3, gb.per_member_limit), 3)
    if gb.review_count:
        builder.row(reviews_button(gb.product_id, gb.review_count))
    return builder.as_markup()


def _change_buttons(builder: InlineKeyboardBuilder, gb: GroupBuyView) -> None:
    builder.button(
        text=_("−1"), callback_data=GroupBuyCallback(action=GroupBuyAction.LESS, groupbuy_id=gb.id)
    )
    builder.button(
        text=_("Leave"),
        callback_data=GroupBuyCallback(action=GroupBuyAction.LEAVE, groupbuy_id=gb.id),
    )
    builder.button(
        text=_("Details"),
        callback_data=GroupBuyCallback(action=GroupBuyAction.DETAILS, groupbuy_id=gb.id),
    )


def _sold_out_keyboard(gb: GroupBuyView) -> InlineKeyboardMarkup:
    """Sold out: Join becomes the waitlist (freed units are offered in turn); while it is open,
    members who joined may still give units back."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🔔 Notify me / join the waitlist"),
        callback_data=WaitlistCallback(action=WaitlistAction.WAIT, groupbuy_id=gb.id),
    )
    if gb.status == GROUPBUY_OPEN:
        _change_buttons(builder, gb)
        builder.adjust(1, 3)
    return builder.as_markup()


DIFFERENCE_OWED = N_(
    "{title} formed at a lower price than you prepaid: {amount} of order #{order} is owed back "
    "to you, and our staff will return it."
)
PREPAYMENT_OWED = N_(
    "Your prepayment of {amount} for order #{order} will be refunded by our staff."
)
# to a member waiting for units of a group-buy that closed: their place ended with it
WAIT_ENDED = {
    GROUPBUY_FORMED: N_(
        "{title} has formed and closed, and its waitlist with it: no units were booked for "
        "you. What it did not sell is back in the shop: see /products."
    ),
    GROUPBUY_FAILED: N_(
        "{title} did not form, so its waitlist has ended: nothing was booked for you and you "
        "owe nothing."
    ),
    GROUPBUY_CANCELLED: N_(
        "{title} was cancelled, so its waitlist has ended: nothing was booked for you and you "
        "owe nothing."
    ),
}
# a sign-up list that formed: a pasted list's items are not in the shop afterwards
LIST_WAIT_ENDED = N_("{title} has closed, and its waitlist with it: nothing was booked for you.")


def group_text(closing: Closing, locale: str) -> str:
    """The group's message about how the group-buy closed (in the current locale)."""
    gb = closing.groupbuy.in_language(locale, default_locale())
    if closing.formed and gb.multi:  # each item at its own price; some may not have formed
        formed = formed_items(gb)
        units = sum(item.units_sold for item in gb.variants if item.variant_id in formed)
        text = _("#{id} {title} formed: {units} sold!").format(
            id=gb.id, title=esc_name(gb.title), units=units
        )
        missed = [
            f"{n}. {esc(item.name)} ({item.units_sold}/{item.min_units})"
            for n, item in enumerate(gb.variants, start=1)
            if item.units_sold and item.variant_id not in formed
        ]
        if missed:
            text += "\n" + _("Not formed (below their minimum): {items}").format(
                items=list_text(missed)
            )
        return text
    if closing.formed and gb.with_variants:  # each variant at its own price
        return _("#{id} {title} formed: {units} sold!").format(
            id=gb.id, title=esc_name(gb.title), units=gb.units_sold
        )
    if closing.formed:
        return _("#{id} {title} formed: {units} sold at {price} each!").format(
            id=gb.id,
            title=esc_name(gb.title),
            units=gb.units_sold,
            price=format_money(gb.final_price or gb.unit_price, gb.currency, locale),
        )
    if gb.status == GROUPBUY_CANCELLED:
        return _("#{id} {title} was cancelled. Nobody pays anything.").format(
            id=gb.id, title=esc_name(gb.title)
        )
    return _("#{id} {title} did not form. Every reservation was released.").format(
        id=gb.id, title=esc_name(gb.title)
    )


def member_text(closing: Closing, member: MemberNotice) -> str:
    """A participant's message about how the group-buy closed, in the current locale."""
    gb = closing.groupbuy.at_pickup(member.pickup).in_language(member.locale, default_locale())
    order = member.order
    if gb.multi and member.lines:  # a sign-up list: one order per line of an item that formed
        return _list_formed_text(gb, member) + pickup_lines(gb)
    if gb.multi and closing.formed:
        return _("{title} formed, but not the items you ordered. Nothing to pay.").format(
            title=esc_name(gb.title)
        )
    if order is not None:
        formed = (
            _("{title} formed! Your order #{order}: ×{quantity}, {total}.")
            if order.payment_mode == PAYMENT_TELEGRAM
            else _(
                "{title} formed! Your order #{order}: ×{quantity}, {total}. Pay your "
                "leader at pickup."
            )
        )
        return formed.format(
            title=esc_name(gb.title),
            order=order.id,
            quantity=order.quantity,
            total=format_money(order.total, order.currency, member.locale),
        ) + pickup_lines(gb)
    if closing.formed:
        return _("{title} formed! You have paid already: see you at pickup.").format(
            title=esc_name(gb.title)
        ) + pickup_lines(gb)
    if gb.status == GROUPBUY_CANCELLED:
        return _("{title} was cancelled. Nothing to pay.").format(title=esc_name(gb.title))
    return _("{title} did not form. Nothing to pay.").format(title=esc_name(gb.title))


def _list_formed_text(gb: GroupBuyView, member: MemberNotice) -> str:
    """A participant's orders of a sign-up list that formed: a line per item, the total."""
    money = lambda amount: format_money(amount, gb.currency, member.locale)  # noqa: E731
    lines = [_("{title} formed! Your orders:").format(title=esc_name(gb.title))]
    for order in member.lines:
        # a list's own item by its name, an item from the catalogue by its product's too
        item = order.variant if order.product_id == gb.product_id else order.title
        lines.append(
            _("#{order} {item} ×{quantity}: {total}").format(
                order=order.id,
                item=esc(item),
                quantity=order.quantity,
                total=money(order.total),
            )
        )
    total = sum(order.total for order in member.lines)
    lines.append(_("In all {total}. Pay your leader at pickup.").format(total=money(total)))
    return "\n".join(lines)


def pickup_lines(gb: GroupBuyView) -> str:
    """Where and when a formed group-buy is picked up, as lines to add ('' when not given)."""
    lines = []
    if gb.pickup_point:
        lines.append(_("Pickup: {place}").format(place=esc(gb.pickup_point)))
    if gb.pickup_time:
        lines.append(_("Pickup time: {time}").format(time=esc(gb.pickup_time)))
    return "".join("\n" + line for line in lines)


def owed_text(closing: Closing, owed: OwedBack) -> str:
    """A participant's note that staff pay back part or all of a prepayment."""
    template = PREPAYMENT_OWED if owed.whole else DIFFERENCE_OWED
    return _(template).format(
        title=esc_name(closing.groupbuy.in_language(owed.locale, default_locale()).title),
        order=owed.order_id,
        amount=format_money(owed.amount, closing.groupbuy.currency, owed.locale),
    )


def wait_ended_text(closing: Closing, locale: str) -> str:
    """A waiting member's note that their place ended with the group-buy."""
    gb = closing.groupbuy
    template = WAIT_ENDED.get(gb.status, WAIT_ENDED[GROUPBUY_FAILED])
    if gb.multi and gb.status == GROUPBUY_FORMED:
        template = LIST_WAIT_ENDED
    return _(template).format(title=esc_name(gb.in_language(locale, default_locale()).title))


def closing_effects(
    i18n: I18n, closing: Closing, now: datetime, settings: HandlerSettings
) -> list[Effect]:
    """Everything closing a group-buy says, each in its reader's language: the final card and
    the outcome in every group, each participant's outcome (and invoice), the refunds owed."""
    effects: list[Effect] = []
    for group in closing.groups:
        with i18n.use_locale(group.locale):
            effects += _group_effects(closing, group, now)
    for member in closing.members:
        with i18n.use_locale(member.locale):
            text = member_text(closing, member)
            if member.invoice is not None:
                # the invoice follows; the Pay button sends a fresh one if it is lost or stale
                pay = pay_keyboard(i18n, member.locale, member.invoice.id)
                told = SendMessage(chat_id=member.member_id, text=text, reply_markup=pay)
                effects.append(Calls((told, invoice(member.invoice, settings))))
            else:
                effects.append(Notice(member.member_id, text))
    for owed in closing.owed:
        with i18n.use_locale(owed.locale):
            effects.append(Notice(owed.member_id, owed_text(closing, owed)))
    for member_id, locale in closing.waiting:
        with i18n.use_locale(locale):
            effects.append(Notice(member_id, wait_ended_text(closing, locale)))
    if closing.sheet is not None:  # the leader runs pickup from it
        with i18n.use_locale(closing.sheet_locale):
            effects.append(
                Notice(
                    closing.sheet.opened_by,
                    sheet_text(closing.sheet, 0, closing.sheet_locale),
                    sheet_keyboard(closing.sheet, 0),
                )
            )
    return effects


def _group_effects(closing: Closing, group: GroupNotice, now: datetime) -> list[Effect]:
    effects: list[Effect] = []
    gb = closing.groupbuy
    if group.message_id is not None:
        card = edit_card(
            gb.at_pickup(group.pickup),
            group.chat_id,
            group.message_id,
            photo=group.photo,
            locale=group.locale,
            timezone=group.timezone,
            now=now,
        )
        effects.append(Calls((card,)))
    effects.append(Notice(group.chat_id, group_text(closing, group.locale)))
    return effects


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
