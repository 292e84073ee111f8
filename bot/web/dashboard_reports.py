"""The dashboard's report pages: overview, communities (with their levels), group-buys,
members, ledger, broadcasts (with their A/B tests), co-creation, a member's statement (and its
CSV), rewards to hand over and the signed-in sessions."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from aiogram.utils.i18n import gettext as _
from aiohttp import web
from babel.numbers import format_decimal, format_percent
from markupsafe import Markup

from bot.web import dashboard_charts as charts
from bot.web import dashboard_html as html
from bot.web import layout
from bot.web.dashboard_core import (
    EXPORT_ACTION,
    PAGE_ROWS,
    DashboardCore,
    View,
    asked_leader,
    asked_number,
    card_html,
    csv_headers,
    notes_then,
)
from bot.web.layout import render
from handlers.views.levels import level_name, level_set_text, rule_text
from handlers.views.perks import tier_label
from handlers.views.statement import statement_lines
from handlers.views.stats import DEFINITIONS, detailed, money_text, rate_text
from handlers.views.text import N_
from models.community import LEVELS
from services.attribution import PromotionResult, broadcast_result, recent_tests
from services.dashboard import (
    open_sessions,
)
from services.levels import LevelError, group_levels, level_of
from services.member import MemberView, find_member, get_member
from services.statement import (
    ROW_GROUPBUY,
    ROW_OTHER,
    ROW_TOTAL,
    STATEMENT_COLUMNS,
    leader_statement,
    statement_csv,
    statement_filename,
    statement_people,
    statement_rows,
)
from services.tables import TABLES, community_rows
from services.validation import (
    shown,
)

# how a statement row reads on its page (the CSV keeps the codes)
ROW_LABELS = {
    ROW_TOTAL: N_("Total"),
    ROW_GROUPBUY: N_("Group-buy"),
    ROW_OTHER: N_("Orders outside group-buys"),
}


def _share(count: int, total: int, locale: str) -> str:
    """A count with its share of the total as the reader's language writes it: "3 (60%)" in
    English, "3（60%）" in Chinese."""
    # Translators: a count and its share of the total, like 3 (60%)
    return _("{count} ({share})").format(
        count=format_decimal(count, locale=locale),
        share=format_percent(Decimal(count) / total, locale=locale),
    )


class ReportPages(DashboardCore):
    """The report pages."""

    async def overview(self, _request: web.Request, view: View) -> tuple[str, str]:
        report = await self._report(view)
        figures = report.overall
        lines = [
            card_html(line)
            for _key, line in detailed(
                figures, view.locale, whole_brand=view.scope is None, currency=report.currency
            )
        ]
        currency = report.currency or ""
        days = charts.columns_svg(
            _("GMV per day ({currency})").format(currency=currency or "—"),
            [
                (d.day.strftime("%m-%d"), d.gmv, money_text({currency: d.gmv}, view.locale))
                for d in report.days
            ],
            color="#3478f6",
        )
        orders = charts.columns_svg(
            _("Paid orders per day"),
            [(d.day.strftime("%m-%d"), d.orders, str(d.orders)) for d in report.days],
            color="#ff9500",
        )
        funnel = figures.funnel
        steps = [
            (_("Cards posted"), funnel.cards),
            (_("Joins"), funnel.joins),
            (_("Orders paid"), funnel.paid),
            (_("Picked up"), funnel.picked_up),
        ]
        funnel_chart = charts.bars_svg(
            _("Funnel"), [(label, value, str(value)) for label, value in steps]
        )
        heading = _("From {first} to {last} ({zone})").format(
            first=view.period.first.isoformat(),
            last=view.period.last.isoformat(),
            zone=view.zone.key,
        )
        body = render(
            "overview.html",
            heading=heading,
            lines=lines,
            days=Markup(days),  # the charts are HTML built from escaped text
            orders=Markup(orders),
            funnel=Markup(funnel_chart),
        )
        return _("Overview"), body

    async def communities(self, request: web.Request, view: View) -> tuple[str, str]:
        """Each group's figures; for staff, also each group's level and who may join it, with
        a form that changes them as /group_level does."""
        report = await self._report(view)
        currency = report.currency or ""
        ranked = sorted(
            report.communities, key=lambda f: (-f.gmv.get(currency, 0), f.title, f.community_id)
        )
        chart = charts.bars_svg(
            _("GMV by group ({currency})").format(currency=currency or "—"),
            [
                (
                    shown(f.title) or str(f.community_id),
                    f.gmv.get(currency, 0),
                    money_text({currency: f.gmv.get(currency, 0)}, view.locale),
                )
                for f in ranked
            ],
        )
        formation = charts.bars_svg(
            _("Group-buy formation rate by group"),
            [
                (
                    shown(f.title) or str(f.community_id),
                    f.formation.bps or 0,
                    rate_text(f.formation, view.locale),
                )
                for f in ranked
            ],
            color="#34a853",
        )
        rows = list(community_rows(report))  # the report above, not computed a second time
        table = await self._table(
            view, "communities", _("Communities"), fetched=(rows[:PAGE_ROWS], len(rows) > PAGE_ROWS)
        )
        levels = await self._levels(request, view) if view.reader.staff else ""
        body = render(
            "communities.html",
            levels=Markup(levels),  # the forms, the charts and the table: HTML from templates
            chart=Markup(chart),
            formation=Markup(formation),
            definition=_(DEFINITIONS["formation"]),
            table=Markup(table),
        )
        return _("Communities"), body

    async def _levels(self, request: web.Request, view: View) -> str:
        """Staff's level forms, one per group the bot is in, after the confirmation of the
        change just made (?level_set=GROUP)."""
        ids = [i for i, _title in view.communities if view.scope is None or i in view.scope]
        asked = asked_number(request, "level_set", sign=True)
        async with self.reads() as session:
            levels = await group_levels(session, community_ids=ids)
            done = None
            if asked is not None:
                try:
                    done = await level_of(session, community_id=asked)
                except LevelError:
                    done = None
        choices = [("invite", _("Invitation only")), ("paid", _("Paid members of this level"))]
        choices += [
            (tier.code, _("Tier {tier} and above").format(tier=tier_label(tier.code, tier.name)))
            for tier in view.tiers
        ]
        rows = [
            html.LevelRow(
                group_id=level.community_id,
                name=shown(level.title) or str(level.community_id),
                # rule_text is escaped for Telegram's HTML, so for the page
                now=Markup("{} · {}").format(level_name(level.level), Markup(rule_text(level))),
                level=level.level,
                who=level.tier.code if level.tier is not None else level.join_rule or "invite",
            )
            for level in levels
        ]
        # the bot's own sentence, Telegram's HTML with its text escaped
        told = Markup(level_set_text(done)) if done is not None else None
        return html.level_forms(
            rows, levels=[(code, level_name(code)) for code in LEVELS], choices=choices, told=told
        )

    async def groupbuys(self, _request: web.Request, view: View) -> tuple[str, str]:
        fetched = await self._rows(view, "groupbuys")
        columns = TABLES["groupbuys"].columns
        ident, title, joined, minimum = (
            columns.index(c) for c in ("groupbuy_id", "title", "participants", "min_count")
        )
        chart = charts.bars_svg(
            _("Participants of each group-buy (of its minimum)"),
            [
                (
                    f"#{row[ident]} {row[title]}",
                    int(str(row[joined])),
                    f"{row[joined]} / {row[minimum]}",
                )
                for row in fetched[0][:20]
            ],
            color="#34a853",
        )
        table = await self._table(view, "groupbuys", _("Group-buys"), fetched=fetched)
        body = render(
            "chart_and_tables.html",
            ident="chart-groupbuys",
            chart=Markup(chart),  # the chart and the table: HTML from templates
            parts=[Markup(table)],
        )
        return _("Group-buys"), body

    async def members(self, request: web.Request, view: View) -> tuple[str, str]:
        search = request.query.get("q", "").strip()[:64]
        return _("Members"), await self._table(view, "members", _("Members"), search)

    async def ledger(self, _request: web.Request, view: View) -> tuple[str, str]:
        orders = await self._table(view, "orders", _("Orders"))
        entries = await self._table(view, "ledger", _("Ledger entries"))
        return _("Ledger"), orders + entries

    async def broadcasts(self, _request: web.Request, view: View) -> tuple[str, str]:
        fetched = await self._rows(view, "broadcasts")
        columns = TABLES["broadcasts"].columns
        ident, sent, total = (columns.index(c) for c in ("broadcast_id", "sent", "recipients"))
        chart = charts.bars_svg(
            _("Messages sent of each broadcast (of its recipients)"),
            [
                (f"#{row[ident]}", int(str(row[sent])), f"{row[sent]} / {row[total]}")
                for row in fetched[0][:20]
            ],
            color="#ff9500",
        )
        table = await self._table(view, "broadcasts", _("Broadcasts"), fetched=fetched)
        tests = await self._ab_tests()
        body = render(
            "chart_and_tables.html",
            ident="chart-broadcasts",
            chart=Markup(chart),  # the chart, the A/B tests and the table: HTML from templates
            parts=[
                Markup(html.ab_tests(tests, view.locale, csv_href="csv/abtests")),
                Markup(table),
            ],
        )
        return _("Broadcasts"), body

    async def _ab_tests(self) -> list[PromotionResult]:
        """The newest broadcasts' A/B tests, as the Broadcasts page and its CSV show them."""
        now = self.runtime.clock()
        async with self.reads() as session:
            return [
                found
                for ident in await recent_tests(session)
                if (found := await broadcast_result(session, broadcast_id=ident, now=now))
            ]

    async def cocreation(self, _request: web.Request, view: View) -> tuple[str, str]:
        polls: dict[int, list[tuple[object, ...]]] = {}
        async with self.reads() as session:
            async for row in TABLES["polls"].rows(session, view.query()):
                polls.setdefault(int(str(row[0])), []).append(row)
                if len(polls) > 12:
                    break
        drawn = []
        for options in list(polls.values())[:12]:
            question = str(options[0][2])
            voters = int(str(options[0][6]))
            total = sum(int(str(o[9])) for o in options) or 1
            drawn.append(
                charts.bars_svg(
                    _("{question} (voters: {voters})").format(question=question, voters=voters),
                    [
                        (
                            f"{o[7]}. {o[8]}",
                            int(str(o[9])),
                            _share(int(str(o[9])), total, view.locale),
                        )
                        for o in options
                    ],
                    color="#af52de",
                )
            )
        report = await self._report(view)
        figures = report.overall
        lines = [
            card_html(line)
            for key, line in detailed(figures, view.locale, whole_brand=view.scope is None)
            if key in ("participation", "suggestions", "nps")
        ]
        body = render(
            "cocreation.html",
            lines=lines,
            charts=[Markup(chart) for chart in drawn],  # the charts and tables: templates' HTML
            polls=Markup(await self._table(view, "polls", _("Polls"))),
            nps=Markup(await self._table(view, "nps", _("NPS by group"))),
        )
        return _("Co-creation"), body

    async def _statement_of(self, request: web.Request, view: View) -> MemberView | None:
        """Whose statement the reader asks for: a leader their own (anyone else's is refused
        with 403), staff anyone they name (None: nobody named yet, or nobody by that name)."""
        asked = asked_leader(request)
        async with self.reads() as session:
            if not view.reader.staff:
                own = await get_member(session, view.reader.member_id)
                found = await find_member(session, asked) if asked else own
                if found is None or own is None or found.id != own.id:
                    raise web.HTTPForbidden(
                        text=layout.message_page(
                            _("Not your statement"),
                            _("You can see your own statement only."),
                            view.locale,
                        ),
                        content_type="text/html",
                    )
                return own
            return await find_member(session, asked) if asked else None

    async def statement(self, request: web.Request, view: View) -> tuple[str, str]:
        """A leader's statement: their own for a leader; staff pick anyone (a list of the
        people with cash, commission or group-buys in the period)."""
        target = await self._statement_of(request, view)
        params = view.params()
        if target is None:
            async with self.reads() as session:
                people = await statement_people(session, period=view.period)
            asked = asked_leader(request)
            note = (
                _("I do not know that member. Use their @username or their numeric id.")
                if asked
                else _("Leaders with group-buys, cash or commission in this period:")
            )
            body = render(
                "statement_people.html",
                note=note,
                people=[
                    (
                        f"statement?{urlencode({**params, 'leader': str(ident)})}",
                        shown(name),
                        username,
                        ident,
                    )
                    for ident, name, username in people
                ],
                nothing=_("Nothing in this period."),
            )
            return _("Statement"), body
        async with self.reads() as session:
            found = await leader_statement(session, leader_id=target.id, period=view.period)
        # Telegram's HTML as the bot builds it, its text escaped
        lines = [Markup(line) for line in statement_lines(found, target.display_name, view.locale)]
        rows = [
            (*row[:3], _(ROW_LABELS.get(str(row[3]), str(row[3]))), *row[4:])
            for row in statement_rows(found)
        ]
        table = html.table(
            name="statement",
            heading=_("Statement"),
            columns=STATEMENT_COLUMNS,
            rows=rows,
            more=False,
            csv_href="csv/statement?" + urlencode({**params, "leader": str(target.id)}),
            locale=view.locale,
            zone=view.zone,
            names=view.names,
        )
        return _("Statement"), render("cards_then.html", lines=lines, then=Markup(table))

    async def rewards(self, _request: web.Request, view: View) -> tuple[str, str]:
        """Physical rewards members wait for (staff mark them handed over with /fulfil)."""
        if not view.reader.staff:
            note = _("Rewards are handed over by brand staff.")
            return _("Rewards to hand over"), notes_then([note])
        note = _(
            "Every reward still to hand over, whenever it was redeemed. Mark one with /fulfil."
        )
        table = await self._table(view, "fulfilment", _("Rewards to hand over"))
        return _("Rewards to hand over"), notes_then([note], table)

    async def sessions(self, _request: web.Request, view: View) -> tuple[str, str]:
        """Who is signed in (staff sign anyone out here); everyone signs themselves out
        everywhere with the button at the top."""
        title = _("Sessions")
        yourself = _(
            "Sign out everywhere (top of the page) ends every session of yours, on every device."
        )
        if not view.reader.staff:
            return title, notes_then([yourself])
        async with self.reads() as session:
            signed_in = await open_sessions(session, now=self.now())
            names = {}
            for entry in signed_in:
                found = await get_member(session, entry.member_id)
                names[entry.member_id] = found.display_name if found else str(entry.member_id)
        rows = [(names[e.member_id], e.member_id, e.sessions, e.since, e.until) for e in signed_in]
        table = html.sessions_table(rows, view.zone)
        form = html.sign_out_form()
        return title, notes_then([yourself], form, table)

    async def _statement_csv(self, request: web.Request, view: View) -> web.StreamResponse:
        """GET /dashboard/csv/statement?leader=...: one leader's statement, audited."""
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            target = await self._statement_of(request, view)
        if target is None:
            raise web.HTTPNotFound()
        async with self.reads() as session:
            found = await leader_statement(session, leader_id=target.id, period=view.period)
        span = f"{view.period.first.isoformat()}_{view.period.last.isoformat()}"
        detail = f"statement {span} leader={target.id}"
        await self._audit(view.reader.member_id, EXPORT_ACTION, True, detail, "leader")
        return web.Response(
            body=statement_csv(found), headers=csv_headers(statement_filename(found))
        )
