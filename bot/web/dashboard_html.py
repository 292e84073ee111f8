"""The dashboard's blocks: the filter form, tables of the store (each value as the reader reads
it: local time, money, words for codes, names for ids), forms, cards and photo galleries. Each
renders from its template in bot/web/templates/, which escapes the text it is given; labels go
through Babel like every other user-facing string. The page layouts are in bot/web/layout.py,
the charts in bot/web/dashboard_charts.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from markupsafe import Markup

from bot.web.layout import render
from handlers.views.abtest import arm_rows, verdict_lines
from handlers.views.broadcast import targets_text
from handlers.views.delivery import DELIVERY_STATES
from handlers.views.labels import (
    ACCOUNT_KIND,
    BROADCAST_STATUS,
    FULFILMENT_STATUS,
    GROUPBUY_STATUS,
    MIN_KIND,
    ORDER_STATUS,
    PAYMENT_MODE,
    POLL_STATUS,
    TRANSACTION_KIND,
    Labels,
)
from handlers.views.labels import (
    label as value_label,
)
from handlers.views.perks import tier_label
from handlers.views.text import LANGUAGE_NAMES, N_, format_money
from handlers.views.ticket import KINDS as TICKET_KINDS
from handlers.views.ticket import RESOLUTIONS as TICKET_RESOLUTIONS
from handlers.views.ticket import STATUSES as TICKET_STATUSES
from models.ledger import POINTS
from services.attribution import PromotionResult
from services.tiers import TierView
from services.validation import NumberRefused, shown, telegram_id

# the localized heading of each table column (the CSV keeps the column names themselves)
COLUMN_LABELS = {
    "account_kind": N_("Account"),
    "account_owner": N_("Owner"),
    "active_30d": N_("Active 30 days"),
    "active_7d": N_("Active 7 days"),
    "amount_minor": N_("Amount"),
    "anonymous": N_("Anonymous"),
    "answers": N_("Answers"),
    "asset": N_("Asset"),
    "average_order_minor": N_("Average order"),
    "broadcast_id": N_("Broadcast"),
    "cash_collected_minor": N_("Cash collected"),
    "cash_handed_over_minor": N_("Cash handed over"),
    "cash_netted_minor": N_("Cash kept from payouts"),
    "cash_refunded_minor": N_("Cash paid back as refunds"),
    "cash_owed_closing_minor": N_("Cash owed at the end"),
    "cash_owed_opening_minor": N_("Cash owed at the start"),
    "commission_available_closing_minor": N_("To pay out at the end"),
    "commission_available_opening_minor": N_("To pay out at the start"),
    "commission_earned_minor": N_("Commission earned"),
    "commission_paid_out_minor": N_("Commission paid out"),
    "commission_pending_closing_minor": N_("Pending at the end"),
    "commission_pending_opening_minor": N_("Pending at the start"),
    "commission_released_minor": N_("Commission released"),
    "commission_reversed_minor": N_("Commission taken back"),
    "buyers": N_("Buyers"),
    "cards_posted": N_("Cards posted"),
    "chat_id": N_("Chat"),
    "closes_at_utc": N_("Closes"),
    "communities": N_("Groups"),
    "community_id": N_("Group"),
    "created_at_utc": N_("Created"),
    "currency": N_("Currency"),
    "deadline_utc": N_("Deadline"),
    "detractors": N_("Detractors"),
    "failed": N_("Failed"),
    "final_price_minor": N_("Final price"),
    "finished_at_utc": N_("Finished"),
    "first_name": N_("First name"),
    "first_seen_utc": N_("First seen"),
    "for_whom": N_("For whom"),
    "fulfilment_id": N_("Task"),
    "gmv_minor": N_("GMV"),
    "groupbuy_id": N_("Group-buy"),
    "groupbuys_closed": N_("Group-buys closed"),
    "groupbuys_cancelled": N_("Group-buys cancelled"),
    "groupbuys_failed": N_("Group-buys failed"),
    "groupbuys_formed": N_("Group-buys formed"),
    "groupbuys_run": N_("Group-buys run"),
    "idempotency_key": N_("Idempotency key"),
    "joins": N_("Joins"),
    "kind": N_("Kind"),
    "last_name": N_("Last name"),
    "leader_id": N_("Leader"),
    "locale": N_("Language"),
    "member_id": N_("Member"),
    "memo": N_("Memo"),
    "min_count": N_("Minimum"),
    "min_kind": N_("Minimum of"),
    "nps": N_("NPS"),
    "nps_answers": N_("NPS answers"),
    "option": N_("Option"),
    "option_text": N_("Option text"),
    "order_id": N_("Order"),
    "orders_paid": N_("Orders paid"),
    "orders_placed": N_("Orders placed"),
    "orders_refunded": N_("Orders refunded"),
    "orders_picked_up": N_("Picked up"),
    "paid": N_("Paid"),
    "paid_minor": N_("Paid amount"),
    "paid_orders": N_("Paid orders"),
    "participants": N_("Participants"),
    "passives": N_("Passives"),
    "payment_mode": N_("Payment"),
    "period_first": N_("From"),
    "period_last": N_("To"),
    "pending": N_("Waiting"),
    "points": N_("Points"),
    "poll_id": N_("Poll"),
    "poll_voters": N_("Poll voters"),
    "product_id": N_("Product"),
    "promoters": N_("Promoters"),
    "quantity": N_("Quantity"),
    "question": N_("Question"),
    "recipients": N_("Recipients"),
    "referrals_qualified": N_("Qualified referrals"),
    "refunded_minor": N_("Refunded"),
    "repeat_buyers": N_("Repeat buyers"),
    "reverses_id": N_("Reverses"),
    "row": N_("Row"),
    "shipping_minor": N_("Shipping"),
    "redeemed_at_utc": N_("Redeemed"),
    "scheduled_at_utc": N_("Scheduled"),
    "sent": N_("Sent"),
    "settled_at_utc": N_("Settled"),
    "skipped": N_("Skipped"),
    "status": N_("Status"),
    "stock_cap": N_("Stock"),
    "suggestions_adopted": N_("Suggestions adopted"),
    "suggestions_made": N_("Suggestions made"),
    "text": N_("Text"),
    "tier": N_("Tier"),
    "tier_rank": N_("Tier rank"),
    "title": N_("Title"),
    "total_minor": N_("Total"),
    "transaction_id": N_("Transaction"),
    "unit_price_minor": N_("Unit price"),
    "units_sold": N_("Units sold"),
    "username": N_("Username"),
    "variant": N_("Variant"),
    "votes": N_("Votes"),
    "voters": N_("Voters"),
    "ticket_id": N_("Ticket"),
    "opened_at_utc": N_("Opened"),
    "answer_due_utc": N_("Answer due"),
    "answered_at_utc": N_("Answered"),
    "resolve_due_utc": N_("Resolution due"),
    "closed_at_utc": N_("Closed"),
    "resolution": N_("Resolution"),
    "delivery_state": N_("Delivery"),
    "address_given": N_("Address given"),
    "carrier": N_("Carrier"),
    "tracking_number": N_("Tracking number"),
    "shipped_at_utc": N_("Shipped"),
    "ship_name": N_("Recipient"),
    "ship_phone": N_("Phone"),
    "ship_address": N_("Address"),
    "shipping_option_id": N_("Shipping option"),
}

# how a stored value of a column reads on a page, by "table.column" or by column in every table
# (the CSV keeps the values as stored)
VALUE_LABELS: dict[str, Labels] = {
    "orders.status": ORDER_STATUS,
    "groupbuys.status": GROUPBUY_STATUS,
    "statement.status": GROUPBUY_STATUS,
    "broadcasts.status": BROADCAST_STATUS,
    "polls.status": POLL_STATUS,
    "fulfilment.status": FULFILMENT_STATUS,
    "tickets.kind": TICKET_KINDS,
    "tickets.status": TICKET_STATUSES,
    "tickets.resolution": TICKET_RESOLUTIONS,
    "deliveries.delivery_state": DELIVERY_STATES,
    "ledger.kind": TRANSACTION_KIND,
    "account_kind": ACCOUNT_KIND,
    "payment_mode": PAYMENT_MODE,
    "min_kind": MIN_KIND,
}

# labels that sat inside f-strings, where Babel's extraction does not look (so until the
# templates they were never translated)
BROADCAST_NUMBER = N_("Broadcast #{id}")
CSV_LINK = N_("CSV")
SIGNED_IN_NOW = N_("Signed in now")
NOBODY_SIGNED_IN = N_("Nobody is signed in.")

# columns holding a group's id, or several (space separated): a page shows their titles
GROUP_COLUMNS = frozenset({"chat_id", "communities"})


@dataclass(frozen=True, slots=True)
class Names:
    """What a page knows to name things by: group titles by id, tiers by rank."""

    groups: Mapping[int, str] = field(default_factory=dict)
    tiers: Mapping[int, TierView] = field(default_factory=dict)


def filters(
    *,
    period: str,
    community: str,
    communities: Sequence[tuple[int, str]],
    search: str | None = None,
    error: str = "",
    leader: str | None = None,
    groups: bool = True,
) -> str:
    """The period (and group, and search, or leader) form of a page."""
    label = {
        "search": _("Name, @username or id"),
        "leader": _("Leader: @username or id"),
        "period": _("Period"),
        "group": _("Group"),
        "all": _("All my groups"),
        "show": _("Show"),
        "hint": _("Period: 7d, 30d, 90d, a date, or 2026-11-01..2026-11-30."),
    }
    return render(
        "filters.html",
        label=label,
        period=period,
        community=community,
        communities=[(str(g), shown(t or "") or str(g)) for g, t in communities],
        search=search,
        leader=leader,
        groups=groups,
        error=error,
    )


def cell(
    column: str,
    value: object,
    row: dict[str, object],
    locale: str,
    zone: ZoneInfo,
    *,
    table: str = "",
    names: Names | None = None,
) -> str:
    """A value as the reader reads it: local time, money in its currency, yes/no, a status in
    words, a group by its title and a tier by its (translated) name."""
    names = names or Names()
    if column == "tier" and isinstance(rank := row.get("tier_rank"), int) and rank in names.tiers:
        tier = names.tiers[rank]  # a default tier has no row in the store: its name is None
        return shown(tier_label(tier.code, tier.name))
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if column.endswith("_minor") and isinstance(value, int):
        currency = row.get("currency") or row.get("asset")
        if isinstance(currency, str) and currency and currency != POINTS:
            return format_money(value, currency, locale)
    labels = VALUE_LABELS.get(f"{table}.{column}") or VALUE_LABELS.get(column)
    if labels is not None and isinstance(value, str):
        return value_label(labels, value)
    if column == "locale" and isinstance(value, str):
        return LANGUAGE_NAMES.get(value, value)  # a language by its own name
    if column in GROUP_COLUMNS:
        ids = [ident for part in str(value).split() if (ident := _stored_id(part)) is not None]
        return ", ".join(shown(names.groups.get(ident) or str(ident)) for ident in ids)
    if column == "targets" and isinstance(value, str):
        return shown(targets_text(value, names.tiers, names.groups))
    return shown(str(value))  # names and titles as typed: without bidi or invisible controls


def _stored_id(part: str) -> int | None:
    """A group id as the store lists them (space separated), through the validation layer:
    ASCII digits with a sign, within 64 bits; anything else is skipped."""
    try:
        return telegram_id(part)
    except NumberRefused:
        return None


def table(
    *,
    name: str,
    heading: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    more: bool,
    csv_href: str,
    locale: str,
    zone: ZoneInfo,
    names: Names | None = None,
) -> str:
    """A table block with its CSV link; `more` says rows were left out of the page."""
    cells = [
        [
            cell(
                c,
                v,
                dict(zip(columns, values, strict=False)),
                locale,
                zone,
                table=name,
                names=names,
            )
            for c, v in zip(columns, values, strict=False)
        ]
        for values in rows
    ]
    return render(
        "table.html",
        name=name,
        heading=heading,
        head=[_(COLUMN_LABELS.get(c, c)) for c in columns],
        rows=cells,
        more=more,
        csv_href=csv_href,
        download=_("Download CSV"),
        partial=_("Only the first rows are shown; the CSV has them all."),
        nothing=_("Nothing in this period."),
    )


def ab_tests(results: Sequence[PromotionResult], locale: str, *, csv_href: str = "") -> str:
    """The newest A/B tests of broadcasts: conversion per arm with its 95% interval, and the
    verdict (orders paid within 48 hours of the message); a CSV link when `csv_href`."""
    if not results:
        return ""
    tests = [
        {
            "title": _(BROADCAST_NUMBER).format(id=result.ident),
            "state": _("final") if result.complete else _("window open"),
            "rows": arm_rows(result, locale),
            "verdict": verdict_lines(result),
        }
        for result in results
    ]
    return render(
        "ab_tests.html",
        heading=_("A/B tests: orders within 48 hours, against the hold-out"),
        head=(_("Arm"), _("Members"), _("Ordered"), _("Conversion"), _("Interval (95%)")),
        tests=tests,
        csv_href=csv_href,
        csv=_(CSV_LINK),
    )


def sessions_table(rows: Sequence[tuple[str, int, int, datetime, datetime]], zone: ZoneInfo) -> str:
    """Who is signed in: name, id, how many browsers, since, until (staff's sessions page)."""
    return render(
        "sessions.html",
        heading=_(SIGNED_IN_NOW),
        head=(_("Member"), _("Id"), _("Browsers"), _("Signed in"), _("Until")),
        rows=[
            (
                shown(name),
                ident,
                count,
                f"{since.astimezone(zone):%Y-%m-%d %H:%M}",
                f"{until.astimezone(zone):%Y-%m-%d %H:%M}",
            )
            for name, ident, count, since, until in rows
        ],
        nothing=_(NOBODY_SIGNED_IN),
    )


def sign_out_form() -> str:
    """Staff sign a member out everywhere by @username or id."""
    return render(
        "sign_out_form.html",
        label=_("Member: @username or id"),
        button=_("Sign them out everywhere"),
    )


def ship_form() -> str:
    """Staff mark a paid delivery order shipped: its number, the carrier, the tracking number."""
    return render(
        "ship_form.html",
        order=_("Order"),
        carrier=_("Carrier"),
        tracking=_("Tracking number"),
        button=_("Mark shipped"),
    )


def photo_gallery(heading: str, photos: Sequence[tuple[str, str]]) -> str:
    """Photos as thumbnails linking to themselves: (address under the dashboard, caption)."""
    if not photos:
        return ""
    return render("photo_gallery.html", heading=heading, photos=photos)


@dataclass(frozen=True, slots=True)
class ReviewCard:
    """A review waiting for moderation, as the reviews page shows it."""

    order_id: int
    member: str
    title: str
    group: str
    rating: int
    comment: str
    photos: tuple[str, ...]  # addresses of its photos under the dashboard
    videos: int


def review_cards(cards: Sequence[ReviewCard]) -> str:
    """Each waiting review with its photos and the form that approves or rejects it (the reason
    goes to the member)."""
    shown_cards = [
        {
            "order_id": card.order_id,
            "head": _("Order #{id} · {title} · {member} · {group}").format(
                id=card.order_id, title=card.title, member=card.member, group=card.group
            ),
            "stars": "⭐" * card.rating,
            "comment": card.comment,
            "photos": card.photos,
            "videos": card.videos,
        }
        for card in cards
    ]
    return render(
        "review_cards.html",
        cards=shown_cards,
        nothing=_("No review is waiting."),
        reason=_("Reason (the member reads it; needed to reject)"),
        approve=_("✅ Approve"),
        reject=_("✖️ Reject"),
        with_video=_("With a video: watch it in the bot with /reviews."),
    )


def trials_table(rows: Sequence[tuple[int, Sequence[str]]]) -> str:
    """The trials, newest first: (trial id, its cells), the first cell linking to the trial."""
    columns = (
        _("Trial"),
        _("Product"),
        _("Places"),
        _("Taken"),
        _("Report rate"),
        _("Report due"),
        _("Average per aspect"),
    )
    return render(
        "trials_table.html",
        head=columns,
        rows=rows,
        nothing=_("No trials yet. Create one with /trial_new."),
    )


def trial_form() -> str:
    """Staff create a trial as /trial_new does: product (ID or ID:variant), places, who to
    invite, the aspects rated and the due date."""
    fields = (
        ("product", _("Product (ID, or ID:variant)"), "16", "required"),
        ("places", _("Places"), "6", "required"),
        (
            "invite",
            _("Invite (promoters, adopted, ambassadors, a tier, @people)"),
            "200",
            "required",
        ),
        ("aspects", _("Aspects rated (comma separated)"), "200", "required"),
        ("due", _("Report due (like 14d)"), "32", ""),
    )
    return render("trial_form.html", fields=fields, button=_("Create the trial and invite"))


@dataclass(frozen=True, slots=True)
class ReportCard:
    """One ambassador's report as a trial's page shows it."""

    head: str  # who, their answer, the order, when they reported
    ratings: str  # "taste ⭐⭐⭐⭐⭐ · packaging ⭐⭐⭐"
    words: str
    photos: tuple[str, ...]  # addresses of its photos under the dashboard


def report_cards(cards: Sequence[ReportCard], csv_href: str) -> str:
    """A trial's invitations with their reports and photos, and the link to its CSV."""
    return render(
        "report_cards.html",
        cards=cards,
        csv_href=csv_href,
        download=_("Download CSV"),
        nothing=_("Nobody was invited to this trial."),
    )


@dataclass(frozen=True, slots=True)
class PlanRow:
    """A membership plan as the memberships page shows it: its cells are text, or Markup when
    the code built them as HTML."""

    plan_id: int
    cells: tuple[str, ...]
    active: bool


def plans_table(rows: Sequence[PlanRow]) -> str:
    """The membership plans with their figures, and a button that switches one off."""
    columns = (
        _("Plan"),
        _("Price"),
        _("Grants"),
        _("State"),
        _("Active members"),
        _("Renewals this month"),
        _("Stars booked this month"),
        "",
    )
    return render(
        "plans_table.html",
        head=columns,
        rows=rows,
        switch_off=_("Switch off"),
        nothing=_("No membership plans yet. Add one with /membership_plan_add."),
    )


@dataclass(frozen=True, slots=True)
class LevelRow:
    """A group as the level forms show it."""

    group_id: int
    name: str  # its title, as typed (the template escapes it)
    now: Markup  # its level and who may join, in a sentence (HTML built by the code)
    level: str  # the level selected in the form
    who: str  # the rule or tier code selected in the form


def level_forms(
    rows: Sequence[LevelRow],
    *,
    levels: Sequence[tuple[str, str]],
    choices: Sequence[tuple[str, str]],
    told: Markup | None = None,
) -> str:
    """Staff set each group's level and who may join it, as /group_level does: one form per
    group with the level (open, VIP, core) and, for VIP and core, a tier, paid members or
    invitation only. `told`: the bot's confirmation of the change just made, shown first."""
    note = _(
        "A VIP or core group admits members through join requests, which the bot approves "
        "for those who qualify; an open group admits anyone. In each VIP or core group, turn "
        "on “Approve new members” and make the bot an admin who may add members."
    )
    return render(
        "level_forms.html",
        told=told,
        heading=_("Group levels"),
        note=note,
        rows=rows,
        levels=levels,
        choices=choices,
        level_label=_("Level"),
        who_label=_("Who may join (VIP and core)"),
        button=_("Save"),
        nothing=_("The bot is in no group yet."),
    )


def plan_form(grants: Sequence[tuple[str, str]], *, name_size: int, max_stars: int) -> str:
    """Staff put a membership plan on sale as /membership_plan_add does: its name, its price
    for 30 days in Stars, and what it grants (a tier, or entry to VIP or core groups)."""
    note = _(
        "Members buy a plan with /membership in private; Telegram renews it every 30 days "
        "until they cancel or you switch it off."
    )
    return render(
        "plan_form.html",
        heading=_("Add a plan"),
        name=_("Name"),
        stars=_("Stars per 30 days (1 to {most})").format(most=max_stars),
        grant=_("Grants"),
        button=_("Put it on sale"),
        note=note,
        grants=grants,
        name_size=name_size,
    )
