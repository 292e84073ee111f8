"""The leader's pickup sheet of a formed group-buy: its text and buttons, page by page (sent
when the group-buy forms, by /sheet, and edited in place after each tap).
Also who may run a pickup (audited either way), used by /sheet and /start's sheet link."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.reservation import named_moment
from handlers.views.text import (
    N_,
    CallbackId,
    Effect,
    HandlerSettings,
    StartLinkNotice,
    counted,
    default_locale,
    esc,
    esc_name,
    format_money,
)
from models.groupbuy import GROUPBUY_FORMED
from models.order import ORDER_FULFILLED, ORDER_REFUNDED
from models.product import PAYMENT_TELEGRAM
from services.audit import record_action
from services.groupbuy import Closing
from services.member import MemberView
from services.pickup import (
    PickupError,
    PickupLine,
    PickupSheet,
    PointSheet,
    PointView,
    Redeemed,
    may_run_pickup,
    pickup_sheet,
)
from services.referral import sheet_start_parameter
from services.role import Role

SHEET_PAGE = 10  # orders per page: ten lines and their buttons fit any phone
# whom an order is for when not its member (代订), after the order on a sheet or a list
FOR_WHOM = N_("👤 for {name}")


def for_whom_text(for_whom: str) -> str:
    """ " · 👤 for Mom, building 3" after an order's line, or "" for the member themself."""
    if not for_whom:
        return ""
    return " · " + _(FOR_WHOM).format(name=esc_name(for_whom))


class SheetAction(StrEnum):
    PAID = "paid"
    PICKED = "picked"
    DONE = "done"  # nothing to do
    PAGE = "page"
    REMIND = "remind"


class SheetCallback(CallbackData, prefix="pk"):
    """A button on a pickup sheet; `order_id` names the order a marking button is for."""

    action: SheetAction
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
    """The sheet's page in the current locale (the product's title and pickup texts in that
    language when given): totals, commission, then its order lines."""
    sheet = sheet.in_language(locale, default_locale())
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
        item = f" · {esc(line.order.variant)}" if line.order.variant else ""  # a list's item
        if sheet.product_id and line.order.product_id != sheet.product_id:  # from the catalogue
            item = f" · {esc(line.order.title)}"
        lines.append(
            f"#{line.order.id} {esc_name(line.name)}{item} ×{line.order.quantity} · "
            f"{money(line.order.total)} · {_state(line)}" + for_whom_text(line.order.for_whom)
        )
    return "\n".join(lines)


