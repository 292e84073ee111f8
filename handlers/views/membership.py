"""Paid membership as members and staff read it: plans, a membership's state, and the notices
of its payments, renewals, cancellation and lapse (shared by the membership router and the
lapse job).
Also the /membership screen, which the main menu shows too."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardMarkup,
)
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.levels import level_name
from handlers.views.menu import MenuScreen, with_back
from handlers.views.perks import tier_name
from handlers.views.text import (
    N_,
    HandlerSettings,
    esc_name,
    format_money,
)
from services.ledger import STARS
from services.member import MemberView
from services.membership import (
    REFUSED_HELD,
    REFUSED_OFF,
    REFUSED_PRICE,
    REFUSED_UNKNOWN,
    MembershipRefusal,
    MembershipView,
    PlanCount,
    PlanView,
    SwitchedOff,
    list_plans,
    memberships_of,
)
from services.zones import private_zone

# why a subscription payment was not taken, as the member reads it
REFUSALS = {
    REFUSED_UNKNOWN: N_("I cannot find this membership plan. Send /membership to see the plans."),
    REFUSED_OFF: N_(
        "The membership plan {plan} is no longer sold. Send /membership to see the plans."
    ),
    REFUSED_PRICE: N_("The price of {plan} has changed. Send /membership for a new link."),
    REFUSED_HELD: N_("You are already a member of {plan}, renewing every month."),
}

log = logging.getLogger(__name__)


def plan_name(plan: PlanView) -> str:
    """A plan's name for an HTML message (escaped)."""
    return f"<b>{esc_name(plan.name)}</b>"


def grant_text(plan: PlanView) -> str:
    """What a plan grants, in a few words."""
    if plan.tier is not None:
        return _("tier {tier}").format(tier=tier_name(plan.tier))
    return _("entry to groups of level {level}").format(level=level_name(plan.level))


def price_text(plan: PlanView, locale: str) -> str:
    """A plan's price per month."""
    return _("{amount} a month").format(amount=format_money(plan.stars, STARS, locale))


def plan_line(plan: PlanView, locale: str) -> str:
    """One plan: name, price and what it grants."""
    return _("{plan}: {price}, grants {grant}").format(
        plan=plan_name(plan), price=price_text(plan, locale), grant=grant_text(plan)
    )


def plan_added_text(plan: PlanView, locale: str) -> str:
    """Staff's confirmation that a new plan is for sale (in chat and on the dashboard)."""
    return _("Membership plan #{id} is for sale: {line}. Members buy it with /membership.").format(
        id=plan.id, line=plan_line(plan, locale)
    )


def day_text(moment: datetime, timezone: str, locale: str) -> str:
    """A day as the reader's calendar shows it (Jan 5, 2027)."""
    return format_date(moment.astimezone(ZoneInfo(timezone)).date(), format="medium", locale=locale)


def refusal_text(reason: str, plan: PlanView | None) -> str:
    """Why a subscription payment was not taken."""
    template = REFUSALS.get(reason, REFUSALS[REFUSED_UNKNOWN])
    return _(template).format(plan=plan_name(plan) if plan is not None else "")


def state_text(membership: MembershipView, timezone: str, locale: str) -> str:
    """One membership's state: active until a day (renewing or ending), or ended."""
    plan = plan_name(membership.plan)
    day = day_text(membership.period_end, timezone, locale)
    if membership.status != "active":
        return _("{plan}: ended on {day}.").format(plan=plan, day=day)
    if membership.renews:
        return _("{plan}: active, renews on {day}.").format(plan=plan, day=day)
    return _("{plan}: active until {day}; it will not renew.").format(plan=plan, day=day)


def started_text(membership: MembershipView, timezone: str, locale: str) -> str:
    """The thank-you for a first payment."""
    return _(
        "Welcome to {plan}! You now have {grant} until {day}; it renews every month until you "
        "cancel (/membership)."
    ).format(
        plan=plan_name(membership.plan),
        grant=grant_text(membership.plan),
        day=day_text(membership.period_end, timezone, locale),
    )


def renewed_text(membership: MembershipView, amount: int, timezone: str, locale: str) -> str:
    """The notice of a renewal."""
    return _("Your membership {plan} is renewed for {amount}: active until {day}.").format(
        plan=plan_name(membership.plan),
        amount=format_money(amount, STARS, locale),
        day=day_text(membership.period_end, timezone, locale),
    )


def canceled_text(membership: MembershipView, timezone: str, locale: str) -> str:
    """The notice that the renewals stopped: the membership holds to the end of the period."""
    return _("Your membership {plan} will not renew. You keep {grant} until {day}.").format(
        plan=plan_name(membership.plan),
        grant=grant_text(membership.plan),
        day=day_text(membership.period_end, timezone, locale),
    )


def discontinued_text(membership: MembershipView, timezone: str, locale: str) -> str:
    """The notice that the member's plan is no longer sold, so it will not renew."""
    return _(
        "The membership {plan} is no longer sold, so it will not renew and you will not be "
        "charged again. You keep {grant} until {day}."
    ).format(
        plan=plan_name(membership.plan),
        grant=grant_text(membership.plan),
        day=day_text(membership.period_end, timezone, locale),
    )


def reenabled_text(membership: MembershipView, timezone: str, locale: str) -> str:
    """The notice that the renewals are back on."""
    return _("Your membership {plan} will renew again, next on {day}.").format(
        plan=plan_name(membership.plan),
        day=day_text(membership.period_end, timezone, locale),
    )


