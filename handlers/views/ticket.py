"""What people read about after-sales tickets: the kinds, a ticket, the queue, the notices;
shared by the ticket routers and the scheduler's escalation job. Also what the two ticket
routers share in handling: who may work on a ticket (audited) and telling its member."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from aiogram.enums import ChatType
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import refusal_text
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import N_, BackgroundSender, HandlerSettings, counted, esc, format_money
from models.ticket import (
    ESCALATED_RESOLVE,
    RESOLVED_COUPON,
    RESOLVED_DECLINED,
    RESOLVED_REFUND,
    RESOLVED_RESHIP,
    TICKET_CLOSED,
    TICKET_DAMAGED,
    TICKET_EXCHANGE,
    TICKET_MISSING,
    TICKET_OPEN,
    TICKET_QUALITY,
    TICKET_REFUND,
    TICKET_WRONG,
)
from services.audit import record_action
from services.member import MemberView, get_member
from services.order import OrderView
from services.role import Role, is_staff, led_communities
from services.ticket import (
    AS_MEMBER,
    MessageView,
    TicketError,
    TicketRefusal,
    TicketView,
    get_ticket,
    ticket_role,
)
from services.validation import number
from services.zones import show


class TicketAction(StrEnum):
    OPEN = "open"


class TicketKind(StrEnum):
    """The problem a ticket button opens: models.ticket's TICKET_KINDS, in their order."""

    MISSING = TICKET_MISSING
    DAMAGED = TICKET_DAMAGED
    WRONG = TICKET_WRONG
    QUALITY = TICKET_QUALITY
    REFUND = TICKET_REFUND
    EXCHANGE = TICKET_EXCHANGE


class TicketCallback(CallbackData, prefix="tk"):
    """A button about a ticket: open (`id` the order, `kind` the problem)."""

    action: TicketAction
    id: int = 0
    kind: TicketKind


KINDS = {
    TICKET_MISSING: N_("Missing item"),
    TICKET_DAMAGED: N_("Damaged"),
    TICKET_WRONG: N_("Wrong item"),
    TICKET_QUALITY: N_("Quality problem"),
    TICKET_REFUND: N_("Want a refund"),
    TICKET_EXCHANGE: N_("Want an exchange"),
}
STATUSES = {
    TICKET_OPEN: N_("open"),
    TICKET_CLOSED: N_("closed"),
}
RESOLUTIONS = {
    RESOLVED_REFUND: N_("refund"),
    RESOLVED_RESHIP: N_("reship"),
    RESOLVED_COUPON: N_("coupon"),
    RESOLVED_DECLINED: N_("declined"),
}
ERRORS: dict[str, str] = {
    TicketRefusal.NOT_FOUND: N_("There is no such ticket."),
    TicketRefusal.NOT_YOUR_ORDER: N_(
        "Order #{detail} is not one of your orders. Look at /orders for yours."
    ),
    TicketRefusal.ORDER_NOT_PAID: N_(
        "Order #{detail} is not paid yet: a ticket can be opened once it is paid. To drop an "
        "unpaid order, cancel it in /orders."
    ),
    TicketRefusal.ORDER_REFUNDED: N_("Order #{detail} is already refunded in full."),
    TicketRefusal.ALREADY_OPEN: N_(
        "This order already has an open ticket, #{detail}: add to it with /ticket_say {detail}."
    ),
    TicketRefusal.BAD_KIND: N_(
        "Choose what is wrong: missing, damaged, wrong, quality, refund or exchange."
    ),
    TicketRefusal.TOO_LONG: N_("That is too long: at most {limit}, please."),
    TicketRefusal.NOTE_TOO_LONG: N_("That note is too long: at most {limit}, please."),
    TicketRefusal.EMPTY: N_("Write a message after the ticket number, or send a photo."),
    TicketRefusal.CLOSED: N_("Ticket #{detail} is closed: nothing more can be done on it."),
    TicketRefusal.CHANGED_MEANWHILE: N_(
        "Someone else closed or changed ticket #{detail} just now: see it with /ticket {detail}."
    ),
    TicketRefusal.NO_COUPON: N_(
        "There is no active coupon {detail}. Staff list coupons with /coupon_templates."
    ),
    TicketRefusal.COUPON_EXPIRED: N_("Coupon {detail} has expired: choose another."),
    TicketRefusal.COUPON_LIMIT_REACHED: N_(
        "The member already holds coupon {code} as many times as allowed."
    ),
    TicketRefusal.REASON_NEEDED: N_("Say why the ticket is declined: the member reads it."),
    TicketRefusal.REFUND_TOO_LARGE: N_(
        "That is more than was paid for the order, less what was already refunded: at most "
        "{detail}."
    ),
    TicketRefusal.BAD_AMOUNT: N_("The amount must be more than zero."),
    TicketRefusal.NOT_PAID: N_("That order is not paid, so there is nothing to refund."),
    TicketRefusal.ALREADY_REFUNDED: N_("That order has already been refunded in full."),
}