def _button(sheet: PickupSheet, line: PickupLine, page: int) -> InlineKeyboardButton:
    """The one button of an order's row: what it needs next, naming the member and the order."""
    order, name = line.order, line.name
    if order.status == ORDER_REFUNDED or order.status == ORDER_FULFILLED:
        text, action = _("✔️ Done · {name} #{id}"), SheetAction.DONE
    elif line.paid:
        text, action = _("📦 Picked up · {name} #{id}"), SheetAction.PICKED
    elif order.payment_mode == PAYMENT_TELEGRAM:  # the member pays with the invoice
        text, action = _("⏳ Pays by invoice · {name} #{id}"), SheetAction.DONE
    else:
        text, action = _("✅ Paid · {name} #{id}"), SheetAction.PAID
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
                    action=SheetAction.PAGE, groupbuy_id=sheet.groupbuy_id, page=page - 1
                ).pack(),
            )
        )
    if page + 1 < pages(sheet):
        nav.append(
            InlineKeyboardButton(
                text=_("More ▶ {page} of {pages}").format(page=page + 2, pages=pages(sheet)),
                callback_data=SheetCallback(
                    action=SheetAction.PAGE, groupbuy_id=sheet.groupbuy_id, page=page + 1
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
                    action=SheetAction.REMIND, groupbuy_id=sheet.groupbuy_id, page=page
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
                title=esc_name(gb.in_language(group.locale, default_locale()).title),
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


# -- pickup points and pickup by code (核销), shared by the chat and the Mini App -----------

POINT_ERRORS = {
    "no_name": N_(
        "A pickup point needs a name. Send it as /pickup_point_add Name | address | opening "
        "hours, for example /pickup_point_add Shop A | 12 Main St | daily 9:00-18:00."
    ),
    "duplicate_name": N_("This group already has a pickup point called {detail}."),
    "too_long": N_("The {field} is too long: at most {limit}."),
}
FIELD_NAMES = {"name": N_("name"), "address": N_("address"), "hours": N_("opening hours")}


def point_error_text(exc: PickupError) -> str:
    """Why a pickup point cannot be added, naming what to fix."""
    if exc.reason == "too_long":
        field, _sep, limit = exc.detail.partition(" ")
        return _(POINT_ERRORS["too_long"]).format(
            field=_(FIELD_NAMES[field]), limit=counted("character", int(limit))
        )
    return _(POINT_ERRORS[exc.reason]).format(detail=esc(exc.detail))


def point_text(point: PointView) -> str:
    """A pickup point in a list: number, name, address, hours, keepers."""
    lines = [f"<b>#{point.id} {esc_name(point.name)}</b>"]
    if point.address:
        lines.append(_("Address: {address}").format(address=esc(point.address)))
    if point.hours:
        lines.append(_("Opening hours: {hours}").format(hours=esc(point.hours)))
    keepers = ", ".join(esc_name(keeper.name) for keeper in point.keepers)
    lines.append(
        _("Keepers: {names}").format(names=keepers)
        if keepers
        else _("Keepers: none yet (the group's leader keeps every point of the group)")
    )
    return "\n".join(lines)


def redeem_error_text(exc: PickupError, timezone: str, reader: str | None) -> str:
    """Why a pickup code was not accepted, in the current locale."""
    order, point = exc.order, exc.point
    if exc.reason == "bad_code":
        return _(
            "{code} is not a pickup code: a code has 6 letters and digits, such as K7MP2X "
            "(there is no 0, O, 1 or I in a code)."
        ).format(code=esc(exc.detail) or "…")
    if exc.reason == "no_code":
        return _("No order has the pickup code {code}. Check it with the member.").format(
            code=esc(exc.detail)
        )
    if exc.reason == "not_keeper":
        return _(
            "Only a pickup point's keepers, the group's leader and the brand's staff confirm "
            "pickups. A leader names keepers with /keeper_add."
        )
    assert order is not None
    if exc.reason == "wrong_point":
        if point is None:
            return _(
                "Order #{id} is not picked up at your pickup point. Nothing was marked."
            ).format(id=order.id)
        return _(
            "Order #{id} is picked up at {point}, not at yours. Nothing was marked: send the "
            "member there."
        ).format(id=order.id, point=esc_name(point.name))
    if exc.reason == "already_picked":
        when = named_moment(order.picked_up_at, timezone, reader) if order.picked_up_at else "?"
        return _(
            "This code was used already: order #{id} was picked up on {time}. Nothing was "
            "marked twice."
        ).format(id=order.id, time=when)
    if exc.reason == "refunded":
        return _("Order #{id} was refunded: there is nothing to hand over.").format(id=order.id)
    if exc.reason == "own_pickup":
        return _(
            "Order #{id} is your own: another keeper, the leader or staff confirm its pickup."
        ).format(id=order.id)
    return _("Order #{id} is not paid yet: it cannot be picked up.").format(id=order.id)


def redeemed_text(redeemed: Redeemed) -> str:
    """What the keeper reads once a pickup is confirmed: what to hand over, to whom."""
    order = redeemed.order
    text = _("✅ Picked up: order #{id} {title} ×{quantity}. Hand it over.").format(
        id=order.id, title=esc_name(order.title), quantity=order.quantity
    )
    if redeemed.point is not None:
        text += "\n" + _("Pickup point: {name}").format(name=esc_name(redeemed.point.name))
    if order.for_whom:
        text += "\n" + _(FOR_WHOM).format(name=esc_name(order.for_whom))
    return text


def picked_up_notice(redeemed: Redeemed, timezone: str, reader: str | None) -> str:
    """What the member is told in private when a keeper confirmed their pickup."""
    order = redeemed.order
    when = named_moment(order.picked_up_at, timezone, reader) if order.picked_up_at else ""
    if redeemed.point is not None:
        return _("Order #{id} {title} was picked up at {point} on {time}. Enjoy!").format(
            id=order.id, title=esc_name(order.title), point=esc_name(redeemed.point.name), time=when
        )
    return _("Order #{id} {title} was picked up on {time}. Enjoy!").format(
        id=order.id, title=esc_name(order.title), time=when
    )


def point_sheet_text(sheet: PointSheet, locale: str, limit: int = 50) -> str:
    """A point's pickup sheet: what waits there (the first `limit` orders) and how many were
    picked up there."""
    lines = [
        _("📋 <b>Pickup sheet · {point}</b>").format(point=esc(sheet.point.name)),
        _("Waiting: {waiting} · picked up: {picked}").format(
            waiting=len(sheet.waiting), picked=len(sheet.picked)
        ),
    ]
    for line in sheet.waiting[:limit]:
        order = line.order
        lines.append(
            f"#{order.id} {esc_name(line.name)} · {esc_name(order.title)} ×{order.quantity} · "
            + format_money(order.total, order.currency, locale)
            + for_whom_text(order.for_whom)
        )
    if len(sheet.waiting) > limit:
        lines.append(_("…and {count} more.").format(count=len(sheet.waiting) - limit))
    if not sheet.waiting:
        lines.append(_("Nothing is waiting here."))
    return "\n".join(lines)


NOT_YOURS = N_(
    "Only the leader who opened group-buy #{id}, or the brand's staff, can run its pickup."
)


async def may_run_it(
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    gb_id: int,
    action: str,
    *,
    now: datetime,
) -> bool:
    """Whether the member may run this group-buy's pickup; audited either way."""
    allowed = await may_run_pickup(
        session, groupbuy_id=gb_id, member_id=member.id, owner_ids=settings.owner_ids
    )
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action=action,
        allowed=allowed,
        now=now,
        required_role=Role.LEADER.name.lower(),
        detail=f"group-buy #{gb_id}",
    )
    return allowed


async def show_sheet(
    message: Message,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    gb_id: int,
    locale: str,
    *,
    now: datetime,
) -> None:
    """Sends the first page of a formed group-buy's pickup sheet to its leader or staff (by
    /sheet, or by the group's "Open the pickup sheet" button); anyone else is refused."""
    if not await may_run_it(session, settings, member, gb_id, "pickup.sheet", now=now):
        await message.answer(_(NOT_YOURS).format(id=gb_id))
        return
    sheet = await pickup_sheet(session, gb_id)
    if sheet is None:
        await message.answer(_("There is no group-buy #{id}.").format(id=gb_id))
        return
    if sheet.status != GROUPBUY_FORMED:
        await message.answer(
            _("Group-buy #{id} has not formed, so there is nothing to pick up.").format(id=gb_id)
        )
        return
    await message.answer(sheet_text(sheet, 0, locale), reply_markup=sheet_keyboard(sheet, 0))
