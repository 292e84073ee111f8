"""A member's orders as they read them in private: the page, its buttons, and the Pay button
that other messages (a formed group-buy's notice) carry. Shared by the my-orders router, the
main menu and the group-buy closing notices.
Also the /orders screen itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.menu import with_back
from handlers.views.pickup import FOR_WHOM
from handlers.views.review import stars_row
from handlers.views.text import (
    N_,
    CallbackId,
    HandlerSettings,
    esc,
    esc_name,
    format_money,
)
from models.groupbuy import GROUPBUY_CANCELLED, GROUPBUY_FAILED, GROUPBUY_OPEN
from models.order import (
    ORDER_AWAITING_PAYMENT,
    ORDER_CANCELLED,
    ORDER_EXPIRED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_RESERVED,
)
from models.product import PAYMENT_TELEGRAM
from models.trial import PAYMENT_TRIAL
from services.member import MemberView
from services.myorders import (
    ACTION_CANCEL,
    ACTION_CODE,
    ACTION_FOR,
    ACTION_PAY,
    ACTION_POINT,
    ACTION_REVIEW,
    ACTION_TICKET,
    KIND_PLACE,
    MyOrder,
    MyOrdersPage,
    my_orders,
)
from services.pickup import PointView
from services.zones import member_zone, private_zone, show


class MyOrderAction(StrEnum):
    """What a button of a member's own orders does; those an order offers come from
    services.myorders."""

    OPEN = "open"  # the list, as a new message
    PAGE = "page"  # turn to `value` in place
    PAY = ACTION_PAY
    CANCEL = ACTION_CANCEL  # `value`: the offset of the page it was on, shown again once done
    LEAVE = "leave"  # a group-buy place: `id` is the group-buy
    REVIEW = ACTION_REVIEW  # ask for stars
    RATE = "rate"  # `value` stars
    CODE = ACTION_CODE  # the pickup code's QR code
    POINT = ACTION_POINT  # the points to choose from
    PICK = "pick"  # `value`: the point
    TICKET = ACTION_TICKET
    FOR = ACTION_FOR  # say whom it is for
    FOR_ME = "for_me"  # clear whom it is for


class MyOrderCallback(CallbackData, prefix="my"):
    """A button of a member's own orders."""

    action: MyOrderAction
    id: CallbackId = 0  # the order's number (the group-buy's for leave)
    value: CallbackId = 0


HEADER = N_("📦 <b>Your orders</b> · {first}–{last} of {total}")
EMPTY = N_(
    "You have no orders yet. Join a group-buy with the buttons on its card in your group, or "
    "order in the group with /buy; your orders, their pickup and payment then show up here."
)
# an order's status in words, as its member reads it
ORDER_STATUS = {
    ORDER_RESERVED: N_("to pay at pickup"),
    ORDER_AWAITING_PAYMENT: N_("waiting for your payment"),
    ORDER_PAID: N_("paid, ready for pickup"),
    ORDER_FULFILLED: N_("picked up"),
    ORDER_CANCELLED: N_("cancelled"),
    ORDER_REFUNDED: N_("refunded"),
    ORDER_EXPIRED: N_("expired unpaid"),
}
UNPAID_ONLINE = N_("not paid yet")  # a Telegram order with no invoice out
PAID_EARLY = N_("paid; the group-buy closes {time}")  # prepaid, not formed yet: no pickup yet
# a group-buy place's status in words
PLACE_STATUS = {
    GROUPBUY_OPEN: N_("joined; the group-buy closes {time}"),
    GROUPBUY_FAILED: N_("the group-buy did not form; nothing to pay"),
    GROUPBUY_CANCELLED: N_("the group-buy was cancelled; nothing to pay"),
}
PLACE_CLOSING = N_("the group-buy is closing")
BUTTONS = {
    ACTION_PAY: N_("💳 Pay #{id}"),
    ACTION_CANCEL: N_("❌ Cancel #{id}"),
    ACTION_REVIEW: N_("⭐ Review #{id}"),
    ACTION_CODE: N_("🔳 Pickup code #{id}"),
    ACTION_POINT: N_("📍 Choose pickup point #{id}"),
    ACTION_TICKET: N_("🛟 Problem with #{id}"),
    ACTION_FOR: N_("👤 For someone else #{id}"),
}
LEAVE_BUTTON = N_("❌ Leave group-buy #{id}")