def ticket_error_text(exc: TicketError) -> str:
    """What to tell about a refused ticket action, naming what to fix."""
    template = ERRORS.get(exc.reason)
    if template is None:
        return _("That cannot be done with this ticket.")
    detail = esc(exc.detail)
    if exc.reason == TicketRefusal.REFUND_TOO_LARGE:
        amount, _sep, currency = exc.detail.partition(" ")
        detail = format_money(int(amount or 0), currency, get_i18n().current_locale)
    limit = counted("character", int(exc.detail)) if exc.detail.isdigit() else ""
    return _(template).format(detail=detail, code=esc(exc.detail), limit=limit)


def kind_text(kind: str) -> str:
    return _(KINDS[kind]) if kind in KINDS else kind


def hours_text(hours: int) -> str:
    return counted("hour", hours)


def kinds_keyboard(order_id: int) -> InlineKeyboardMarkup:
    """A button per kind of problem, opening a ticket on the order."""
    builder = InlineKeyboardBuilder()
    for kind in TicketKind:
        builder.button(
            text=kind_text(kind),
            callback_data=TicketCallback(action=TicketAction.OPEN, id=order_id, kind=kind),
        )
    builder.adjust(2)
    return builder.as_markup()


def _when(moment: datetime, zone: str, reader: str | None) -> str:
    """On the clock of `zone`, the zone named when it is not the reader's own."""
    return show(moment, zone, reader=reader, pattern="%m-%d %H:%M")


def _clock(ticket: TicketView, zone: str, reader: str | None, now: datetime) -> str:
    """The ticket's clock in words: what is due when, or how it ended."""
    if not ticket.is_open:
        return _("closed: {resolution}").format(
            resolution=_(RESOLUTIONS.get(ticket.resolution, ticket.resolution))
        )
    if ticket.answered_at is None:
        text = _("answer due {time}").format(time=_when(ticket.answer_due, zone, reader))
        late = ticket.answer_due <= now
    else:
        text = _("resolution due {time}").format(time=_when(ticket.resolve_due, zone, reader))
        late = ticket.resolve_due <= now
    return "⚠️ " + _("overdue") + " · " + text if late else text


def queue_text(
    tickets: list[TicketView],
    locale: str,
    zone: str,
    now: datetime,
    *,
    own: bool,
    reader: str | None,
) -> str:
    """The queue of open tickets (or the member's own tickets), one line each."""
    if not tickets:
        if own:
            return _("You have no tickets. To report a problem with an order, tap 🛟 in /orders.")
        return _("No open tickets. 🎉")
    lines = [_("🛟 Your tickets") if own else _("🛟 Open tickets, most urgent first")]
    for ticket in tickets:
        lines.append(
            _("#{id} · order #{order} · {kind} · {clock}").format(
                id=ticket.id,
                order=ticket.order_id,
                kind=kind_text(ticket.kind),
                clock=_clock(ticket, zone, reader, now),
            )
        )
    lines.append(_("See one with /ticket ID."))
    return "\n".join(lines)


def new_ticket_text(
    ticket: TicketView, order: OrderView, member: MemberView, locale: str, zone: str
) -> str:
    """The notice to staff and the leader that a ticket was opened."""
    reader = None  # many readers, each on their own clock: the zone is always named
    lines = [
        _("🛟 New ticket #{id} from {member}: order #{order} {title} ×{quantity}, {kind}.").format(
            id=ticket.id,
            member=esc(member.display_name),
            order=order.id,
            title=esc(order.title),
            quantity=order.quantity,
            kind=kind_text(ticket.kind),
        )
    ]
    if ticket.description:
        lines.append(esc(ticket.description))
    lines.append(
        _(
            "First answer due {time}. Answer with /ticket_say {id}; see it with /ticket {id}."
        ).format(time=_when(ticket.answer_due, zone, reader), id=ticket.id)
    )
    return "\n".join(lines)


def said_text(ticket: TicketView, author: str, said: MessageView, role: str) -> str:
    """A message on the ticket, forwarded to the other side."""
    head = (
        _("💬 Ticket #{id}, {name} writes:")
        if role == AS_MEMBER
        else _("💬 Ticket #{id}, {name} answers:")
    ).format(id=ticket.id, name=esc(author))
    body = esc(said.text) if said.text else ""
    if said.photo_file_id:
        body = (body + "\n" if body else "") + _("(a photo: see it with /ticket {id})").format(
            id=ticket.id
        )
    reply = _("Reply with /ticket_say {id}.").format(id=ticket.id)
    return "\n".join(part for part in (head, body, reply) if part)


