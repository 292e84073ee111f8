"""How points, tiers and their perks read, in the reader's locale (shared by the perks router,
the order router and the member-care job)."""

from __future__ import annotations

from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from handlers.views.text import NC_, HandlerSettings, discount_figures, esc, format_money, pgettext
from services.tiers import TierChange, TierView

# the default tiers' names, translated (a tier's code says it is a default); tiers staff
# named themselves show their own name. "tier" tells "Member" the tier (普通会员) from
# "Member" the person (会员) in the catalogs.
TIER_CONTEXT = "tier"
TIER_NAMES = {
    "member": NC_("tier", "Member"),
    "silver": NC_("tier", "Silver"),
    "gold": NC_("tier", "Gold"),
    "diamond": NC_("tier", "Diamond"),
}


def points_text(points: int, locale: str) -> str:
    """A number of points with its noun: "1 point", "2 points", "1 积分"."""
    return ngettext("{points} point", "{points} points", abs(points)).format(
        points=format_decimal(points, locale=locale)
    )


def by_points(settings: HandlerSettings) -> bool:
    return settings.tier_basis == "points"


def tier_amount(value: int, settings: HandlerSettings, locale: str) -> str:
    """A tier threshold or progress: money in the tier currency, or points (TIER_BASIS)."""
    if by_points(settings):
        return points_text(value, locale)
    return format_money(value, settings.tier_currency, locale)


def tier_label(code: str, name: str) -> str:
    """A tier's name in the current locale, not escaped: a default tier's translated name, or
    the name staff gave it, as typed."""
    label = TIER_NAMES.get(code)
    return pgettext(TIER_CONTEXT, label) if label else name


def tier_name(tier: TierView) -> str:
    """A tier's name for an HTML message (escaped)."""
    return esc(tier_label(tier.code, tier.name))


def tier_perks(tier: TierView, locale: str) -> list[str]:
    """What a tier gives, one line each."""
    lines = []
    if tier.discount_bps:
        # Translators: {zhe} may stand for {percent} (the share paid: 98 for 2% off, as in 98折)
        off = _("{percent} off every order")
        lines.append(off.format(**discount_figures(tier.discount_bps, locale)))
    if tier.multiplier_pct != 100:
        lines.append(
            _("{multiplier}× points on orders").format(
                multiplier=format_decimal(tier.multiplier_pct / 100, locale=locale)
            )
        )
    if tier.vip_access:
        lines.append(_("Early access to VIP group-buys"))
    if tier.birthday_points:
        lines.append(
            _("Birthday gift: {points}").format(points=points_text(tier.birthday_points, locale))
        )
    if tier.member_day_double:
        lines.append(_("Double points on the member day"))
    return lines


def moved_up_text(tier: TierView, i18n: I18n, locale: str) -> str:
    """The congratulations of a member who reached `tier`, with its perks, in their language."""
    with i18n.use_locale(locale):
        text = _("Congratulations! You are now {tier}.").format(tier=tier_name(tier))
        perks = tier_perks(tier, locale)
        if perks:
            text += "\n" + "\n".join(f"• {perk}" for perk in perks)
        return text


async def tier_news(change: TierChange, i18n: I18n, locale: str) -> str | None:
    """A message for a member whose tier changed, in their language; None when it did not."""
    if not change.moved_up:
        return None
    return moved_up_text(change.after, i18n, locale)