def pay_keyboard(i18n: I18n, locale: str, order_id: int) -> InlineKeyboardMarkup:
    """One Pay button for an order whose payment is due (a fresh invoice when tapped)."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=i18n.gettext(BUTTONS[ACTION_PAY], locale=locale).format(id=order_id),
        callback_data=MyOrderCallback(action=MyOrderAction.PAY, id=order_id),
    )
    return builder.as_markup()


@dataclass(frozen=True, slots=True)
class Reader:
    """Whose clock the times are shown on: the member's own zone (None: they set none), and
    the fallback for what happened outside any group (their home group's, else the brand's)."""

    timezone: str | None
    default: str

    def moment(self, item: MyOrder, moment: datetime) -> str:
        """In the member's zone; without one, in the group's zone, named."""
        zone = member_zone(self.timezone, item.timezone, self.default)
        return show(moment, zone, reader=self.timezone, pattern="%m-%d %H:%M")


PAID_TO_DELIVER = N_("paid, to be delivered")


def _status(i18n: I18n, locale: str, item: MyOrder, reader: Reader) -> str:
    if item.kind == KIND_PLACE:
        template = PLACE_STATUS.get(item.status, PLACE_CLOSING)
        when = reader.moment(item, item.deadline) if item.deadline else ""
        return i18n.gettext(template, locale=locale).format(time=when)
    if item.status == ORDER_PAID and item.deadline is not None:
        return i18n.gettext(PAID_EARLY, locale=locale).format(
            time=reader.moment(item, item.deadline)
        )
    if item.status == ORDER_RESERVED and item.payment_mode == PAYMENT_TELEGRAM:
        return i18n.gettext(UNPAID_ONLINE, locale=locale)
    if item.status == ORDER_PAID and item.delivery_state:  # delivered, never picked up
        return i18n.gettext(PAID_TO_DELIVER, locale=locale)
    return i18n.gettext(ORDER_STATUS.get(item.status, item.status), locale=locale)


def item_text(i18n: I18n, locale: str, item: MyOrder, reader: Reader) -> str:
    """One order or place: number, product, quantity, amount, status, pickup, deadline (the
    product and pickup in the reader's language when given in it)."""
    item = item.in_language(locale, i18n.default_locale)
    gettext = i18n.gettext
    money = format_money(item.amount, item.currency, locale)
    if item.payment_mode == PAYMENT_TRIAL:  # a trial ambassador's order: nothing to pay
        money = gettext(N_("🎁 free trial"), locale=locale)
    if item.kind == KIND_PLACE:
        head = gettext(
            N_("<b>Group-buy #{id}</b> {title} ×{quantity} · {amount} so far"), locale=locale
        )
    else:
        head = gettext(N_("<b>#{id}</b> {title} ×{quantity} · {amount}"), locale=locale)
    lines = [
        head.format(id=item.id, title=esc_name(item.title), quantity=item.quantity, amount=money),
        "   " + _status(i18n, locale, item, reader),
    ]
    if item.for_whom:
        lines.append("   " + gettext(FOR_WHOM, locale=locale).format(name=esc_name(item.for_whom)))
    if item.expires_at is not None:
        lines.append(
            "   "
            + gettext(N_("held until {time}"), locale=locale).format(
                time=reader.moment(item, item.expires_at)
            )
        )
    if item.pickup_code:
        lines.append(
            "   "
            + gettext(N_("Pickup code: <code>{code}</code>"), locale=locale).format(
                code=item.pickup_code
            )
        )
    if item.delivery_state:
        lines.append("   " + delivery_line(i18n, locale, item))
    if item.point_name:
        lines.append("   " + point_line(i18n, locale, item.point_name, item.point_address))
        if item.point_hours:
            lines.append(
                "   "
                + gettext(N_("Opening hours: {hours}"), locale=locale).format(
                    hours=esc(item.point_hours)
                )
            )
    elif item.pickup_point:
        lines.append(
            "   "
            + gettext(N_("Pickup: {place}"), locale=locale).format(place=esc(item.pickup_point))
        )
    if item.pickup_time:
        lines.append(
            "   "
            + gettext(N_("Pickup time: {time}"), locale=locale).format(time=esc(item.pickup_time))
        )
    return "\n".join(lines)


# where a delivered order stands, as its member reads it in My orders
DELIVERY_STATES = {
    "address_in_invoice": N_("🚚 Delivery: the invoice asks your address"),
    "address_needed": N_("🚚 Delivery: send me your address with /address {id}"),
    "address_given": N_("🚚 Delivery: address given, not shipped yet"),
    "shipped": N_("🚚 Shipped: {carrier}, tracking number {tracking}"),
    "delivered": N_("🚚 Delivered ({carrier}, {tracking})"),
}


def delivery_line(i18n: I18n, locale: str, item: MyOrder) -> str:
    """Where a delivered order stands: address needed or given, shipped, delivered."""
    return i18n.gettext(DELIVERY_STATES[item.delivery_state], locale=locale).format(
        id=item.id, carrier=esc(item.carrier), tracking=esc(item.tracking_number)
    )


def point_line(i18n: I18n, locale: str, name: str, address: str) -> str:
    """A pickup point as one line: its name, and its address when it has one."""
    if address:
        return i18n.gettext(N_("Pickup point: {name}, {address}"), locale=locale).format(
            name=esc(name), address=esc(address)
        )
    return i18n.gettext(N_("Pickup point: {name}"), locale=locale).format(name=esc(name))


def page_text(i18n: I18n, locale: str, page: MyOrdersPage, reader: Reader) -> str:
    """The page: a header saying which of how many, then one block per order."""
    if not page.items:
        return i18n.gettext(EMPTY, locale=locale)
    header = i18n.gettext(HEADER, locale=locale).format(
        first=page.offset + 1, last=page.offset + len(page.items), total=page.total
    )
    blocks = [item_text(i18n, locale, item, reader) for item in page.items]
    return "\n\n".join([header, *blocks])


def page_keyboard(i18n: I18n, locale: str, page: MyOrdersPage) -> InlineKeyboardMarkup:
    """A row of buttons per order that needs something, each naming it; then the pages' Back
    and More (the arrows of every list), and ⬅️ Back to the main menu."""
    builder = InlineKeyboardBuilder()
    rows: list[int] = []
    for item in page.items:
        count = 0
        for action in item.actions:
            if item.kind == KIND_PLACE:
                text = i18n.gettext(LEAVE_BUTTON, locale=locale)
                data = MyOrderCallback(action=MyOrderAction.LEAVE, id=item.id, value=page.offset)
            else:
                text = i18n.gettext(BUTTONS[action], locale=locale)
                data = MyOrderCallback(action=MyOrderAction(action), id=item.id, value=page.offset)
            builder.button(text=text.format(id=item.id), callback_data=data)
            count += 1
        if count:
            rows.append(count)
    paging = 0
    if page.offset > 0:
        builder.button(
            text=i18n.gettext(N_("◀️ Previous"), locale=locale),
            callback_data=MyOrderCallback(
                action=MyOrderAction.PAGE, value=max(0, page.offset - page.limit)
            ),
        )
        paging += 1
    if page.has_more:
        builder.button(
            text=i18n.gettext(N_("More ▶️"), locale=locale),
            callback_data=MyOrderCallback(
                action=MyOrderAction.PAGE, value=page.offset + page.limit
            ),
        )
        paging += 1
    if paging:
        rows.append(paging)
    builder.adjust(*rows)
    with i18n.use_locale(locale):
        return with_back(builder)


def points_keyboard(order_id: int, points: list[PointView]) -> InlineKeyboardMarkup:
    """A button per pickup point the order can be collected at."""
    builder = InlineKeyboardBuilder()
    for point in points:
        builder.button(
            text=f"📍 {point.name}",
            callback_data=MyOrderCallback(action=MyOrderAction.PICK, id=order_id, value=point.id),
        )
    builder.adjust(1)
    return builder.as_markup()


def stars_keyboard(order_id: int) -> InlineKeyboardMarkup:
    """Five buttons, one to five stars, rating the order."""
    return stars_row(
        lambda stars: MyOrderCallback(action=MyOrderAction.RATE, id=order_id, value=stars)
    )


async def orders_screen(
    session: AsyncSession,
    i18n: I18n,
    locale: str,
    member: MemberView,
    settings: HandlerSettings,
    now: datetime,
    offset: int = 0,
) -> tuple[str, InlineKeyboardMarkup]:
    """The page of the member's orders at `offset` with its buttons, as /orders and the menu's
    📦 My orders show it."""
    page = await my_orders(session, member_id=member.id, now=now, offset=offset)
    # an order outside any group is shown on the member's home group's clock, else the brand's
    home = await private_zone(
        session, member_id=member.id, own=None, default=settings.default_timezone
    )
    reader = Reader(member.timezone, home)
    return page_text(i18n, locale, page, reader), page_keyboard(i18n, locale, page)