def closed_text(ticket: TicketView, currency: str, locale: str) -> str:
    """How the ticket ended, as its member reads it."""
    if ticket.resolution == RESOLVED_REFUND:
        return _("✅ Ticket #{id} closed: a refund of {amount} on order #{order}.").format(
            id=ticket.id,
            amount=format_money(ticket.amount, currency, locale),
            order=ticket.order_id,
        )
    if ticket.resolution == RESOLVED_COUPON:
        return _(
            "✅ Ticket #{id} closed: coupon {code} is yours as compensation; see /coupons."
        ).format(id=ticket.id, code=esc(ticket.note))
    if ticket.resolution == RESOLVED_RESHIP:
        text = _("✅ Ticket #{id} closed: order #{order} is sent to you again.").format(
            id=ticket.id, order=ticket.order_id
        )
        return text + ("\n" + esc(ticket.note) if ticket.note else "")
    return _("Ticket #{id} closed without compensation: {reason}").format(
        id=ticket.id, reason=esc(ticket.note)
    )


def ticket_text(
    ticket: TicketView,
    order: OrderView,
    messages: list[MessageView],
    names: dict[int, str],
    locale: str,
    zone: str,
    now: datetime,
    reader: str | None,
) -> str:
    """One ticket with its order, its clock and its messages."""
    lines = [
        _("🛟 Ticket #{id} · {kind}").format(id=ticket.id, kind=kind_text(ticket.kind)),
        _("Order #{order} {title} ×{quantity}, paid {paid}").format(
            order=order.id,
            title=esc(order.title),
            quantity=order.quantity,
            paid=format_money(order.paid_amount, order.currency, locale),
        ),
        _("Opened {time} · {clock}").format(
            time=_when(ticket.opened_at, zone, reader), clock=_clock(ticket, zone, reader, now)
        ),
    ]
    if ticket.description:
        lines.append(esc(ticket.description))
    for said in messages:
        text = esc(said.text) if said.text else _("(a photo)")
        name = esc(names.get(said.author_id, said.author_id))
        lines.append(f"{_when(said.created_at, zone, reader)} {name}: {text}")
    if not ticket.is_open:
        lines.append(closed_text(ticket, order.currency, locale))
    return "\n".join(lines)


def escalated_text(ticket: TicketView, zone: str, reader: str | None) -> str:
    """The notice to every staff member that a ticket's clock ran out."""
    if ticket.escalated == ESCALATED_RESOLVE:
        head = _("⏰ Ticket #{id} is not resolved in time (due {time}).").format(
            id=ticket.id, time=_when(ticket.resolve_due, zone, reader)
        )
    else:
        head = _("⏰ Ticket #{id} has no answer in time (due {time}).").format(
            id=ticket.id, time=_when(ticket.answer_due, zone, reader)
        )
    return (
        head
        + "\n"
        + _("Order #{order}, {kind}. See it with /ticket {id}.").format(
            order=ticket.order_id, kind=kind_text(ticket.kind), id=ticket.id
        )
    )


async def tell_member(
    session: AsyncSession,
    i18n: I18n,
    notifier: BackgroundSender,
    ticket: TicketView,
    render: Callable[[str], str],
) -> None:
    """Tell the ticket's member, in their language, once committed."""
    member = await get_member(session, ticket.member_id)
    if member is None or not member.started:
        return
    with i18n.use_locale(member.locale):
        text = render(member.locale)
    notifier.send(member.id, text)


async def handles_tickets(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    action: str,
    now: datetime,
) -> tuple[bool, frozenset[int] | None]:
    """Whether the member works on tickets (staff, or a leader of a group now), audited, with
    the groups whose tickets they see (None: every group, for staff); anyone else is told the
    polite refusal."""
    staff = member.id in settings.owner_ids or await is_staff(session, member.id)
    groups = None if staff else await led_communities(session, member_id=member.id)
    allowed = staff or bool(groups)
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action=action,
        allowed=allowed,
        now=now,
        required_role=Role.LEADER.name.lower(),
    )
    if not allowed:
        await message.reply(
            refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
    return allowed, groups


async def ticket_for(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    word: str,
    action: str,
    now: datetime,
) -> tuple[TicketView, str] | None:
    """The ticket named by `word` and how the member may act on it; refused and audited when
    they may not (None)."""
    ticket_id = number(word)
    ticket = await get_ticket(session, ticket_id) if ticket_id is not None else None
    if ticket is None:
        await message.answer(_("There is no such ticket."))
        return None
    role = await ticket_role(
        session, ticket=ticket, member_id=member.id, owner_ids=settings.owner_ids
    )
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action=action,
        allowed=role is not None,
        now=now,
        detail=f"ticket #{ticket.id}",
    )
    if role is None:
        await message.answer(_("That ticket is not yours to see."))
        return None
    return ticket, role
