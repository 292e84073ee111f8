"""The leader's pickup sheet of a formed group-buy: its text and buttons, page by page (sent
when the group-buy forms, by /sheet, and edited in place after each tap)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder, InlineKeyboardButton

from handlers.text import CallbackId, Effect, StartLinkNotice, esc, esc_name, format_money
from models.order import ORDER_FULFILLED, ORDER_REFUNDED
from models.product import PAYMENT_TELEGRAM
from services.groupbuy import Closing
from services.pickup import PickupLine, PickupSheet
from services.referral import sheet_start_parameter

SHEET_PAGE = 10  # orders per page: ten lines and their buttons fit any phone


class SheetCallback(CallbackData, prefix="pk"):
    """A button on a pickup sheet; `order_id` names the order a marking button is for."""

    action: str  # paid, picked, done (nothing to do), page, remind
    groupbuy_id: CallbackId
    order_id: CallbackId = 0
    page: int = 0


def pages(sheet: PickupSheet) -> int:
    """How many pages the sheet has (at least one)."""
    return max(1, -(-len(sheet.lines) // SHEET_PAGE))


def clamp(sheet: PickupSheet, page: int) -> int:
    """The page, within the sheet's pages."""
    return min(max(page, 0), pages(sheet) - 1)


def _state(line: PickupLine) -> str:
    if line.order.status == ORDER_REFUNDED:
        return _("↩️ refunded")
    if line.picked_up:
        return _("📦 picked up")
    if line.paid:
        return _("✅ paid")
    return _("⏳ unpaid")


def sheet_text(sheet: PickupSheet, page: int, locale: str) -> str:
    """The sheet's page in the current locale: totals, commission, then its order lines."""
    page = clamp(sheet, page)
    money = lambda amount: format_money(amount, sheet.currency, locale)  # noqa: E731
    lines = [
        _("📋 <b>Pickup sheet · #{id} {title}</b>").format(
            id=sheet.groupbuy_id, title=esc_name(sheet.title)
        )
    ]
    if sheet.pickup_point or sheet.pickup_time:
        where = " · ".join(esc(part) for part in (sheet.pickup_point, sheet.pickup_time) if part)
        lines.append(_("Pickup: {place}").format(place=where))
    for total in sheet.totals:
        lines.append(
            _("{title} ×{units} · {amount} · paid {paid} · picked up ×{picked}").format(
                title=esc_name(total.title),
                units=total.units,
                amount=money(total.amount),
                paid=money(total.paid),
                picked=total.picked_up,
            )
        )
    count = len(sheet.lines)
    paid = sum(1 for line in sheet.lines if line.paid)
    picked = sum(1 for line in sheet.lines if line.picked_up)
    lines.append(
        _("Orders: {count} · paid {paid} · picked up {picked}").format(
            count=count, paid=paid, picked=picked
        )
    )
    if sheet.commission_bps:
        lines.append(
            _("Your commission: {earned} so far, {expected} once every order is paid.").format(
                earned=money(sheet.commission), expected=money(sheet.commission_expected)
            )
        )
    if not sheet.lines:
        lines.append(_("Nobody has an order in this group-buy."))
        return "\n".join(lines)
    first = page * SHEET_PAGE
    shown = sheet.lines[first : first + SHEET_PAGE]
    lines.append("")
    lines.append(
        _("Orders {first}–{last} of {count} (page {page} of {pages}):").format(
            first=first + 1,
            last=first + len(shown),
            count=count,
            page=page + 1,
            pages=pages(sheet),
        )
    )
    for line in shown:
        lines.append(
            f"#{line.order.id} {esc_name(line.name)} ×{line.order.quantity} · "
            f"{money(line.order.total)} · {_state(line)}"
        )
    return "\n".join(lines)


def _button(sheet: PickupSheet, line: PickupLine, page: int) -> InlineKeyboardButton:
    """The one button of an order's row: what it needs next, naming the member and the order."""
    order, name = line.order, line.name
    if order.status == ORDER_REFUNDED or order.status == ORDER_FULFILLED:
        text, action = _("✔️ Done · {name} #{id}"), "done"
    elif line.paid:
        text, action = _("📦 Picked up · {name} #{id}"), "picked"
    elif order.payment_mode == PAYMENT_TELEGRAM:  # the member pays with the invoice
        text, action = _("⏳ Pays by invoice · {name} #{id}"), "done"
    else:
        text, action = _("✅ Paid · {name} #{id}"), "paid"
    data = SheetCallback(action=action, groupbuy_id=sheet.groupbuy_id, order_id=order.id, page=page)
    return InlineKeyboardButton(
        text=text.format(name=name[:24], id=order.id), callback_data=data.pack()
    )


def sheet_keyboard(sheet: PickupSheet, page: int) -> InlineKeyboardMarkup:
    """A row per order of the page (the same order stays on the same row), then the pages
    and the reminder."""
    page = clamp(sheet, page)
    builder = InlineKeyboardBuilder()
    first = page * SHEET_PAGE
    for line in sheet.lines[first : first + SHEET_PAGE]:
        builder.row(_button(sheet, line, page))
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=_("◀ Back"),
                callback_data=SheetCallback(
                    action="page", groupbuy_id=sheet.groupbuy_id, page=page - 1
                ).pack(),
            )
        )
    if page + 1 < pages(sheet):
        nav.append(
            InlineKeyboardButton(
                text=_("More ▶ {page} of {pages}").format(page=page + 2, pages=pages(sheet)),
                callback_data=SheetCallback(
                    action="page", groupbuy_id=sheet.groupbuy_id, page=page + 1
                ).pack(),
            )
        )
    if nav:
        builder.row(*nav)
    if sheet.unpaid:
        builder.row(
            InlineKeyboardButton(
                text=_("🔔 Remind unpaid ({count})").format(count=sheet.unpaid),
                callback_data=SheetCallback(
                    action="remind", groupbuy_id=sheet.groupbuy_id, page=page
                ).pack(),
            )
        )
    return builder.as_markup()


def unreached_leader_effects(i18n: I18n, closing: Closing) -> list[Effect]:
    """A formed group-buy whose leader never started the bot: a short note to them in their
    group, in its language, with a button that opens the pickup sheet in private."""
    leader = closing.unreached_leader
    if leader is None:
        return []
    gb = closing.groupbuy
    effects: list[Effect] = []
    for group in leader.groups:
        with i18n.use_locale(group.locale):
            text = _(
                "{name}, #{id} {title} formed and your pickup sheet is ready, but I cannot "
                "write to you in private before you start me. Tap the button below, then Start."
            ).format(
                name=f'<a href="tg://user?id={leader.member_id}">{esc_name(leader.name)}</a>',
                id=gb.id,
                title=esc_name(gb.title),
            )
            effects.append(
                StartLinkNotice(
                    group.chat_id,
                    text,
                    _("📋 Open the pickup sheet"),
                    sheet_start_parameter(gb.id),
                )
            )
    return effects
