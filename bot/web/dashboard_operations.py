"""The dashboard's operations pages: after-sales tickets, delivery (the ship list with
addresses is for staff only), reviews waiting for moderation, trials (and a trial's CSV),
memberships and the promotions calendar."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiohttp import web
from babel.numbers import format_decimal, format_percent
from markupsafe import Markup, escape

from bot.web import dashboard_html as html
from bot.web.dashboard_core import (
    EXPORT_ACTION,
    DashboardCore,
    View,
    asked_number,
    card_html,
    csv_headers,
    notes_then,
)
from bot.web.layout import render
from handlers.views.levels import level_name
from handlers.views.membership import (
    grant_text,
    plan_added_text,
    switched_off_text,
)
from handlers.views.perks import tier_label
from handlers.views.policy import KINDS
from handlers.views.product import photo_tag
from handlers.views.review import stats_line as review_stats_line
from handlers.views.stats import tickets_lines
from handlers.views.text import N_, format_money
from handlers.views.trial import reports_csv, summary_text
from models.community import LEVEL_CORE, LEVEL_VIP
from models.review import MEDIA_PHOTO
from services.ledger import STARS
from services.membership import (
    MAX_NAME,
    MAX_STARS,
    get_plan,
    list_plans,
    plan_payments,
)
from services.policy import KIND_BROADCAST, KIND_LEADER, GroupWeek, calendar
from services.review import (
    ModerationError,
    pending_reviews,
    review_stats,
)
from services.ticket import ticket_photos, ticket_stats
from services.trial import (
    TrialError,
    list_trials,
    report_photos,
    report_rows,
    trial_summary,
)
from services.validation import (
    number,
    shown,
)

# labels that sat inside f-strings, where Babel's extraction does not look (so until the
# templates they were never translated)
NO_OPEN_GROUP = N_("No open group yet.")
NOTHING_THIS_WEEK = N_("Nothing this week.")
REVIEWS_SHOWN = 20  # waiting reviews on the reviews page (the oldest)


def _one_place(value: float, locale: str) -> str:
    """An average to one decimal place, as the reader's language writes it."""
    return format_decimal(round(value, 1), format="0.0", locale=locale)


