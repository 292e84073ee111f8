"""The dashboard's HTML: one layout, tables, and charts drawn as inline SVG.

Everything a page needs is in the page itself (style, script, charts), so it works with no
resource from the internet; the style and the script are constants, allowed by their SHA-256
in the Content-Security-Policy (bot/web/dashboard_security.py), and nothing else runs. Text is
escaped here; labels go through Babel like every other user-facing string, and chart text is
the browser's, so Chinese titles render as Chinese.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _

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

PAGES = (
    ("", N_("Overview")),
    ("communities", N_("Communities")),
    ("groupbuys", N_("Group-buys")),
    ("members", N_("Members")),
    ("ledger", N_("Ledger")),
    ("broadcasts", N_("Broadcasts")),
    ("promotions", N_("Promotions calendar")),
    ("cocreation", N_("Co-creation")),
    ("metrics", N_("Metrics")),
    ("rewards", N_("Rewards to hand over")),
    ("tickets", N_("After-sales tickets")),
    ("delivery", N_("Delivery")),
    ("reviews", N_("Reviews")),
    ("trials", N_("Trials")),
    ("memberships", N_("Memberships")),
    ("statement", N_("Statement")),
    ("sessions", N_("Sessions")),
)

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
# columns holding a group's id, or several (space separated): a page shows their titles
GROUP_COLUMNS = frozenset({"chat_id", "communities"})


@dataclass(frozen=True, slots=True)
class Names:
    """What a page knows to name things by: group titles by id, tiers by rank."""

    groups: Mapping[int, str] = field(default_factory=dict)
    tiers: Mapping[int, TierView] = field(default_factory=dict)


STYLE = """
:root { --ink:#1d2733; --muted:#5f6b7a; --line:#dde3ea; --accent:#3478f6; --bg:#f6f8fb; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC",
  "Noto Sans CJK SC",sans-serif; color:var(--ink); background:var(--bg); }
header { background:#fff; border-bottom:1px solid var(--line); padding:10px 16px; }
header h1 { font-size:18px; margin:0 0 6px; }
nav a { display:inline-block; margin:2px 10px 2px 0; color:var(--accent); text-decoration:none; }
nav a.here { color:var(--ink); font-weight:600; }
main { padding:16px; max-width:1200px; }
form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; margin-bottom:14px; }
form.filters label { display:flex; flex-direction:column; font-size:13px; color:var(--muted); }
input, select, button { font:inherit; padding:5px 8px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(260px,1fr)); gap:10px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.card i { display:block; color:var(--muted); font-size:13px; margin-top:4px; }
.block { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px;
  margin:14px 0; overflow-x:auto; }
.block h2 { font-size:16px; margin:0 0 8px; }
table { border-collapse:collapse; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left;
  white-space:nowrap; }
