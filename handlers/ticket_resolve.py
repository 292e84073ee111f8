"""Closing an after-sales ticket: /ticket_refund, /ticket_coupon (staff), /ticket_reship and
/ticket_decline; the member is told how it was resolved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.order import REFUND_BOOKED, refund_part
from handlers.views.text import (
    N_,
    BackgroundSender,
    CommitHook,
    HandlerSettings,
    RefundWaker,
    format_money,
    later,
)
from handlers.views.ticket import (
    closed_text,
    handles_tickets,
    tell_member,
    ticket_error_text,
    ticket_for,
)
from models.ticket import RESOLVED_DECLINED, RESOLVED_RESHIP
from services.member import MemberView
from services.order import get_order
from services.role import Role
from services.ticket import (
    AS_LEADER,
    AS_STAFF,
    Resolved,
    TicketError,
    TicketView,
    resolve_coupon,
    resolve_plain,
    resolve_refund,
    ticket_role,
)
from services.validation import number

router = Router(name="ticket_resolve")


async def _resolved(
    message: Message,
    session: AsyncSession,
    i18n: I18n,
    notifier: BackgroundSender,
    resolved: Resolved,
    currency: str,
) -> None:
    """Tell the member how their ticket ended, and the staff member or leader who closed it;
    a refund owed (paid back by hand) says so to both, as /refund does."""
    ticket = resolved.ticket
    owed = resolved.refund is not None and resolved.refund.star_charge_id is None

    def member_text(locale: str) -> str:
        text = closed_text(ticket, currency, locale)
        if owed:
            text += "\n" + _(REFUND_BOOKED).format(
                order=ticket.order_id, amount=format_money(ticket.amount, currency, locale)
            )
        return text

    await tell_member(session, i18n, notifier, ticket, member_text)
    reply = (
        _("Ticket #{id} closed; the member is told:").format(id=ticket.id)
        + "\n"
        + closed_text(ticket, currency, i18n.current_locale)
    )
    if owed:
        reply += "\n" + _(
            "Refund of {amount} for order #{id} booked; the ledger shows it as owed to the "
            "member. Once they have their money back, send /refund_paid {id}. The group's "
            "leader may pay it from the cash they hold and send /refund_paid {id} in the group."
        ).format(
            amount=format_money(ticket.amount, currency, i18n.current_locale), id=ticket.order_id
        )
    await message.answer(reply)


async def _close(
    message: Message,
    session: AsyncSession,
    i18n: I18n,
    notifier: BackgroundSender,
    resolving: Awaitable[Resolved],
    currency: str,
    *,
    after_commit: CommitHook | None = None,
    refunder: RefundWaker | None = None,
) -> None:
    """Close the ticket as `resolving` does (a refusal is answered instead), then tell the
    member and the closer; a refund in Stars wakes the refunder, which sends the Stars back
    once committed."""
    try:
        resolved = await resolving
    except TicketError as exc:
        await message.answer(ticket_error_text(exc))
        return
    stars = resolved.refund is not None and resolved.refund.star_charge_id is not None
    if stars and after_commit is not None and refunder is not None:
        after_commit.add(later(refunder.wake))
    await _resolved(message, session, i18n, notifier, resolved, currency)


async def _staff_ticket(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    word: str,
    action: str,
    now: datetime,
    *,
    leaders_too: bool,
) -> TicketView | None:
    found = await ticket_for(message, session, member, settings, word, action, now)
    if found is None:
        return None
    ticket, role = found
    if role == AS_STAFF or (leaders_too and role == AS_LEADER):
        return ticket
    if role == AS_LEADER:
        await message.answer(_("Only the brand's staff can give money or coupons back."))
    else:
        await message.answer(_("Only the brand's staff or your leader can close a ticket."))
    return None


@router.message(Command("ticket_refund"), PRIVATE, RoleFilter(Role.STAFF, "ticket.refund"))
async def refund_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    i18n: I18n,
    notifier: BackgroundSender,
    refunder: RefundWaker,
    after_commit: CommitHook,
    clock: Callable[[], datetime],
) -> None:
    """Closes a ticket with a refund: /ticket_refund ID [AMOUNT] (the rest of the order when
    no amount)."""
    words = (command.args or "").split()
    if not words or len(words) > 2 or number(words[0]) is None:
        await message.answer(
            _(
                "Send /ticket_refund TICKET_ID for a refund of what is left paid on the order, "
                "or /ticket_refund TICKET_ID AMOUNT for part of it, for example "
                "/ticket_refund 3 10.50."
            )
        )
        return
    ticket = await _staff_ticket(
        message, session, member, settings, words[0], "ticket.refund", clock(), leaders_too=False
    )
    if ticket is None:
        return
    order = await get_order(session, ticket.order_id)
    assert order is not None
    given, amount = await refund_part(
        message, words, order.currency, locale=locale, ceiling=settings.max_order_amount
    )
    if not given:
        return
    resolving = resolve_refund(
        session,
        ticket_id=ticket.id,
        actor_id=member.id,
        amount=amount,
        tier_currency=settings.tier_measure,
        now=clock(),
    )
    await _close(
        message,
        session,
        i18n,
        notifier,
        resolving,
        order.currency,
        after_commit=after_commit,
        refunder=refunder,
    )


@router.message(Command("ticket_coupon"), PRIVATE, RoleFilter(Role.STAFF, "ticket.coupon"))
async def coupon_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Closes a ticket with a coupon as compensation (先行赔付): /ticket_coupon ID CODE."""
    words = (command.args or "").split()
    if len(words) != 2 or number(words[0]) is None:
        await message.answer(
            _(
                "Send /ticket_coupon TICKET_ID COUPON_CODE, for example /ticket_coupon 3 SORRY10; "
                "staff make coupons with /coupon_new."
            )
        )
        return
    ticket = await _staff_ticket(
        message, session, member, settings, words[0], "ticket.coupon", clock(), leaders_too=False
    )
    if ticket is None:
        return
    resolving = resolve_coupon(
        session, ticket_id=ticket.id, actor_id=member.id, code=words[1], now=clock()
    )
    await _close(message, session, i18n, notifier, resolving, "")