class OperationsPages(DashboardCore):
    """The operations pages."""

    async def tickets(self, _request: web.Request, view: View) -> tuple[str, str]:
        """After-sales tickets: the period's figures, then the queue (open tickets first, the
        most urgent on top) and the tickets opened in the period."""
        async with self.reads() as session:
            figures = await ticket_stats(
                session,
                start=view.period.start,
                end=view.period.end,
                communities=view.scope,
                now=self.now(),
            )
        lines = [card_html(line.strip()) for line in tickets_lines(figures, view.locale)]
        note = _(
            "Open tickets stay listed until they are closed; answer and close them in the "
            "bot with /ticket_say, /ticket_refund, /ticket_coupon, /ticket_reship or "
            "/ticket_decline."
        )
        table = await self._table(view, "tickets", _("After-sales tickets"))
        async with self.reads() as session:
            photos = await ticket_photos(session, communities=view.scope)
        gallery = html.photo_gallery(
            _("Photos on open tickets"),
            [
                (
                    f"ticket-photos/{p.message_id}-{photo_tag(p.file_id)}.jpg",
                    _("Ticket #{id}").format(id=p.ticket_id),
                )
                for p in photos
            ],
        )
        body = render(
            "tickets.html",
            note=note,
            lines=lines,
            gallery=Markup(gallery),  # the photos and the table: HTML from templates
            table=Markup(table),
        )
        return _("After-sales tickets"), body

    async def delivery(self, request: web.Request, view: View) -> tuple[str, str]:
        """Delivery orders: to ship, shipped and delivered; staff also get the ship list with
        the addresses and the form that marks an order shipped."""
        title = _("Delivery")
        table = await self._table(view, "deliveries", _("Delivery orders"))
        if not view.reader.staff:
            note = _(
                "Delivery orders of your groups. Addresses are kept for brand staff, who "
                "ship the orders."
            )
            return title, notes_then([note], table)
        notes = [
            _(
                "Paid delivery orders stay on the ship list until they are shipped. Mark one "
                "shipped with its tracking number below (or /ship in the bot): the member is "
                "told."
            )
        ]
        done = asked_number(request, "shipped")
        if done is not None:
            notes.append(_("Order #{id} shipped. The member was told.").format(id=done))
        ship_list = await self._table(view, "shiplist", _("Ship list"))
        return title, notes_then(notes, html.ship_form(), ship_list, table)

    async def reviews(self, request: web.Request, view: View) -> tuple[str, str]:
        """Reviews waiting for moderation, oldest first, with their photos and the form that
        approves or rejects each (staff: every group's; a leader: their groups')."""
        async with self.reads() as session:
            try:
                waiting, total = await pending_reviews(
                    session,
                    moderator_id=view.reader.member_id,
                    staff=view.reader.staff,
                    limit=REVIEWS_SHOWN,
                    communities=view.scope,
                )
            except ModerationError:
                waiting, total = [], 0
            figures = await review_stats(
                session, start=view.period.start, end=view.period.end, scope=view.scope
            )
        groups = dict(view.communities)
        cards = [
            html.ReviewCard(
                order_id=r.order_id,
                member=r.member_name,
                title=r.title,
                group=groups.get(r.chat_id) or str(r.chat_id),
                rating=r.rating,
                comment=r.comment,
                photos=tuple(
                    f"review-photos/{r.order_id}-{place}-{photo_tag(file_id)}.jpg"
                    for place, (kind, file_id) in enumerate(r.media, start=1)
                    if kind == MEDIA_PHOTO
                ),
                videos=sum(1 for kind, _file in r.media if kind != MEDIA_PHOTO),
            )
            for r in waiting
        ]
        done = []
        for decision, text in (
            ("approve", _("Review #{id} approved. The member was told.")),
            ("reject", _("Review #{id} rejected. The member was told why.")),
        ):
            decided = asked_number(request, decision)
            if decided is not None:
                done = [text.format(id=decided)]
        note = ngettext(
            "{count} review is waiting; the oldest come first. Approved reviews show on "
            "the product; a photo review earns its points once.",
            "{count} reviews are waiting; the oldest come first. Approved reviews show on "
            "the product; a photo review earns its points once.",
            total,
        ).format(count=total)
        body = render(
            "reviews.html",
            done=done,
            rate=card_html(escape(review_stats_line(figures, view.locale))),
            note=note,
            waiting=Markup(html.review_cards(cards)),  # HTML from a template
        )
        return _("Reviews"), body

    async def trials(self, request: web.Request, view: View) -> tuple[str, str]:
        """Product trials (staff): each with its product, places, report rate, due date and
        average per aspect; ?trial=ID shows one with its reports, photos and CSV."""
        title = _("Trials")
        if not view.reader.staff:
            return title, notes_then([_("Trials are run by brand staff.")])
        asked = request.query.get("trial", "").strip()
        if asked:
            return await self._trial(request, view, number(asked.lstrip("#")))
        async with self.reads() as session:
            summaries = [await trial_summary(session, t.id) for t in await list_trials(session)]
        rows = []
        for summary in summaries:
            trial = summary.trial
            rate = summary.report_rate
            averages = " · ".join(
                f"{aspect} ⭐ {_one_place(summary.averages[aspect], view.locale)}"
                for aspect in trial.aspects
                if aspect in summary.averages
            )
            share = "—" if rate is None else format_percent(rate, "#,##0.#%", locale=view.locale)
            rows.append(
                (
                    trial.id,
                    (
                        shown(trial.title),
                        str(trial.places),
                        str(trial.taken),
                        f"{summary.reported}/{summary.accepted} ({share})",
                        trial.due_at.astimezone(view.zone).strftime("%Y-%m-%d %H:%M"),
                        averages or "—",
                    ),
                )
            )
        note = _("The newest trials first. Open one for its reports; create one with /trial_new.")
        return title, notes_then([note], html.trials_table(rows), html.trial_form())

    async def _trial(
        self, request: web.Request, view: View, trial_id: int | None
    ) -> tuple[str, str]:
        """One trial: its figures as /trial ID sends them, every invitation with its report
        and photos, and the CSV."""
        async with self.reads() as session:
            try:
                summary = await trial_summary(session, trial_id or 0)
            except TrialError:
                return _("Trials"), notes_then([_("There is no such trial.")])
            trial = summary.trial
            rows = await report_rows(session, trial.id)
            photos = await report_photos(session, trial.id)
        figures = summary_text(summary, view.locale, view.zone.key)  # Telegram HTML, escaped
        lines = [card_html(line) for line in figures.split("\n")]
        statuses = {
            "invited": _("no answer yet"),
            "accepted": _("accepted"),
            "declined": _("declined"),
            "missed": _("too late"),
        }
        reports = []
        for row in rows:
            parts = [shown(row.name) or str(row.member_id), statuses.get(row.status, row.status)]
            if row.order_id:
                parts.append(_("order #{id}").format(id=row.order_id))
            if row.reported_at is not None:
                moment = row.reported_at.astimezone(view.zone).strftime("%Y-%m-%d %H:%M")
                parts.append(_("reported {moment}").format(moment=moment))
            if row.good:
                parts.append(_("good report"))
            if row.shared:
                parts.append(_("shared as a review"))
            reports.append(
                html.ReportCard(
                    head=" · ".join(parts),
                    ratings=" · ".join(
                        f"{aspect} {'⭐' * row.ratings[aspect]}"
                        for aspect in trial.aspects
                        if aspect in row.ratings
                    ),
                    words=row.report,
                    photos=tuple(
                        f"trial-photos/{trial.id}-{row.member_id}-{place}-{photo_tag(file_id)}.jpg"
                        for place, file_id in photos.get(row.member_id, [])
                    ),
                )
            )
        invited = asked_number(request, "invited")
        if invited is not None:
            created = _("Trial #{id} created; invited in private: {invited}.").format(
                id=trial.id, invited=invited
            )
            lines.insert(0, card_html(escape(created)))
        # the reports: HTML from a template
        then = Markup(html.report_cards(reports, f"csv/trial?trial={trial.id}"))
        body = render("cards_then.html", lines=lines, then=then)
        return _("Trial #{id}: {title}").format(id=trial.id, title=trial.title), body

    async def memberships(self, request: web.Request, view: View) -> tuple[str, str]:
        """Paid membership plans (staff): price, grant, active members, this month's renewals
        and Stars booked, and a button that switches a plan off."""
        title = _("Memberships")
        if not view.reader.staff:
            return title, notes_then([_("Membership plans are run by brand staff.")])
        now = self.now().astimezone(view.zone)
        first = datetime.combine(now.date().replace(day=1), time(), tzinfo=view.zone)
        async with self.reads() as session:
            plans = await list_plans(session)
            paid = await plan_payments(session, start=first, end=now + timedelta(seconds=1))
            switched = asked_number(request, "off")
            done = await get_plan(session, switched) if switched is not None else None
            added = asked_number(request, "added")
            new = await get_plan(session, added) if added is not None else None
        rows = []
        for plan in plans:
            month = paid.get(plan.id)
            rows.append(
                html.PlanRow(
                    plan_id=plan.id,
                    cells=(
                        shown(plan.name),
                        format_money(plan.stars, STARS, view.locale),
                        Markup(grant_text(plan)),  # escaped for Telegram's HTML, so for the page
                        _("for sale") if plan.active else _("switched off"),
                        str(plan.members),
                        str(month.renewals if month else 0),
                        str(month.stars if month else 0),
                    ),
                    active=plan.active,
                )
            )
        told = []  # the bot's own sentences: Telegram's HTML, its text escaped
        if done is not None:
            told.append(Markup(switched_off_text(done)))
        if new is not None:
            told.append(Markup(plan_added_text(new, view.locale)))
        grants = [
            (f"tier={tier.code}", _("tier {tier}").format(tier=tier_label(tier.code, tier.name)))
            for tier in view.tiers
            if tier.rank > 0
        ]
        grants += [
            (f"level={code}", _("entry to groups of level {level}").format(level=level_name(code)))
            for code in (LEVEL_VIP, LEVEL_CORE)
        ]
        note = _(
            "Renewals and Stars count from the first of this month ({zone}). Switching a "
            "plan off stops its sale and its renewals; its members keep it until their "
            "paid month ends and are told."
        ).format(zone=view.zone.key)
        form = html.plan_form(grants, name_size=MAX_NAME, max_stars=MAX_STARS)
        return title, notes_then([note], html.plans_table(rows), form, told=told)

    async def promotions(self, request: web.Request, view: View) -> tuple[str, str]:
        """The promotions calendar: per group, one week (Monday to Sunday on the reader's
        clock) of what went out and what is scheduled, the cap use and the posts held by quiet
        hours; ?week=<a day> shows that day's week, with links to the weeks around it."""
        title = _("Promotions calendar")
        today = self.now().astimezone(view.zone).date()
        asked = request.query.get("week", "").strip()[:10]
        notes = []
        try:
            day = date.fromisoformat(asked) if asked else today
        except ValueError:
            day = today
            notes.append(_("I could not read that week, so this shows the current one."))
        monday = day - timedelta(days=day.weekday())
        start = datetime.combine(monday, time(0), tzinfo=view.zone)
        end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=view.zone)
        tick = timedelta(microseconds=1)  # the calendar's window is (start, end]
        async with self.reads() as session:
            weeks = await calendar(
                session,
                now=self.now(),
                rules=self.settings.pacing_rules(),
                default_timezone=self.settings.default_timezone,
                start=start - tick,
                end=end - tick,
                scope=view.scope,
            )
        links = [
            (f"?{urlencode(view.params(week=when.isoformat()))}", label)
            for label, when in (
                (_("← Previous week"), monday - timedelta(days=7)),
                (_("This week"), today),
                (_("Next week →"), monday + timedelta(days=7)),
            )
        ]
        heading = _("Week from {first} to {last} ({zone})").format(
            first=monday.isoformat(),
            last=(monday + timedelta(days=6)).isoformat(),
            zone=view.zone.key,
        )
        body = render(
            "promotions.html",
            problems=notes,
            heading=heading,
            links=links,
            weeks=[_calendar_week(week, view.zone) for week in weeks],
            head=(_("When"), _("What"), _("Status")),
            no_group=_(NO_OPEN_GROUP),
            nothing=_(NOTHING_THIS_WEEK),
        )
        return title, body

    async def _trial_csv(self, request: web.Request, view: View) -> web.StreamResponse:
        """GET /dashboard/csv/trial?trial=ID: a trial's invitations and reports, as /trial ID
        sends them; staff only, audited."""
        trial_id = asked_number(request, "trial")
        if not view.reader.staff:
            await self._audit(view.reader.member_id, EXPORT_ACTION, False, f"trial {trial_id}")
            raise web.HTTPNotFound()
        async with self.reads() as session:
            try:
                summary = await trial_summary(session, trial_id or 0)
            except TrialError:
                raise web.HTTPNotFound() from None
            rows = await report_rows(session, summary.trial.id)
        detail = f"trial #{summary.trial.id}"
        await self._audit(view.reader.member_id, EXPORT_ACTION, True, detail, "staff")
        return web.Response(
            body=reports_csv(summary.trial, rows),
            headers=csv_headers(f"trial_{summary.trial.id}.csv"),
        )


def _calendar_week(week: GroupWeek, zone: ZoneInfo) -> dict[str, object]:
    """One group's week on the promotions calendar: its name, the cap use, and each post's
    time, what it is and its status."""
    counted_posts = [p for p in week.posts if p.kind != KIND_LEADER]
    use = ngettext(
        "{used} of {cap} promotion this week",
        "{used} of {cap} promotions this week",
        week.cap,
    ).format(used=len(counted_posts), cap=week.cap)
    rows = []
    for post in week.posts:
        what = _(KINDS.get(post.kind, KINDS[KIND_BROADCAST])).format(id=post.ref)
        if post.sent:
            status = _("sent")
        elif post.quiet:
            status = _("scheduled, held by quiet hours")
        else:
            status = _("scheduled")
        when = post.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        rows.append((when, what, status))
    name = shown(week.title) or str(week.chat_id)
    return {"chat_id": week.chat_id, "name": name, "use": use, "rows": rows}