def failed_text(membership: MembershipView, lapsed: bool, timezone: str, locale: str) -> str:
    """The notice that a renewal could not be charged."""
    if lapsed:
        return _(
            "Telegram could not renew your membership {plan}, so it has ended and {grant} with "
            "it. Top up your Stars and Telegram will try again, or subscribe anew with "
            "/membership."
        ).format(plan=plan_name(membership.plan), grant=grant_text(membership.plan))
    return _(
        "Telegram could not renew your membership {plan}. It stays active until {day}; top up "
        "your Stars so that it renews."
    ).format(plan=plan_name(membership.plan), day=day_text(membership.period_end, timezone, locale))


def membership_lines(counts: list[PlanCount]) -> str:
    """/stats: active memberships, in all and per plan."""
    total = sum(c.active for c in counts)
    parts = [_("<b>Active memberships: {n}</b>").format(n=total)]
    for count in counts:
        state = "" if count.plan.active else " " + _("(switched off)")
        parts.append(
            _("{plan}: {members}").format(
                plan=plan_name(count.plan),
                members=ngettext("{n} member", "{n} members", count.active).format(n=count.active),
            )
            + state
        )
    return "\n".join(parts)


def lapsed_text(membership: MembershipView) -> str:
    """The notice that a membership ended without a renewal."""
    return _(
        "Your membership {plan} has ended, and {grant} with it. Send /membership to join again."
    ).format(plan=plan_name(membership.plan), grant=grant_text(membership.plan))


PLAN_REFUSALS: dict[str, str] = {
    MembershipRefusal.NAME: N_("Give the plan a name of 1 to 32 characters."),
    MembershipRefusal.STARS: N_("The price must be a whole number of Stars from 1 to 10000."),
    MembershipRefusal.GRANT: N_(
        "“{word}” is not a grant: use tier=NAME or level=vip / level=core."
    ),
    MembershipRefusal.TIER: N_("“{word}” is not a tier above the first: see /tiers."),
    MembershipRefusal.LEVEL: N_("“{word}” is not a level a plan can grant: use vip or core."),
    MembershipRefusal.UNKNOWN: N_(
        "There is no membership plan #{word}. Send /membership_plans to see them."
    ),
    MembershipRefusal.OFF: N_("Plan #{word} is switched off already."),
    MembershipRefusal.NOT_MEMBER: N_("You have no active membership of that plan."),
    MembershipRefusal.CANCELED: N_("That membership will not renew already."),
}


async def switched_off_notices(
    session: AsyncSession, off: SwitchedOff, *, default_timezone: str, i18n: I18n
) -> list[tuple[int, str, str]]:
    """For each membership whose renewals a switched-off plan stopped: the member, the charge
    id of the subscription to cancel after commit, and the notice in their language."""
    notices = []
    for stopped, locale in off.stopped:
        zone = await private_zone(
            session, member_id=stopped.member_id, own=None, default=default_timezone
        )
        with i18n.use_locale(locale):
            text = discontinued_text(stopped, zone, locale)
        notices.append((stopped.member_id, stopped.subscription_charge_id, text))
    return notices


def switched_off_text(plan: PlanView) -> str:
    """What staff read once a plan is switched off (in chat and on the dashboard)."""
    members = ngettext(
        "its {n} active member keeps it until the paid month ends and is told",
        "its {n} active members keep it until their paid month ends and are told",
        plan.members,
    ).format(n=plan.members)
    return _(
        "Plan #{id} {plan} is switched off: no longer sold, and renewals stop; {members}."
    ).format(id=plan.id, plan=plan_name(plan), members=members)


def cancel_subscription(bot: Bot, user_id: int, charge_id: str) -> Callable[[], Awaitable[None]]:
    """Asks Telegram (after commit) to charge the subscription no more."""

    async def run() -> None:
        try:
            await bot.edit_user_star_subscription(
                user_id=user_id, telegram_payment_charge_id=charge_id, is_canceled=True
            )
        except TelegramAPIError as exc:
            log.warning("cancelling subscription %s failed: %s", charge_id, exc)

    return run


class MembershipAction(StrEnum):
    BUY = "buy"
    CANCEL = "cancel"


class MembershipCallback(CallbackData, prefix="mship"):
    """A button of /membership: subscribe to a plan, or cancel its renewals."""

    action: MembershipAction
    plan_id: int


async def membership_screen(
    session: AsyncSession, member: MemberView, settings: HandlerSettings
) -> tuple[str, InlineKeyboardMarkup]:
    """The member's memberships and the plans for sale, with Subscribe and Cancel buttons, and
    Back to Points and perks (the menu screen it is under)."""
    zone = await private_zone(
        session, member_id=member.id, own=member.timezone, default=settings.default_timezone
    )
    mine = await memberships_of(session, member.id)
    plans = await list_plans(session, for_sale=True)
    builder = InlineKeyboardBuilder()
    lines = [_("<b>Paid membership</b>")]
    for membership in mine:
        lines.append(state_text(membership, zone, member.locale))
        if membership.status == "active" and membership.renews:
            builder.button(
                text=_("Cancel {plan}").format(plan=membership.plan.name),
                callback_data=MembershipCallback(
                    action=MembershipAction.CANCEL, plan_id=membership.plan.id
                ),
            )
    held = {m.plan.id for m in mine if m.status == "active" and m.renews}
    if plans:
        lines.append(_("Plans for sale, paid monthly in Stars:"))
    else:
        lines.append(_("No membership is for sale right now."))
    for plan in plans:
        lines.append("· " + plan_line(plan, member.locale))
        if plan.id not in held:
            builder.button(
                text=_("⭐ Subscribe: {plan}").format(plan=plan.name),
                callback_data=MembershipCallback(action=MembershipAction.BUY, plan_id=plan.id),
            )
    builder.adjust(1)
    return "\n".join(lines), with_back(builder, MenuScreen.POINTS)