th { color:var(--muted); font-weight:600; }
.note { color:var(--muted); font-size:13px; }
.error { color:#b3261e; }
.csv { float:right; font-size:13px; }
form.inline { display:inline; }
form.inline button { padding:0; border:0; background:none; color:var(--accent); cursor:pointer; }
svg text { font-family:inherit; }
.photos { display:flex; flex-wrap:wrap; gap:10px; }
.photos figure { margin:0; font-size:13px; color:var(--muted); }
.photos img { display:block; max-width:180px; max-height:180px; border:1px solid var(--line);
  border-radius:6px; }
.levels form { border-top:1px solid var(--line); padding-top:8px; margin:8px 0 0; }
.levels .group { flex-basis:100%; }
"""


def page(
    *,
    title: str,
    here: str,
    body: str,
    lang: str,
    user: str,
    query: dict[str, str] | None = None,
) -> str:
    """A whole dashboard page with its navigation (links keep the period and group)."""
    keep = urlencode({k: v for k, v in (query or {}).items() if k in ("period", "community")})
    suffix = f"?{keep}" if keep else ""
    links = "".join(
        f'<a href="{(path or "./") + suffix}"'
        f"{' class=here' if path == here else ''}>{escape(_(label))}</a>"
        for path, label in PAGES
    )
    languages = " · ".join(
        f'<a href="?{urlencode({**(query or {}), "lang": code})}">{name}</a>'
        for code, name in (("en", "English"), ("zh_Hans", "简体中文"), ("zh_Hant", "繁體中文"))
    )
    heading = escape(_("Community dashboard"))
    sign_out = escape(_("Sign out"))
    everywhere = escape(_("Sign out everywhere"))
    return (
        f'<!doctype html><html lang="{escape(lang.replace("_", "-"))}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(shown(title))}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{heading}</h1><nav>{links}</nav>"
        f'<div class="note">{escape(user)} · {languages} · '
        f'<form class="inline" method="post" action="logout"><button>{sign_out}</button></form>'
        " · "
        f'<form class="inline" method="post" action="logout">'
        f'<input type="hidden" name="everywhere" value="1"><button>{everywhere}</button></form>'
        "</div></header>"
        f"<main><h2>{escape(shown(title))}</h2>{body}</main></body></html>"
    )


def message_page(title: str, text: str, lang: str = "en") -> str:
    """A page with one message and no navigation (sign-in problems)."""
    return (
        f'<!doctype html><html lang="{escape(lang.replace("_", "-"))}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>"
        f'<h2>{escape(title)}</h2><p class="message">{escape(text)}</p></main></body></html>'
    )


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
    options = "".join(
        f'<option value="{g}"{" selected" if str(g) == community else ""}>'
        f"{escape(shown(t or '') or str(g))}</option>"
        for g, t in communities
    )
    label = {
        "search": escape(_("Name, @username or id")),
        "leader": escape(_("Leader: @username or id")),
        "period": escape(_("Period")),
        "group": escape(_("Group")),
        "all": escape(_("All my groups")),
        "show": escape(_("Show")),
        "hint": escape(_("Period: 7d, 30d, 90d, a date, or 2026-11-01..2026-11-30.")),
    }
    search_box = (
        ""
        if search is None
        else f"<label>{label['search']}"
        f'<input name="q" value="{escape(search)}" maxlength="64"></label>'
    )
    leader_box = (
        ""
        if leader is None
        else f"<label>{label['leader']}"
        f'<input name="leader" value="{escape(leader)}" maxlength="64"></label>'
    )
    group_box = (
        f'<label>{label["group"]}<select name="community">'
        f'<option value="">{label["all"]}</option>{options}</select></label>'
        if groups
        else ""
    )
    return (
        '<form class="filters" method="get">'
        f'<label>{label["period"]}<input name="period" value="{escape(period)}" '
        'placeholder="30d" size="24"></label>'
        f"{group_box}{leader_box}{search_box}<button>{label['show']}</button></form>"
        f'<p class="note">{label["hint"]}</p>'
        + (f'<p class="error">{escape(error)}</p>' if error else "")
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
    head = "".join(f"<th>{escape(_(COLUMN_LABELS.get(c, c)))}</th>" for c in columns)
    lines = []
    for values in rows:
        named = dict(zip(columns, values, strict=False))
        lines.append(
            "<tr>"
            + "".join(
                f"<td>{escape(cell(c, v, named, locale, zone, table=name, names=names))}</td>"
                for c, v in zip(columns, values, strict=False)
            )
            + "</tr>"
        )
    nothing = escape(_("Nothing in this period."))
    partial = escape(_("Only the first rows are shown; the CSV has them all."))
    download = escape(_("Download CSV"))
    empty = "" if rows else f'<p class="note">{nothing}</p>'
    note = f'<p class="note">{partial}</p>' if more else ""
    return (
        f'<section class="block" id="table-{name}">'
        f'<a class="csv" href="{escape(csv_href)}" download>{download}</a>'
        f"<h2>{escape(heading)}</h2>{note}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
        f"{empty}</section>"
    )


def ab_tests(results: Sequence[PromotionResult], locale: str, *, csv_href: str = "") -> str:
    """The newest A/B tests of broadcasts: conversion per arm with its 95% interval, and the
    verdict (orders paid within 48 hours of the message); a CSV link when `csv_href`."""
    if not results:
        return ""
    heads = (_("Arm"), _("Members"), _("Ordered"), _("Conversion"), _("Interval (95%)"))
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    blocks = []
    for result in results:
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
            for row in arm_rows(result, locale)
        )
        verdict = "".join(f'<p class="note">{escape(line)}</p>' for line in verdict_lines(result))
        state = _("final") if result.complete else _("window open")
        blocks.append(
            f"<h3>{escape(_('Broadcast #{id}').format(id=result.ident))} ({escape(state)})</h3>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{verdict}"
        )
    heading = escape(_("A/B tests: orders within 48 hours, against the hold-out"))
    link = f' <a class="csv" href="{escape(csv_href)}">{escape(_("CSV"))}</a>' if csv_href else ""
    return (
        f'<section class="block" id="ab-tests"><h2>{heading}</h2>{"".join(blocks)}'
        f'<p class="note">{link}</p></section>'
    )


def sessions_table(rows: Sequence[tuple[str, int, int, datetime, datetime]], zone: ZoneInfo) -> str:
    """Who is signed in: name, id, how many browsers, since, until (staff's sessions page)."""
    head = "".join(
        f"<th>{escape(text)}</th>"
        for text in (_("Member"), _("Id"), _("Browsers"), _("Signed in"), _("Until"))
    )
    lines = "".join(
        f"<tr><td>{escape(shown(name))}</td><td><code>{ident}</code></td><td>{count}</td>"
        f"<td>{since.astimezone(zone):%Y-%m-%d %H:%M}</td>"
        f"<td>{until.astimezone(zone):%Y-%m-%d %H:%M}</td></tr>"
        for name, ident, count, since, until in rows
    )
    empty = "" if rows else f'<p class="note">{escape(_("Nobody is signed in."))}</p>'
    return (
        f'<section class="block" id="table-sessions"><h2>{escape(_("Signed in now"))}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>{empty}</section>"
    )


def sign_out_form() -> str:
    """Staff sign a member out everywhere by @username or id."""
    label = escape(_("Member: @username or id"))
    button = escape(_("Sign them out everywhere"))
    return (
        '<form class="filters" method="post" action="sessions">'
        f'<label>{label}<input name="member" maxlength="64" required></label>'
        f"<button>{button}</button></form>"
    )


def ship_form() -> str:
    """Staff mark a paid delivery order shipped: its number, the carrier, the tracking number."""
    order = escape(_("Order"))
    carrier = escape(_("Carrier"))
    tracking = escape(_("Tracking number"))
    button = escape(_("Mark shipped"))
    return (
        '<form class="filters" method="post" action="ship">'
        f'<label>{order}<input name="order" inputmode="numeric" maxlength="18" required></label>'
        f'<label>{carrier}<input name="carrier" maxlength="32" required></label>'
        f'<label>{tracking}<input name="tracking" maxlength="64" required></label>'
        f"<button>{button}</button></form>"
    )


def photo_gallery(heading: str, photos: Sequence[tuple[str, str]]) -> str:
    """Photos as thumbnails linking to themselves: (address under the dashboard, caption)."""
    if not photos:
        return ""
    figures = "".join(
        f'<figure><a href="{escape(href)}"><img src="{escape(href)}" alt="{escape(caption)}" '
        f'loading="lazy"></a><figcaption>{escape(caption)}</figcaption></figure>'
        for href, caption in photos
    )
    return (
        f'<section class="block" id="ticket-photos"><h2>{escape(heading)}</h2>'
        f'<div class="photos">{figures}</div></section>'
    )


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
    if not cards:
        nothing = escape(_("No review is waiting."))
        return f'<p class="note">{nothing}</p>'
    reason = escape(_("Reason (the member reads it; needed to reject)"))
    approve, reject = escape(_("✅ Approve")), escape(_("✖️ Reject"))
    with_video = escape(_("With a video: watch it in the bot with /reviews."))
    blocks = []
    for card in cards:
        head = escape(
            _("Order #{id} · {title} · {member} · {group}").format(
                id=card.order_id, title=card.title, member=card.member, group=card.group
            )
        )
        photos = "".join(
            f'<figure><a href="{escape(href)}"><img src="{escape(href)}" alt="{head}" '
            'loading="lazy"></a></figure>'
            for href in card.photos
        )
        video = f'<p class="note">{with_video}</p>' if card.videos else ""
        blocks.append(
            f'<section class="block" id="review-{card.order_id}"><h2>{head}</h2>'
            f"<p>{'⭐' * card.rating}</p><p>{escape(card.comment)}</p>"
            f'<div class="photos">{photos}</div>{video}'
            '<form class="filters" method="post" action="review">'
            f'<input type="hidden" name="order" value="{card.order_id}">'
            f'<label>{reason}<input name="reason" maxlength="200"></label>'
            f'<button name="decision" value="approve">{approve}</button>'
            f'<button name="decision" value="reject">{reject}</button></form></section>'
        )
    return "".join(blocks)


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
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    lines = "".join(
        f'<tr><td><a href="trials?trial={ident}">#{ident}</a></td>'
        + "".join(f"<td>{escape(c)}</td>" for c in cells)
        + "</tr>"
        for ident, cells in rows
    )
    nothing = escape(_("No trials yet. Create one with /trial_new."))
    empty = "" if rows else f'<p class="note">{nothing}</p>'
    return (
        '<section class="block" id="table-trials">'
        f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>{empty}</section>"
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
    inputs = "".join(
        f'<label>{escape(label)}<input name="{name}" maxlength="{size}" {needed}></label>'
        for name, label, size, needed in fields
    )
    button = escape(_("Create the trial and invite"))
    return (
        '<form class="filters" method="post" action="trial-new">'
        f"{inputs}<button>{button}</button></form>"
    )


@dataclass(frozen=True, slots=True)
class ReportCard:
    """One ambassador's report as a trial's page shows it."""

    head: str  # who, their answer, the order, when they reported
    ratings: str  # "taste ⭐⭐⭐⭐⭐ · packaging ⭐⭐⭐"
    words: str
    photos: tuple[str, ...]  # addresses of its photos under the dashboard


def report_cards(cards: Sequence[ReportCard], csv_href: str) -> str:
    """A trial's invitations with their reports and photos, and the link to its CSV."""
    download = escape(_("Download CSV"))
    link = f'<a class="csv" href="{escape(csv_href)}" download>{download}</a>'
    if not cards:
        nothing = escape(_("Nobody was invited to this trial."))
        return f'<section class="block">{link}<p class="note">{nothing}</p></section>'
    blocks = []
    for place, card in enumerate(cards, start=1):
        head = escape(card.head)
        photos = "".join(
            f'<figure><a href="{escape(href)}"><img src="{escape(href)}" alt="{head}" '
            'loading="lazy"></a></figure>'
            for href in card.photos
        )
        blocks.append(
            f'<section class="block" id="report-{place}">{link if place == 1 else ""}'
            f"<h2>{head}</h2><p>{escape(card.ratings)}</p><p>{escape(card.words)}</p>"
            f'<div class="photos">{photos}</div></section>'
        )
    return "".join(blocks)


@dataclass(frozen=True, slots=True)
class PlanRow:
    """A membership plan as the memberships page shows it: its cells are HTML (escaped)."""

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
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    switch_off = escape(_("Switch off"))
    lines = "".join(
        f"<tr><td>#{row.plan_id}</td>"
        + "".join(f"<td>{c}</td>" for c in row.cells)
        + "<td>"
        + (
            '<form class="inline" method="post" action="membership-plan-off">'
            f'<input type="hidden" name="plan" value="{row.plan_id}">'
            f"<button>{switch_off}</button></form>"
            if row.active
            else ""
        )
        + "</td></tr>"
        for row in rows
    )
    nothing = escape(_("No membership plans yet. Add one with /membership_plan_add."))
    empty = "" if rows else f'<p class="note">{nothing}</p>'
    return (
        '<section class="block" id="table-plans">'
        f"<table><thead><tr><th>#</th>{head}</tr></thead><tbody>{lines}</tbody></table>"
        f"{empty}</section>"
    )


@dataclass(frozen=True, slots=True)
class LevelRow:
    """A group as the level forms show it."""

    group_id: int
    name: str  # its title, as typed (escaped here)
    now: str  # its level and who may join, in a sentence: HTML (escaped)
    level: str  # the level selected in the form
    who: str  # the rule or tier code selected in the form


def _options(choices: Sequence[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{escape(value)}"{" selected" if value == selected else ""}>'
        f"{escape(label)}</option>"
        for value, label in choices
    )


def level_forms(
    rows: Sequence[LevelRow],
    *,
    levels: Sequence[tuple[str, str]],
    choices: Sequence[tuple[str, str]],
) -> str:
    """Staff set each group's level and who may join it, as /group_level does: one form per
    group with the level (open, VIP, core) and, for VIP and core, a tier, paid members or
    invitation only."""
    heading = escape(_("Group levels"))
    note = escape(
        _(
            "A VIP or core group admits members through join requests, which the bot approves "
            "for those who qualify; an open group admits anyone. In each VIP or core group, turn "
            "on “Approve new members” and make the bot an admin who may add members."
        )
    )
    level_label = escape(_("Level"))
    who_label = escape(_("Who may join (VIP and core)"))
    button = escape(_("Save"))
    forms = "".join(
        '<form class="filters" method="post" action="group-level">'
        f'<input type="hidden" name="group" value="{row.group_id}">'
        f'<div class="group"><b>{escape(row.name)}</b> <span class="note">{row.now}</span></div>'
        f'<label>{level_label}<select name="level">{_options(levels, row.level)}</select></label>'
        f'<label>{who_label}<select name="who">{_options(choices, row.who)}</select></label>'
        f"<button>{button}</button></form>"
        for row in rows
    )
    nothing = escape(_("The bot is in no group yet."))
    empty = "" if rows else f'<p class="note">{nothing}</p>'
    return (
        f'<section class="block levels" id="levels"><h2>{heading}</h2>'
        f'<p class="note">{note}</p>{forms}{empty}</section>'
    )


def plan_form(grants: Sequence[tuple[str, str]], *, name_size: int, max_stars: int) -> str:
    """Staff put a membership plan on sale as /membership_plan_add does: its name, its price
    for 30 days in Stars, and what it grants (a tier, or entry to VIP or core groups)."""
    heading = escape(_("Add a plan"))
    name = escape(_("Name"))
    stars = escape(_("Stars per 30 days (1 to {most})").format(most=max_stars))
    grant = escape(_("Grants"))
    button = escape(_("Put it on sale"))
    note = escape(
        _(
            "Members buy a plan with /membership in private; Telegram renews it every 30 days "
            "until they cancel or you switch it off."
        )
    )
    return (
        f'<section class="block" id="plan-add"><h2>{heading}</h2>'
        '<form class="filters" method="post" action="membership-plan-add">'
        f'<label>{name}<input name="name" maxlength="{name_size}" required></label>'
        f'<label>{stars}<input name="stars" inputmode="numeric" maxlength="6" required></label>'
        f'<label>{grant}<select name="grant">{_options(grants, "")}</select></label>'
        f'<button>{button}</button></form><p class="note">{note}</p></section>'
    )


def bars_svg(title: str, items: Sequence[tuple[str, int, str]], *, color: str = "#3478f6") -> str:
    """A horizontal bar chart: (label, value, value as text) per bar."""
    label_width, bar_room, row, top = 220, 360, 26, 30
    peak = max((value for _label, value, _text in items), default=0) or 1
    height = top + row * max(len(items), 1) + 10
    parts = [
        f'<svg class="chart" role="img" width="{label_width + bar_room + 120}" '
        f'height="{height}" aria-label="{escape(title)}">',
        f'<text x="0" y="18" font-weight="600">{escape(title)}</text>',
    ]
    for n, (label, value, text) in enumerate(items):
        y = top + n * row
        width = max(int(bar_room * max(value, 0) / peak), 1 if value else 0)
        label = shown(label)  # a product or group title as typed: no bidi or invisible controls
        short = label if len(label) <= 28 else label[:27] + "…"
        parts += [
            f'<text x="0" y="{y + 16}">{escape(short)}</text>',
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{width}" height="18" '
            f'fill="{color}"><title>{escape(label)}: {escape(text)}</title></rect>',
            f'<text x="{label_width + width + 6}" y="{y + 16}">{escape(text)}</text>',
        ]
    if not items:
        nothing = escape(_("Nothing in this period."))
        parts.append(f'<text x="0" y="{top + 16}">{nothing}</text>')
    parts.append("</svg>")
    return "".join(parts)


def columns_svg(title: str, items: Sequence[tuple[str, int, str]], *, color: str) -> str:
    """A column chart over days: (day label, value, value as text) per column."""
    width, height, top, bottom, left = 760, 220, 28, 36, 8
    count = max(len(items), 1)
    slot = (width - left) / count
    peak = max((value for _label, value, _text in items), default=0) or 1
    room = height - top - bottom
    every = max(1, count // 10)  # about ten day labels under the axis
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}">',
        f'<text x="0" y="18" font-weight="600">{escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#9aa5b1"/>',
    ]
    for n, (label, value, text) in enumerate(items):
        bar = int(room * max(value, 0) / peak)
        x = left + n * slot
        parts.append(
            f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{height - bottom - bar}" '
            f'width="{slot * 0.7:.1f}" height="{bar}" fill="{color}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        if n % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="11">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def lines_svg(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    percent: bool = True,
) -> str:
    """A line chart over weeks: (name, color, values) per line; None leaves a gap. Values are
    fractions (0.4 = 40%) when `percent`, else plain numbers."""
    width, height, top, bottom, left, right = 760, 240, 48, 36, 44, 12
    count = max(len(labels), 1)
    step = (width - left - right) / max(count - 1, 1)
    values = [v for _name, _color, line in series for v in line if v is not None]
    peak = max(values, default=0.0)
    peak = 1.0 if percent and peak <= 1 else (peak or 1.0)
    room = height - top - bottom

    def y_of(value: float) -> float:
        return height - bottom - room * value / peak

    def tick(value: float) -> str:
        return f"{value * 100:.0f}%" if percent else f"{value:g}"

    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}">',
        f'<text x="0" y="18" font-weight="600">{escape(title)}</text>',
    ]
    x = 0
    for name, color, _line in series:
        parts.append(
            f'<rect x="{x}" y="28" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="37" font-size="12">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    for fraction in (0.0, 0.5, 1.0):
        y = y_of(peak * fraction)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e8ee"/>'
            f'<text x="0" y="{y + 4:.1f}" font-size="11">{escape(tick(peak * fraction))}</text>'
        )
    every = max(1, count // 10)
    for n, label in enumerate(labels):
        if n % every == 0:
            parts.append(
                f'<text x="{left + n * step - 14:.1f}" y="{height - bottom + 16}" '
                f'font-size="11">{escape(label)}</text>'
            )
    for name, color, line in series:
        runs: list[list[str]] = [[]]
        for n, value in enumerate(line):
            if value is None:
                runs.append([])
                continue
            px, py = left + n * step, y_of(value)
            runs[-1].append(f"{px:.1f},{py:.1f}")
            parts.append(
                f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}">'
                f"<title>{escape(name)} {escape(labels[n])}: {escape(tick(value))}</title>"
                "</circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline class="line" fill="none" stroke="{color}" stroke-width="2" '
                    f'points="{" ".join(run)}"/>'
                )
    parts.append("</svg>")
    return "".join(parts)


def heat_table(
    heading: str,
    columns: Sequence[str],
    rows: Sequence[tuple[str, str, Sequence[tuple[float | None, str]]]],
) -> str:
    """A cohort table: (row label, size, (share, text) per column) per row; each cell is
    shaded by its share (0-1), an empty share leaves it blank."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for label, size, cells in rows:
        tds = []
        for share, text in cells:
            if share is None:
                tds.append(f"<td>{escape(text)}</td>")
                continue
            alpha = max(0.06, min(share, 1.0))
            tds.append(
                f'<td class="heat" style="background:rgba(52,120,246,{alpha:.2f})">'
                f"{escape(text)}</td>"
            )
        body.append(f"<tr><td>{escape(label)}</td><td>{escape(size)}</td>{''.join(tds)}</tr>")
    return (
        f'<table class="cohorts"><caption>{escape(heading)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


MINI_APP_SCRIPT = """
(function () {
  var status = document.getElementById('status');
  var hash = new URLSearchParams(location.hash.slice(1));
  var data = hash.get('tgWebAppData') ||
    (window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData) || '';
  if (!data) { status.textContent = status.dataset.missing; return; }
  fetch('auth', {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/x-www-form-urlencoded'},
    body: 'init_data=' + encodeURIComponent(data)
  }).then(function (response) {
    if (response.ok) { location.replace('./'); return; }
    status.textContent = status.dataset.refused;
  }).catch(function () { status.textContent = status.dataset.refused; });
})();
"""


def mini_app_page(lang: str) -> str:
    """The page Telegram opens as the Mini App: it sends the signed initData to sign in."""
    heading = escape(_("Community dashboard"))
    signing_in = escape(_("Signing in…"))
    missing = _("Open this page from the bot: send /dashboard.")
    refused = _(
        "Telegram could not confirm who you are. Close and open the dashboard again from the bot."
    )
    return (
        f'<!doctype html><html lang="{escape(lang.replace("_", "-"))}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{heading}</title><style>{STYLE}</style></head><body>"
        f"<main><h2>{heading}</h2>"
        f'<p id="status" data-missing="{escape(missing)}" data-refused="{escape(refused)}">'
        f"{signing_in}</p></main><script>{MINI_APP_SCRIPT}</script></body></html>"
    )


# The keeper's Mini App page: scan a member's pickup QR code with Telegram's own scanner (the
# Mini App events web_app_open_scan_qr_popup / qr_text_received, posted the way Telegram's
# clients take them, so no script is fetched from the internet), or type the code; either is
# posted with the signed initData to /dashboard/pickup, which answers with what to say.
KEEPER_SCRIPT = """
(function () {
  var result = document.getElementById('result');
  var hash = new URLSearchParams(location.hash.slice(1));
  var data = hash.get('tgWebAppData') ||
    (window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData) || '';
  function say(text, ok) { result.textContent = text; result.className = ok ? 'ok' : 'bad'; }
  if (!data) { say(result.dataset.missing, false); }
  function post(type, payload) {
    var body = JSON.stringify(payload || {});
    if (window.TelegramWebviewProxy) { window.TelegramWebviewProxy.postEvent(type, body); return; }
    var message = JSON.stringify({eventType: type, eventData: payload || {}});
    window.parent.postMessage(message, '*');
  }
  var token = '';  // the initData is sent once, for a token the next posts carry
  function redeem(code) {
    var who = token ? 'token=' + encodeURIComponent(token)
      : 'init_data=' + encodeURIComponent(data);
    fetch('pickup', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: who + '&code=' + encodeURIComponent(code)
    }).then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.token) { token = answer.token; }
        say(answer.message || result.dataset.missing, answer.ok);
      })
      .catch(function () { say(result.dataset.failed, false); });
  }
  function received(type, payload) {
    if (type === 'qr_text_received' && payload && payload.data) {
      post('web_app_close_scan_qr_popup');
      redeem(payload.data);
    }
  }
  window.Telegram = window.Telegram || {};
  window.Telegram.WebView = window.Telegram.WebView || {};
  window.Telegram.WebView.receiveEvent = received;
  window.addEventListener('message', function (event) {
    try { var m = JSON.parse(event.data); received(m.eventType, m.eventData); } catch (e) {}
  });
  document.getElementById('scan').addEventListener('click', function () {
    post('web_app_open_scan_qr_popup', {text: result.dataset.prompt});
  });
  document.getElementById('typed').addEventListener('submit', function (event) {
    event.preventDefault();
    redeem(document.getElementById('code').value);
  });
})();
"""


# the keeper's page: the dashboard's style and its own (one constant: the CSP allows its hash)
KEEPER_STYLE = (
    STYLE + " #result.ok{color:#1a7f37} #result.bad{color:#b42318} button,input{font-size:1.1em;"
    "padding:.5em;margin:.3em 0}"
)


def keeper_page(lang: str) -> str:
    """The Mini App page a keeper confirms pickups on: scan the QR code, or type the code."""
    heading = escape(_("Confirm a pickup"))
    scan = escape(_("📷 Scan the member's QR code"))
    typed = escape(_("Or type the pickup code:"))
    confirm = escape(_("Confirm pickup"))
    prompt = escape(_("Point the camera at the member's pickup QR code"))
    missing = escape(_("Open this page from the bot: send /redeem."))
    failed = escape(_("The bot did not answer. Check the connection and try again."))
    return (
        f'<!doctype html><html lang="{escape(lang.replace("_", "-"))}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{heading}</title><style>{KEEPER_STYLE}</style></head><body>"
        f'<main><h2>{heading}</h2><p><button id="scan" type="button">{scan}</button></p>'
        f'<form id="typed"><label for="code">{typed}</label><br>'
        '<input id="code" name="code" autocomplete="off" autocapitalize="characters" '
        f'maxlength="16"> <button type="submit">{confirm}</button></form>'
        f'<p id="result" data-prompt="{prompt}" data-missing="{missing}" '
        f'data-failed="{failed}"></p></main><script>{KEEPER_SCRIPT}</script></body></html>'
    )
