"""A leader's statement (对账单) as people read it: a few lines per currency, in the reader's
locale, for the /statement reply and the dashboard's statement page (both attach the CSV)."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from handlers.views.text import esc, esc_name, format_money
from services.statement import Statement


def statement_lines(statement: Statement, name: str, locale: str) -> list[str]:
    """The statement in short (HTML, escaped): the heading, then each currency's figures."""

    def number(value: int | None) -> str:
        return format_decimal(value or 0, locale=locale)

    period = statement.period
    lines = [
        _("<b>Statement of {name}</b>, {first} to {last}").format(
            name=esc_name(name), first=period.first.isoformat(), last=period.last.isoformat()
        )
    ]
    if not statement.totals:
        lines.append(_("Nothing in this period: no group-buys, orders, cash or commission."))
        return lines
    for line in statement.totals:
        f = line.figures

        def money(value: int | None, currency: str = line.currency) -> str:
            return format_money(value or 0, currency, locale)

        if len(statement.totals) > 1:
            lines.append(f"<b>{esc(line.currency)}</b>")
        lines.append(
            _("Group-buys: {run} run, {formed} formed, {failed} failed or cancelled").format(
                run=number(f.groupbuys_run),
                formed=number(f.groupbuys_formed),
                failed=number((f.groupbuys_failed or 0) + (f.groupbuys_cancelled or 0)),
            )
        )
        lines.append(
            _("Orders: {placed} placed, {paid} paid ({amount}), {picked} picked up").format(
                placed=number(f.orders_placed),
                paid=number(f.orders_paid),
                amount=money(f.paid),
                picked=number(f.orders_picked_up),
            )
        )
        lines.append(
            _(
                "Cash: {collected} collected, {handed} handed over, {netted} kept from payouts; "
                "owed {opening} at the start, {owed} at the end"
            ).format(
                collected=money(f.cash_collected),
                handed=money(f.cash_handed_over),
                netted=money(f.cash_netted),
                owed=money(f.cash_owed_closing),
                opening=money(f.cash_owed_opening),
            )
        )
        if f.cash_refunded:
            lines.append(
                _("Refunds paid back to members out of the cash: {amount}").format(
                    amount=money(f.cash_refunded)
                )
            )
        lines.append(
            _(
                "Commission: {earned} earned, {reversed} taken back by refunds, {released} "
                "released, {paid} paid out"
            ).format(
                earned=money(f.commission_earned),
                reversed=money(f.commission_reversed),
                released=money(f.commission_released),
                paid=money(f.commission_paid_out),
            )
        )
        lines.append(
            _(
                "Commission pending: {pending_start} at the start, {pending_end} at the end; "
                "to pay out: {ready_start} at the start, {ready_end} at the end"
            ).format(
                pending_start=money(f.commission_pending_opening),
                pending_end=money(f.commission_pending_closing),
                ready_start=money(f.commission_available_opening),
                ready_end=money(f.commission_available_closing),
            )
        )
    lines.append(_("The CSV has every figure, and a row for each group-buy."))
    return lines
