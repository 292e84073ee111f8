"""The weekly digest and the alerts as staff and leaders read them: the digest's five lines and
chart with its opt-out button, and an alert's notice. Shared by handlers/digest.py,
handlers/alerts.py and their jobs (bot/digest.py, bot/alerts.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal, format_percent, get_currency_precision

from handlers.views.chart import line_panels
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.text import N_, esc_name, format_money, list_text
from models.alerts import ALERT_BELOW, ALERT_NPS
from services.analytics import Ratio
from services.digest import Digest, Mover, Value, magnitude

NAMES = {
    "active": N_("Active rate"),
    "members": N_("Members"),
    "new_members": N_("New members"),
    "fission": N_("Fission rate"),
    "referral_conversion": N_("Referral conversion"),
    "repurchase": N_("Repurchase rate"),
    "median_gap_days": N_("Median days between orders"),
    "coupon_redemption": N_("Coupon redemption"),
    "discount_cost": N_("Discount cost"),
}
ALERT_NAMES = {
    "active_rate": N_("Active rate"),
    "fission_rate": N_("Fission rate"),
    "repurchase_rate": N_("Repurchase rate"),
    "nps": N_("NPS"),
    "refund_rate": N_("Refund rate"),
}


class DigestCallback(CallbackData, prefix="dg"):
    """The digest's button: stop (False) or resume (True) the weekly digest."""

    on: bool


def digest_keyboard(on: bool) -> InlineKeyboardMarkup:
    """One button: stop the digest (on a digest), or get it again (after stopping)."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🔕 Stop the weekly digest") if not on else _("🔔 Get the weekly digest again"),
        callback_data=DigestCallback(on=on),
    )
    return builder.as_markup()


def _percent(fraction: Fraction, locale: str) -> str:
    return format_percent(
        Decimal(fraction.numerator) / fraction.denominator, "#,##0.#%", locale=locale
    )


def value_text(mover: Mover, value: Value, currency: str, locale: str) -> str:
    """A value of the number as the reader's locale writes it."""
    if isinstance(value, Ratio):
        fraction = value.fraction
        return "—" if fraction is None else _percent(fraction, locale)
    if value is None:
        return "—"
    if mover.kind == "money":
        return format_money(int(value), currency, locale)
    if mover.kind == "days":
        return format_decimal(value, "#,##0.#", locale=locale)
    return format_decimal(value, locale=locale)


def change_text(mover: Mover, currency: str, locale: str) -> str:
    """▲ or ▼ and how much: percentage points for a rate, the difference otherwise."""
    change = mover.change
    if not change:
        return _("no change")
    arrow = "▲" if change > 0 else "▼"
    size = abs(change)
    if mover.kind == "rate":
        points = format_decimal(
            Decimal(size.numerator * 100) / size.denominator, "#,##0.#", locale=locale
        )
        return f"{arrow} " + _("{points} pp").format(points=points)
    if mover.kind == "money":
        return f"{arrow} {format_money(int(size), currency, locale)}"
    return f"{arrow} " + format_decimal(
        Decimal(size.numerator) / size.denominator, "#,##0.#", locale=locale
    )


def digest_text(digest: Digest, locale: str) -> str:
    """The digest in the current locale: whose figures, then one line per number."""
    first = digest.week - timedelta(days=7)
    last = digest.week - timedelta(days=1)
    whose = (
        _("the whole brand")
        if digest.scope is None
        else list_text(f"<b>{esc_name(title)}</b>" for title in digest.groups)
    )
    lines = [
        _("📈 <b>Weekly digest</b> for {whose}, week {first} – {last}").format(
            whose=whose, first=first.isoformat(), last=last.isoformat()
        )
    ]
    if not digest.movers:
        lines.append(_("Nothing to compare yet: there were no figures in either week."))
    else:
        lines.append(_("The numbers that moved most against the week before:"))
        for index, mover in enumerate(digest.movers, start=1):
            lines.append(
                _("{n}. {name}: {after} ({change}; {before} the week before)").format(
                    n=index,
                    name=_(NAMES[mover.key]),
                    after=value_text(mover, mover.after, digest.currency, locale),
                    change=change_text(mover, digest.currency, locale),
                    before=value_text(mover, mover.before, digest.currency, locale),
                )
            )
    lines.append(_("Send /digest off to stop these, /stats for more."))
    return "\n".join(lines)


def _plotted(mover: Mover, value: Value, currency: str) -> float | None:
    if value is None or (isinstance(value, Ratio) and value.fraction is None):
        return None
    number = magnitude(value)
    if mover.kind == "rate":
        return float(number * 100)
    if mover.kind == "money":
        return float(number / 10 ** get_currency_precision(currency))
    return float(number)


def digest_chart(digest: Digest, locale: str) -> bytes | None:
    """One line per number over the digest's weeks, numbered as in the text (None: nothing)."""
    if not digest.movers:
        return None
    panels = [
        (
            _(NAMES[mover.key]),
            [_plotted(mover, value, digest.currency) for value in mover.series],
            [value_text(mover, value, digest.currency, locale) for value in mover.series],
        )
        for mover in digest.movers
    ]
    labels = [week.strftime("%m-%d") for week in digest.weeks]
    heading = (
        _("Weekly digest")
        + f"  {digest.weeks[0].isoformat()} – {(digest.week - timedelta(days=1)).isoformat()}"
    )
    return line_panels(heading, labels, panels)


def alert_threshold_text(metric: str, threshold: int, locale: str) -> str:
    """A threshold as typed: 40% for a rate, the score for NPS."""
    if metric == ALERT_NPS:
        return format_decimal(threshold, locale=locale)
    return format_percent(Decimal(threshold).scaleb(-4), "#,##0.##%", locale=locale)


def alert_rule_text(metric: str, op: str, threshold: int, group: str, locale: str) -> str:
    """`Active rate below 40% (the whole brand)`."""
    where = f"<b>{esc_name(group)}</b>" if group else _("the whole brand")
    template = (
        _("{name} below {threshold} in {where}")
        if op == ALERT_BELOW
        else _("{name} above {threshold} in {where}")
    )
    return template.format(
        name=_(ALERT_NAMES[metric]),
        threshold=alert_threshold_text(metric, threshold, locale),
        where=where,
    )


def alert_notice(
    alert_id: int, metric: str, op: str, threshold: int, group: str, value: int, locale: str
) -> str:
    """The message staff get when an alert fires."""
    return _("⚠️ Alert #{id}: {rule}. It is now {value}. /alerts lists your alerts.").format(
        id=alert_id,
        rule=alert_rule_text(metric, op, threshold, group, locale),
        value=alert_threshold_text(metric, value, locale),
    )