async def _plain(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    now: datetime,
    resolution: str,
    usage: str,
) -> None:
    words = (command.args or "").split(maxsplit=1)
    if (
        not words
        or number(words[0]) is None
        or (resolution == RESOLVED_DECLINED and len(words) < 2)
    ):
        allowed, _groups = await handles_tickets(
            message, session, member, settings, f"ticket.{resolution}", now
        )
        if allowed:
            await message.answer(usage)
        return
    ticket = await _staff_ticket(
        message, session, member, settings, words[0], f"ticket.{resolution}", now, leaders_too=True
    )
    if ticket is None:
        return
    role = await ticket_role(
        session, ticket=ticket, member_id=member.id, owner_ids=settings.owner_ids
    )
    resolving = resolve_plain(
        session,
        ticket_id=ticket.id,
        actor_id=member.id,
        role=role or AS_STAFF,
        resolution=resolution,
        note=words[1] if len(words) > 1 else "",
        now=now,
    )
    await _close(message, session, i18n, notifier, resolving, "")


# What /ticket_reship and /ticket_decline close a ticket with, and how each is sent.
PLAIN_CLOSES: dict[str, tuple[str, str]] = {
    "ticket_reship": (
        RESOLVED_RESHIP,
        N_(
            "Send /ticket_reship TICKET_ID and, if you like, a note for the member, for "
            "example /ticket_reship 3 a new box is at Shop A from Friday."
        ),
    ),
    "ticket_decline": (
        RESOLVED_DECLINED,
        N_(
            "Send /ticket_decline TICKET_ID and the reason the member reads, for example "
            "/ticket_decline 3 the seal is intact and the tea is as described."
        ),
    ),
}


@router.message(Command("ticket_reship"), PRIVATE)
@router.message(Command("ticket_decline"), PRIVATE)
async def plain_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    i18n: I18n,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
) -> None:
    """Closes a ticket by sending the item again (/ticket_reship ID [NOTE]) or with nothing
    owed, and the reason (/ticket_decline ID REASON)."""
    resolution, usage = PLAIN_CLOSES[command.command]
    await _plain(
        message,
        command,
        session,
        member,
        settings,
        i18n,
        notifier,
        clock(),
        resolution,
        _(usage),
    )
