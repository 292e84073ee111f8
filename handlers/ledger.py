"""Members see their points and commission (/wallet); staff export the ledger (/export)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.labels import TRANSACTION_KIND, label
from handlers.views.perks import points_text
from handlers.views.stats import staff_period
from handlers.views.text import HandlerSettings, counted, esc, format_money
from models.base import Clock
from models.ledger import (
    ACCOUNT_COMMISSION_PAID_OUT,
    ACCOUNT_CUSTOMER_PAYABLE,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_LEADER_CASH,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_COMMISSION,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_POINTS,
    POINTS,
)
from services.cash import TX_CASH_COLLECTED
from services.export import export_csv
from services.ledger import AccountRef, balances_of_owner, movements
from services.member import MemberView
from services.role import Role
from services.zones import private_zone

router = Router(name="ledger")


def format_amount(amount: int, asset: str, locale: str) -> str:
    if asset == POINTS:
        return points_text(amount, locale)
    return format_money(amount, asset, locale)


def signed(amount: int, asset: str, locale: str) -> str:
    sign = "+" if amount > 0 else "−"
    return sign + format_amount(abs(amount), asset, locale)


WALLET_MOVES = 10  # the newest movements /wallet shows; the rest are in /points all, /statement


@router.message(Command("wallet"), PRIVATE)
async def wallet(
    message: Message, session: AsyncSession, member: MemberView, settings: HandlerSettings
) -> None:
    """Shows the member's points, commission and last movements in their locale."""
    locale = member.locale
    points = AccountRef(ACCOUNT_MEMBER_POINTS, member.id)
    commission = AccountRef(ACCOUNT_MEMBER_COMMISSION, member.id)
    leader = AccountRef(ACCOUNT_LEADER_COMMISSION, member.id)
    pending = AccountRef(ACCOUNT_LEADER_COMMISSION_PENDING, member.id)
    referral_pending = AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, member.id)
    payable = AccountRef(ACCOUNT_CUSTOMER_PAYABLE, member.id)
    held = await balances_of_owner(
        session,
        member.id,
        [
            *(a.kind for a in (points, commission, leader, pending, referral_pending, payable)),
            ACCOUNT_COMMISSION_PAID_OUT,
            ACCOUNT_LEADER_CASH,
        ],
    )
    point_balance = held.get(points.kind, {}).get(POINTS, 0)
    lines = [
        _("<b>Your wallet</b>"),
        _("Points: {points}").format(points=format_decimal(point_balance, locale=locale)),
    ]
    lines += _balance_lines(held, locale)
    paid = AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, member.id)
    recent = await movements(
        session,
        [points, commission, leader, pending, referral_pending, paid],
        limit=WALLET_MOVES + 1,  # one more than shown: whether there are older ones
        # the cash the member gave a leader clears what they owed: one line, "Order paid", is
        # the member's side of it
        skip_kinds=(TX_CASH_COLLECTED,),
    )
    zone = ZoneInfo(
        await private_zone(
            session, member_id=member.id, own=member.timezone, default=settings.default_timezone
        )
    )
    older = len(recent) > WALLET_MOVES
    recent = recent[:WALLET_MOVES]
    if recent:
        lines += ["", _("Recent movements:")]
        for _account, move in recent:
            when = move.created_at.astimezone(zone).strftime("%Y-%m-%d")
            text = esc(label(TRANSACTION_KIND, move.kind))
            lines.append(f"{when}  {signed(move.amount, move.asset, locale)}  {text}")
        if older:
            lines.append(
                _(
                    "These are the {count} newest. Every points movement: /points all; "
                    "a leader's commission and cash: /statement."
                ).format(count=WALLET_MOVES)
            )
    else:
        lines += ["", _("No movements yet. Join a group-buy or check in to earn points.")]
    await message.answer("\n".join(lines))


def _balance_lines(held: dict[str, dict[str, int]], locale: str) -> list[str]:
    """The wallet's money lines: commission earned, pending and paid out, cash to hand over,
    refunds owed; each asset on its own line, the empty ones left out."""
    lines: list[str] = []
    earned: dict[str, int] = {}
    for kind in (ACCOUNT_MEMBER_COMMISSION, ACCOUNT_LEADER_COMMISSION):
        for asset, value in held.get(kind, {}).items():
            earned[asset] = earned.get(asset, 0) + value
    for asset, value in sorted(earned.items()):
        if value:
            lines.append(
                _("Commission earned: {amount}").format(amount=format_money(value, asset, locale))
            )
    waiting: dict[str, int] = {}
    for kind in (ACCOUNT_LEADER_COMMISSION_PENDING, ACCOUNT_MEMBER_COMMISSION_PENDING):
        for asset, value in held.get(kind, {}).items():
            waiting[asset] = waiting.get(asset, 0) + value
    for asset, value in sorted(waiting.items()):
        if value > 0:
            lines.append(
                _("Commission pending (released after the refund window): {amount}").format(
                    amount=format_money(value, asset, locale)
                )
            )
    for asset, value in sorted(held.get(ACCOUNT_COMMISSION_PAID_OUT, {}).items()):
        if value > 0:
            lines.append(
                _("Commission paid out to you: {amount}").format(
                    amount=format_money(value, asset, locale)
                )
            )
    for asset, value in sorted(held.get(ACCOUNT_LEADER_CASH, {}).items()):
        if value < 0:
            lines.append(
                _("Cash you collected for the brand, to hand over (/handover): {amount}").format(
                    amount=format_money(-value, asset, locale)
                )
            )
    for asset, value in sorted(held.get(ACCOUNT_CUSTOMER_PAYABLE, {}).items()):
        if value > 0:
            lines.append(
                _("Refunds owed to you: {amount}").format(amount=format_money(value, asset, locale))
            )
    return lines


@router.message(Command("export"), PRIVATE, RoleFilter(Role.STAFF, "ledger.export"))
async def export(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Sends the ledger entries of a date range as a CSV document."""
    period = await staff_period(
        message,
        command.args,
        member,
        settings,
        clock,
        _(
            "I could not read that date range. Send /export for the last 30 days, "
            "/export 7d, or /export 2026-11-01 2026-11-30."
        ),
    )
    if period is None:
        return
    (entries, entry_count), (orders, order_count) = await export_csv(session, period=period)
    span = f"{period.first.isoformat()}_{period.last.isoformat()}"
    first, last = period.first.isoformat(), period.last.isoformat()
    await message.answer_document(
        BufferedInputFile(entries, filename=f"ledger_{span}.csv"),
        caption=_("Ledger entries from {first} to {last}: {rows}.").format(
            first=first, last=last, rows=counted("row", entry_count)
        ),
    )
    await message.answer_document(
        BufferedInputFile(orders, filename=f"orders_{span}.csv"),
        caption=_("Orders from {first} to {last}: {rows}.").format(
            first=first, last=last, rows=counted("row", order_count)
        ),
    )
