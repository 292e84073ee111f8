"""The brand's figures as staff and leaders read them: every metric with its definition, the
summary messages, the chart and its legend (the /stats router and the web dashboard).
Also which groups a private /stats or /metrics covers, and the date range a staff report
(/export, /referral_stats) names."""

from __future__ import annotations

from decimal import Decimal

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.types import (
    Message,
)
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import current_role, refusal_text
from handlers.views.chart import stats_chart
from handlers.views.perks import tier_label
from handlers.views.text import N_, HandlerSettings, counted, esc, esc_name, format_money, list_text
from models.base import Clock
from services.analytics import Figures, Ratio, Scope, StatsReport
from services.audit import record_action
from services.member import MemberView
from services.money import currency_digits
from services.order import with_variant
from services.period import InvalidPeriod, Period, parse_period
from services.role import Role, led_communities
from services.ticket import TicketGroupStats, TicketStats
from services.zones import local_today, staff_zone

MAX_MESSAGE = 4000  # Telegram allows 4096 characters; the rest is margin for markup

# what each metric means, one line each: shown next to the figure (and by the dashboard)
DEFINITIONS = {
    "gmv": N_("What members paid for orders paid in the period, less refunds."),
    "average_order": N_("GMV divided by the number of paid orders, per currency."),
    "formation": N_("Group-buys that reached their minimum, of those that closed in the period."),
    "repurchase": N_("Members with 2 or more paid orders, of those with at least one."),
    "funnel": N_(
        "For group-buys opened in the period: cards posted, joins, orders paid, orders picked up."
    ),
    "active": N_(
        "Members who ordered, joined a group-buy, checked in, voted, made a suggestion or "
        "answered NPS in the last 7 or 30 days of the period."
    ),
    "referrals": N_(
        "Invitees whose first order was paid, of those invited; the viral coefficient is "
        "qualified invitees per member who invited."
    ),
    "referrals_group": N_(
        "Invitees whose first paid order was placed here; the viral coefficient is those per "
        "member who invited them."
    ),
    "points": N_(
        "Points the brand gave members and members redeemed in the period, and what members "
        "hold at its end."
    ),
    "tiers": N_("Members in each tier, as last computed."),
    "participation": N_("Members who voted in a co-creation poll, of the members active in it."),
    "suggestions": N_("Of the suggestions made in the period, how many staff adopted."),
    "tickets": N_(
        "After-sales tickets opened in the period: the first answer is due within "
        "TICKET_ANSWER_HOURS, the resolution within TICKET_RESOLVE_HOURS; overdue when either "
        "came late (or not yet)."
    ),
    "nps": N_(
        "Share of promoters (9-10) minus share of detractors (0-6), from -100 to 100, among "
        "answers in the period."
    ),
}


def rate_text(ratio: Ratio, locale: str) -> str:
    bps = ratio.bps
    if bps is None:
        return "—"
    return format_percent(Decimal(bps).scaleb(-4), "#,##0.#%", locale=locale)


