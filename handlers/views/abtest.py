"""What a promotion earned, as staff read it: conversion per arm with its 95% interval, and
the verdict. One renderer for /broadcast_result, /care_result and the report the bot sends
after a broadcast's 48 hours (bot/abtest.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_percent

from handlers.views.perks import points_text
from handlers.views.text import N_, CallbackId, counted, esc, format_amounts, list_text
from models.broadcast import VARIANT_A, VARIANT_B, VARIANT_HOLDOUT
from services.abtest import MIN_ARM, OVERLAP, TOO_FEW, WON, Interval
from services.attribution import ArmResult, PromotionResult

ARM_NAMES = {
    VARIANT_A: N_("Variant A"),
    VARIANT_B: N_("Variant B"),
    VARIANT_HOLDOUT: N_("Hold-out"),
}
PLAIN = N_("Members who got it")  # the one arm of a promotion that is not a test


class ResultCallback(CallbackData, prefix="abr"):
    """📈 Result under a broadcast's status card: its orders within 48 hours."""

    broadcast_id: CallbackId


def result_button(broadcast_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=_("📈 Result #{id}").format(id=broadcast_id),
        callback_data=ResultCallback(broadcast_id=broadcast_id).pack(),
    )


def percent(bps: int, locale: str) -> str:
    """Basis points as a percentage in the reader's locale ("12.5%")."""
    return format_percent(Decimal(bps).scaleb(-4), "#,##0.#%", locale=locale)


def _interval(interval: Interval | None, locale: str) -> str:
    if interval is None:
        return "—"
    return _("interval (95%): {low}–{high}").format(
        low=percent(interval.low, locale), high=percent(interval.high, locale)
    )


def _arm_line(name: str, arm: ArmResult, locale: str, *, test: bool) -> str:
    line = _("{arm}: {converted} of {members} ordered, {rate} ({interval})").format(
        arm=_(ARM_NAMES.get(name, name)) if test else _(PLAIN),
        converted=arm.converted,
        members=counted("member", arm.members),
        rate=percent(arm.arm.bps or 0, locale),
        interval=_interval(arm.arm.interval, locale),
    )
    if arm.orders:
        line += "; " + _("orders: {orders}, paid {amount}").format(
            orders=arm.orders, amount=format_amounts(arm.revenue, locale)
        )
    return line


def arm_rows(result: PromotionResult, locale: str) -> list[tuple[str, str, str, str, str]]:
    """(arm, members, ordered, rate, 95% interval) per arm, as text (not escaped)."""
    rows = []
    for name in (VARIANT_A, VARIANT_B, VARIANT_HOLDOUT):
        arm = result.arms.get(name)
        if arm is None:
            continue
        rows.append(
            (
                _(ARM_NAMES[name]) if result.is_test else _(PLAIN),
                str(arm.members),
                str(arm.converted),
                percent(arm.arm.bps or 0, locale),
                _interval(arm.arm.interval, locale),
            )
        )
    return rows


def verdict_lines(result: PromotionResult) -> list[str]:
    """The verdict, as text (not escaped): which variant won, and against the hold-out."""
    return _verdict_lines(result) if result.is_test and result.arms else []


def _verdict_lines(result: PromotionResult) -> list[str]:
    found = result.verdict
    lines = []
    if VARIANT_B in result.arms and VARIANT_A in result.arms:
        if found.code == WON and found.winner:
            lines.append(
                _("{arm} won: its interval lies wholly above the other's.").format(
                    arm=_(ARM_NAMES[found.winner])
                )
            )
        elif found.code == TOO_FEW:
            lines.append(
                _("Too early to tell: an arm has fewer than {members}.").format(
                    members=counted("member", MIN_ARM)
                )
            )
        elif found.code == OVERLAP:
            lines.append(_("Too early to tell: the intervals overlap."))
    if VARIANT_HOLDOUT in result.arms:
        if found.beat_holdout:
            lines.append(
                _("Did better than the hold-out: {arms}.").format(
                    arms=list_text(_(ARM_NAMES[v]) for v in found.beat_holdout)
                )
            )
        if found.holdout_unclear:
            lines.append(
                _("Too early to tell against the hold-out: {arms}.").format(
                    arms=list_text(_(ARM_NAMES[v]) for v in found.holdout_unclear)
                )
            )
    return lines


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def result_text(result: PromotionResult, *, locale: str, zone: str, now: datetime) -> str:
    """A broadcast's or a care rule's result, in HTML, for staff."""
    if result.kind == "broadcast":
        lines = [
            _("<b>Result of broadcast #{id}</b>").format(id=result.ident),
            _(
                "Orders paid within {hours} of the message, by members who got it in private."
            ).format(hours=counted("hour", int(result.window.total_seconds() // 3600))),
        ]
    else:
        lines = [
            _("<b>Return of care rule #{id}</b>").format(id=result.ident),
            _(
                "Members won back: those who paid an order within {days} of the rule's care, "
                "counted once their days have passed."
            ).format(days=counted("day", result.window.days)),
        ]
    if result.holdout_pct:
        lines.append(
            _("Held out for comparison: {share} of eligible members, who got nothing.").format(
                share=percent(result.holdout_pct * 100, locale)
            )
        )
    arms = [name for name in (VARIANT_A, VARIANT_B, VARIANT_HOLDOUT) if name in result.arms]
    if not arms:
        lines.append(_("Nobody to count yet."))
    lines += [_arm_line(name, result.arms[name], locale, test=result.is_test) for name in arms]
    if result.is_test and arms:
        lines += _verdict_lines(result)
    if result.kind == "care":
        lines.append(
            _("Spent on it: {points}; coupons given {given}, used {used}.").format(
                points=points_text(result.points, locale),
                given=result.coupons_granted,
                used=result.coupons_used,
            )
        )
        if result.coupon_discount:
            lines.append(
                _("Discount on the orders that used them: {amount}.").format(
                    amount=format_amounts(result.coupon_discount, locale)
                )
            )
        if result.pending:
            lines.append(
                _("Still within their days: {members}.").format(
                    members=counted("member", result.pending)
                )
            )
    elif result.complete:
        lines.append(_("The window is closed: these are the final figures."))
    elif result.closes_at is not None and result.closes_at > now:
        lines.append(
            _("The window is still open until {time} ({zone}).").format(
                time=_local(result.closes_at, zone), zone=esc(zone)
            )
        )
    elif result.pending:
        lines.append(
            _("Still to send: {members}.").format(members=counted("member", result.pending))
        )
    return "\n".join(lines)
