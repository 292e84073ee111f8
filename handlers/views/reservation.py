"""Pay-at-pickup reservations as members read them: the deadline, the reminder before it, the
notice once it passed, and the list with its cancel buttons. Shared by the order and
reservation routers and the reservation sweep (bot/reservations.py).
Also why a reservation could not be cancelled (/reservations and /myorders)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import (
    N_,
    CallbackId,
    HandlerSettings,
    counted,
    esc_name,
    format_money,
)
from services.order import OrderRefusal, OrderView
from services.reservation import ReservationRules
from services.zones import show

HELD_UNTIL = N_("Held for you until {time}; if it is still unpaid then, it is released.")
REMINDER = N_(
    "Reminder: your reservation #{id} ({title} ×{quantity}, {total}) expires at {time}. "
    "Pay your leader at pickup before then; once they mark it paid, it is yours. "
    "No longer need it? Cancel it below so that someone else can have it."
)
EXPIRED = N_(
    "Your reservation #{id} ({title} ×{quantity}) was not paid by {time}, so it has expired "
    "and its stock is back on sale. Still want it? Order again with /buy {product} {quantity}."
)
EXPIRED_NO_PRODUCT = N_(
    "Your reservation #{id} ({title} ×{quantity}) was not paid by {time}, so it has expired."
)
CAP_REACHED = N_(
    "You already hold {reservations} waiting for payment at pickup, the most one member "
    "may hold at once:"
)
CAP_HINT = N_(
    "Pay one at pickup, or cancel one you no longer need, then order again. "
    "/reservations lists them."
)
CANCEL_BUTTON = N_("❌ Cancel #{id}")


class ReservationCallback(CallbackData, prefix="rsv"):
    """A member's button to cancel one of their own reservations."""

    order_id: CallbackId


def reservation_rules(settings: HandlerSettings) -> ReservationRules:
    """The reservation rules as configured (RESERVATION_HOURS, _CAP, _REMINDER_HOURS)."""
    return ReservationRules(
        hold=timedelta(hours=settings.reservation_hours) if settings.reservation_hours else None,
        cap=settings.reservation_cap,
        remind_before=(
            timedelta(hours=settings.reservation_reminder_hours)
            if settings.reservation_reminder_hours
            else None
        ),
    )


def local_moment(moment: datetime, timezone: str) -> str:
    """A moment as the reader's clock shows it, like 12-07 14:00."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def named_moment(moment: datetime, timezone: str, reader: str | None) -> str:
    """A moment on the clock of `timezone`, like 12-07 14:00, followed by the zone's name when
    it is not the reader's own (12-07 14:00 Asia/Shanghai)."""
    return show(moment, timezone, reader=reader, pattern="%m-%d %H:%M")


def held_until_text(
    i18n: I18n, locale: str, order: OrderView, timezone: str, reader: str | None
) -> str:
    """The line under a new reservation saying until when it is held ('' when for ever)."""
    if order.expires_at is None:
        return ""
    return i18n.gettext(HELD_UNTIL, locale=locale).format(
        time=named_moment(order.expires_at, timezone, reader)
    )


def reservation_line(
    i18n: I18n, locale: str, order: OrderView, timezone: str, reader: str | None
) -> str:
    """One reservation in a list: number, product (in the reader's language), total and
    deadline."""
    order = order.in_language(locale, i18n.default_locale)
    line = (
        f"#{order.id} {esc_name(order.title)} ×{order.quantity} · "
        f"{format_money(order.total, order.currency, locale)}"
    )
    if order.expires_at is not None:
        line += " · " + i18n.gettext(N_("until {time}"), locale=locale).format(
            time=named_moment(order.expires_at, timezone, reader)
        )
    return line


def cancel_keyboard(i18n: I18n, locale: str, orders: list[OrderView]) -> InlineKeyboardMarkup:
    """One cancel button per reservation."""
    builder = InlineKeyboardBuilder()
    for order in orders:
        builder.button(
            text=i18n.gettext(CANCEL_BUTTON, locale=locale).format(id=order.id),
            callback_data=ReservationCallback(order_id=order.id),
        )
    builder.adjust(2)
    return builder.as_markup()


def reminder_text(
    i18n: I18n, locale: str, order: OrderView, timezone: str, reader: str | None
) -> str:
    """The member's one reminder before the reservation expires."""
    order = order.in_language(locale, i18n.default_locale)
    assert order.expires_at is not None
    return i18n.gettext(REMINDER, locale=locale).format(
        id=order.id,
        title=esc_name(order.title),
        quantity=order.quantity,
        total=format_money(order.total, order.currency, locale),
        time=named_moment(order.expires_at, timezone, reader),
    )


def expired_text(
    i18n: I18n, locale: str, order: OrderView, timezone: str, reader: str | None
) -> str:
    """The member's notice that the reservation expired and what to do to get it still."""
    order = order.in_language(locale, i18n.default_locale)
    assert order.expires_at is not None
    template = EXPIRED if order.product_id is not None else EXPIRED_NO_PRODUCT
    return i18n.gettext(template, locale=locale).format(
        id=order.id,
        title=esc_name(order.title),
        quantity=order.quantity,
        time=named_moment(order.expires_at, timezone, reader),
        product=order.product_id,
    )


def cap_text(
    i18n: I18n, locale: str, held: list[OrderView], timezone: str, reader: str | None
) -> str:
    """Why /buy was refused: the reservations the member holds, and what to do."""
    with i18n.use_locale(locale):
        reservations = counted("reservation", len(held))
    lines = [i18n.gettext(CAP_REACHED, locale=locale).format(reservations=reservations)]
    lines += [reservation_line(i18n, locale, order, timezone, reader) for order in held]
    lines.append(i18n.gettext(CAP_HINT, locale=locale))
    return "\n".join(lines)


CANCEL_ERRORS: dict[str, str] = {
    OrderRefusal.NOT_YOURS: N_("That is not your reservation."),
    OrderRefusal.EXPIRED: N_("That reservation has already expired; its stock is back on sale."),
    OrderRefusal.NOT_RESERVED: N_(
        "That order is no longer waiting for payment at pickup, so there is nothing to cancel."
    ),
    OrderRefusal.CHANGED_MEANWHILE: N_("Someone changed that order just now. Please look again."),
}


CANNOT_CANCEL = N_("That cannot be done with this order.")


def cancel_error_text(reason: str) -> str:
    return _(CANCEL_ERRORS.get(reason, CANNOT_CANCEL))