def _number(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


def money_text(amounts: dict[str, int], locale: str, currency: str | None = None) -> str:
    """Amounts per currency; none: zero in `currency` (the report's), else a bare 0."""
    if not amounts:
        if currency:
            return format_money(0, currency, locale)
        return format_decimal(0, locale=locale)
    return ", ".join(format_money(amounts[c], c, locale) for c in sorted(amounts))


def _line(name: str, value: str, key: str) -> tuple[str, str]:
    line = _("• <b>{name}</b>: {value}").format(name=esc_name(name), value=value)
    return key, f"{line}\n  <i>{esc(_(DEFINITIONS[key]))}</i>"


def _referrals(figures: Figures, locale: str, *, whole_brand: bool) -> tuple[str, str]:
    """The referral line: a group sees the referrals that qualified there (sign-ups belong to
    no group until the newcomer's first order)."""
    referrals = figures.referrals
    viral = referrals.viral_coefficient.fraction
    coefficient = (
        "—"
        if viral is None
        else format_decimal(
            Decimal(viral.numerator) / Decimal(viral.denominator), "#,##0.##", locale=locale
        )
    )
    if not whole_brand:
        value = _("qualified here: {qualified}; viral coefficient {viral}").format(
            qualified=_number(referrals.qualified, locale), viral=coefficient
        )
        return _line(_("Referrals"), value, "referrals_group")
    value = _("invited: {invited}, qualified: {qualified} ({rate}); viral coefficient {viral}")
    value = value.format(
        qualified=_number(referrals.qualified, locale),
        invited=_number(referrals.invited, locale),
        rate=rate_text(referrals.conversion, locale),
        viral=coefficient,
    )
    return _line(_("Referrals"), value, "referrals")


def detailed(
    figures: Figures, locale: str, *, whole_brand: bool, currency: str | None = None
) -> list[tuple[str, str]]:
    """Every metric of the scope with its definition, each as (metric key, HTML line)."""
    n = _number
    funnel = figures.funnel
    lines = [
        *_sales_lines(figures, locale, currency),
        _line(
            _("Funnel"),
            _("cards {cards} → joins {joins} → paid {paid} → picked up {picked}").format(
                cards=n(funnel.cards, locale),
                joins=n(funnel.joins, locale),
                paid=n(funnel.paid, locale),
                picked=n(funnel.picked_up, locale),
            ),
            "funnel",
        ),
        _line(
            _("Active members"),
            _("7 days: {week}, 30 days: {month}").format(
                week=n(figures.active[7], locale), month=n(figures.active[30], locale)
            ),
            "active",
        ),
        _referrals(figures, locale, whole_brand=whole_brand),
    ]
    if figures.points is not None:
        points = figures.points
        lines.append(
            _line(
                _("Points"),
                _("{issued} issued, {redeemed} redeemed, {outstanding} outstanding").format(
                    issued=n(points.issued, locale),
                    redeemed=n(points.redeemed, locale),
                    outstanding=n(points.outstanding, locale),
                ),
                "points",
            )
        )
    if figures.tiers is not None:
        tiers = list_text(
            f"{esc(tier_label(t.code, t.name))} {n(t.members, locale)}" for t in figures.tiers
        )
        lines.append(_line(_("Tiers"), tiers or "—", "tiers"))
    lines += [
        _line(
            _("Co-creation participation"),
            _("{rate} (voters: {voters})").format(
                rate=rate_text(figures.participation, locale), voters=n(figures.voters, locale)
            ),
            "participation",
        ),
        _line(
            _("Suggestions adopted"),
            _("{adopted} of {made}").format(
                adopted=n(figures.suggestions.numerator, locale),
                made=n(figures.suggestions.denominator, locale),
            ),
            "suggestions",
        ),
        _line(
            _("NPS"),
            _("{score} (answers: {answers})").format(
                score=_nps(figures, locale), answers=n(figures.nps.total, locale)
            ),
            "nps",
        ),
    ]
    return lines


def _sales_lines(figures: Figures, locale: str, currency: str | None) -> list[tuple[str, str]]:
    """The sales metrics: GMV, average order value, formation and repurchase rates."""
    n = _number
    return [
        _line(
            _("GMV"),
            _("{gmv}; paid orders: {orders}").format(
                gmv=money_text(figures.gmv, locale, currency),
                orders=n(figures.paid_orders, locale),
            ),
            "gmv",
        ),
        _line(
            _("Average order value"),
            money_text(figures.average_order, locale, currency),
            "average_order",
        ),
        _line(
            _("Group-buy formation rate"),
            _("{rate} ({formed} of {closed})").format(
                rate=rate_text(figures.formation, locale),
                formed=n(figures.formation.numerator, locale),
                closed=n(figures.formation.denominator, locale),
            ),
            "formation",
        ),
        _line(
            _("Repurchase rate"),
            _("{rate} (repeat buyers: {again}, buyers: {buyers})").format(
                rate=rate_text(figures.repurchase, locale),
                again=n(figures.repurchase.numerator, locale),
                buyers=n(figures.repurchase.denominator, locale),
            ),
            "repurchase",
        ),
    ]


def _nps(figures: Figures, locale: str) -> str:
    if not figures.nps.total:
        return "—"
    return format_decimal(figures.nps.score, "+#,##0;-#,##0", locale=locale)


def _compact(figures: Figures, locale: str, currency: str | None) -> str:
    """One group's headline figures on one line."""
    return _(
        "<b>{title}</b>: GMV {gmv}, paid orders {orders}, formation {formation}, "
        "repurchase {repurchase}, active {week}/{month}, NPS {nps}"
    ).format(
        title=esc(figures.title or str(figures.community_id)),
        gmv=money_text(figures.gmv, locale, currency),
        orders=_number(figures.paid_orders, locale),
        formation=rate_text(figures.formation, locale),
        repurchase=rate_text(figures.repurchase, locale),
        week=_number(figures.active[7], locale),
        month=_number(figures.active[30], locale),
        nps=_nps(figures, locale),
    )


def duration_text(seconds: int | None) -> str:
    """A mean clock time in minutes, or in hours from two hours on; "—" when none."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 120:
        return counted("minute", minutes)
    return counted("hour", round(minutes / 60))


def _ticket_group(group: TicketGroupStats, locale: str) -> str:
    return _("{name}: {opened} (overdue {overdue}; answer {answer}, resolution {resolve})").format(
        name=esc(group.label),
        opened=_number(group.opened, locale),
        overdue=_number(group.overdue, locale),
        answer=duration_text(group.answer_seconds),
        resolve=duration_text(group.resolve_seconds),
    )


def tickets_lines(tickets: TicketStats, locale: str) -> list[str]:
    """After-sales tickets of the period: counts, mean clock times, by leader and product."""
    lines = [
        _line(
            _("After-sales tickets"),
            _(
                "{opened} opened, {closed} closed, {open} open, {overdue} overdue; first answer "
                "in {answer}, resolution in {resolve} on average"
            ).format(
                opened=_number(tickets.opened, locale),
                closed=_number(tickets.closed, locale),
                open=_number(tickets.still_open, locale),
                overdue=_number(tickets.overdue, locale),
                answer=duration_text(tickets.answer_seconds),
                resolve=duration_text(tickets.resolve_seconds),
            ),
            "tickets",
        )[1]
    ]
    if tickets.by_leader:
        lines.append(
            _("  By leader: {groups}").format(
                groups=list_text(_ticket_group(g, locale) for g in tickets.by_leader)
            )
        )
    if tickets.by_product:
        lines.append(
            _("  By product: {groups}").format(
                groups=list_text(_ticket_group(g, locale) for g in tickets.by_product)
            )
        )
    return lines


def summary(report: StatsReport, locale: str, *, whole_brand: bool) -> list[str]:
    """The summary as messages that each fit Telegram's limit."""
    period = report.period
    heading = _("<b>Stats from {first} to {last}</b> ({zone})").format(
        first=format_date(period.first, format="medium", locale=locale),
        last=format_date(period.last, format="medium", locale=locale),
        zone=esc(report.timezone),
    )
    if whole_brand:
        scope = _("All communities")
    elif len(report.communities) == 1:
        scope = esc_name(report.communities[0].title)
    else:
        scope = _("Your groups")
    lines = [
        heading,
        f"<b>{scope}</b>",
        *(
            line
            for _key, line in detailed(
                report.overall, locale, whole_brand=whole_brand, currency=report.currency
            )
        ),
    ]
    if report.best_sellers:
        lines += ["", _("<b>Best sellers</b>")]
        lines += [
            _("{product}: {units}, {amount}").format(
                product=esc_name(with_variant(seller.title, seller.variant)),
                units=counted("unit", seller.units),
                amount=format_money(seller.amount, seller.currency, locale),
            )
            for seller in report.best_sellers
        ]
    if report.tickets is not None and report.tickets.opened:
        lines += ["", *tickets_lines(report.tickets, locale)]
    if whole_brand or len(report.communities) > 1:
        lines += ["", _("<b>Per community</b>")]
        lines += [_compact(figures, locale, report.currency) for figures in report.communities]
    messages: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > MAX_MESSAGE:
            messages.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    messages.append(current)
    return messages


def chart(report: StatsReport) -> bytes:
    """The scope's chart: GMV and orders per day, the funnel, NPS, the panels named in the
    reader's language when the host has a CJK font."""
    funnel = report.overall.funnel
    nps = report.overall.nps
    currency = report.currency or ""
    return stats_chart(
        heading=f"{report.period.first.isoformat()} .. {report.period.last.isoformat()}",
        days=[(d.day.strftime("%m-%d"), d.orders, d.gmv) for d in report.days],
        scale=10 ** currency_digits(currency) if currency else 1,
        currency=currency,
        funnel=[funnel.cards, funnel.joins, funnel.paid, funnel.picked_up],
        nps=nps.score,
        nps_counts=[nps.promoters, nps.passives, nps.detractors],
        titles=(
            _("GMV per day ({currency})").format(currency=currency or "—"),
            _("Funnel"),
            _("NPS"),
        ),
    )


def caption(report: StatsReport) -> str:
    """The chart's legend in the reader's language."""
    currency = report.currency or "—"
    return "\n".join(
        [
            _(
                "A: GMV per day in {currency} (blue bars, left axis) and paid orders per day "
                "(orange line, right axis)."
            ).format(currency=currency),
            _("B: funnel: 1 cards posted, 2 joins, 3 orders paid, 4 orders picked up."),
            _("C: NPS, with promoters (green), passives (grey) and detractors (red)."),
        ]
    )


async def staff_period(
    message: Message,
    args: str | None,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    usage: str,
) -> Period | None:
    """The date range a staff report's arguments name, in the staff member's zone; None once
    they were told how to write one (`usage`)."""
    zone = staff_zone(member.timezone, settings.default_timezone)
    try:
        return parse_period(args or "", timezone=zone, today=local_today(clock(), zone))
    except InvalidPeriod:
        await message.answer(usage)
        return None


async def private_scope(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    *,
    action: str,
) -> tuple[bool, Scope]:
    """Whose figures a reader gets in private: staff every group's (None), a leader the groups
    they lead; anyone else is refused (told here). The read is audited under `action`."""
    role = await current_role(bot, session, settings, member, None)
    scope: Scope = None
    if role < Role.STAFF:
        scope = await led_communities(session, member_id=member.id)
    allowed = scope is None or bool(scope)
    await record_action(
        session,
        actor_id=member.id,
        chat_id=message.chat.id,
        action=action,
        allowed=allowed,
        now=clock(),
        required_role=Role.LEADER.name.lower(),
    )
    if not allowed:
        await message.reply(
            refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
    return allowed, scope
