"""What every dashboard route shares: who is reading (the session cookie, the reader's groups,
period and language, as a View), the responses (the page layout, a message page, an audited
action), and the constants of the routes (the address prefix, the cookies, the audit actions).

The routes themselves are in the dashboard_* modules beside this one, each a mixin of
DashboardCore; bot/web/dashboard.py puts them together and mounts them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiohttp import web
from markupsafe import Markup

from bot.app import Runtime
from bot.web import dashboard_html as html
from bot.web import layout
from bot.web.dashboard_security import (
    LoginLimiter,
    UsedInitData,
    cross_site,
    origin_of,
)
from bot.web.layout import render
from bot.web.photos import ProductPhotos
from services.analytics import Scope, StatsReport, communities_in, stats_report
from services.audit import record_action
from services.dashboard import (
    Reader,
    SessionKey,
    open_session,
    reader_for,
    session_member,
)
from services.member import get_member
from services.period import InvalidPeriod, Period, parse_period
from services.tables import TABLES, Query
from services.tiers import TierView, list_tiers
from services.validation import (
    NumberRefused,
    header_value,
    number,
    shown,
    telegram_id,
)

PREFIX = "/dashboard"
COOKIE = "dashboard_session"
LANG_COOKIE = "dashboard_lang"
LOCALES = ("en", "zh_Hans", "zh_Hant")
PAGE_ROWS = 200  # rows of a table shown on a page; its CSV has every row
EXPORT_ACTION = "dashboard.export"
SIGN_IN_ACTION = "dashboard.sign_in"
REDEEM_ACTION = "pickup.redeem"
PICKUP_TOKEN_SECONDS = 15 * 60  # a keeper page's token lasts this long after its last post
SIGN_OUT_ACTION = "dashboard.sign_out"
SHIP_ACTION = "delivery.ship"
PLAN_OFF_ACTION = "membership.plan_off"
PLAN_ADD_ACTION = "membership.plan_add"  # as /membership_plan_add (services/membership.add_plan)
LEVEL_ACTION = "group.level_set"  # as /group_level (services/levels.set_level)
REVIEWS_SHOWN = 20  # waiting reviews on the reviews page (the oldest)


@dataclass(frozen=True, slots=True)
class View:
    """What one request reads: who, which groups, which period, in which language."""

    reader: Reader
    name: str
    locale: str
    zone: ZoneInfo
    period: Period
    period_text: str
    community: str
    scope: Scope
    communities: list[tuple[int, str]]
    tiers: tuple[TierView, ...]
    error: str

    @property
    def names(self) -> html.Names:
        """Group titles and tiers, to show names rather than ids on the pages."""
        return html.Names(
            groups={ident: title for ident, title in self.communities if title},
            tiers={tier.rank: tier for tier in self.tiers},
        )

    def query(self, search: str = "") -> Query:
        return Query(scope=self.scope, period=self.period, timezone=self.zone.key, search=search)

    def params(self, **extra: str) -> dict[str, str]:
        base = {"period": self.period_text, "community": self.community}
        return {k: v for k, v in {**base, **extra}.items() if v}


def notes_then(texts: list[str], *parts: str, told: Sequence[Markup] = ()) -> str:
    """A page of notes (text), then forms and tables (HTML from templates); `told`: the bot's
    own sentences about what was just done (Telegram's HTML, its text escaped), first."""
    return render("notes_then.html", done=told, texts=texts, parts=[Markup(p) for p in parts])


def card_html(line: str) -> Markup:
    """One metric line of /stats (bullet, name, value, definition), Telegram's HTML as the bot
    builds it (its text escaped), as a dashboard card's content: no bullet, lines broken."""
    # on str, not Markup: Markup.replace would escape the <br> it puts in
    return Markup(str(line).removeprefix("• ").replace("\n", "<br>"))


def exported_groups(view: View) -> str:
    """The groups an export covered, for its audit row: all, or their ids."""
    return "all" if view.scope is None else " ".join(str(g) for g in sorted(view.scope))


def csv_headers(filename: str) -> dict[str, str]:
    """A CSV download that no cache keeps."""
    return {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


def asked_number(request: web.Request, key: str, *, sign: bool = False) -> int | None:
    """A number the page's address carries (a plan or group just changed), or None when it
    holds none (or something else: a page never fails on a hand-edited address)."""
    try:
        return (telegram_id if sign else number)(request.query.get(key, "")[:32])
    except NumberRefused:
        return None


def asked_leader(request: web.Request) -> str:
    return request.query.get("leader", "").strip()[:64]


class DashboardCore:
    """The runtime the routes serve, and the steps every route shares."""

    def __init__(self, runtime: Runtime, photos: ProductPhotos | None = None) -> None:
        self.runtime = runtime
        # fetches a photo from Telegram once and keeps it (bot/web/photos.py): ticket photos too
        self.photos = photos or ProductPhotos(bot=runtime.bot, sessions=runtime.sessions)
        self.settings = runtime.settings
        self.key = SessionKey.for_token(runtime.bot.token)
        # pages and CSV streams only read: on SQLite they must not hold the bot's write lock
        self.reads = runtime.readers
        self.secure = self.settings.dashboard_base.startswith("https://")
        self.origin = origin_of(self.settings.dashboard_base)
        self.limiter = LoginLimiter(limit=self.settings.dashboard_login_limit, redis=runtime.redis)
        self.used_init_data = UsedInitData(redis=runtime.redis, sessions=runtime.sessions)

    def now(self) -> datetime:
        return self.runtime.clock()

    async def _signed_in(self, response: web.StreamResponse, member_id: int, via: str) -> None:
        """Open a session for the member (audited) and give the browser its cookie."""
        async with self.runtime.sessions() as session:
            cookie = await open_session(
                session,
                key=self.key,
                member_id=member_id,
                now=self.now(),
                hours=self.settings.dashboard_session_hours,
            )
            await record_action(
                session,
                actor_id=member_id,
                chat_id=None,
                action=SIGN_IN_ACTION,
                allowed=True,
                now=self.now(),
                detail=via,
            )
            await session.commit()
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=self.settings.dashboard_session_hours * 3600,
            path=PREFIX,
            httponly=True,
            secure=self.secure,
            # inside Telegram's web client the Mini App is a cross-site frame
            samesite="None" if self.secure else "Lax",
        )

    def _locale_of(self, request: web.Request, fallback: str) -> str:
        chosen = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or fallback
        return chosen if chosen in LOCALES else self.settings.default_locale

    def _message(self, request: web.Request, status: int, title: str, text: str) -> web.Response:
        return web.Response(
            text=layout.message_page(title, text),
            status=status,
            content_type="text/html",
            charset="utf-8",
        )

    async def _audit(
        self, member_id: int, action: str, allowed: bool, detail: str, required_role: str = ""
    ) -> None:
        async with self.runtime.sessions() as session:
            await record_action(
                session,
                actor_id=member_id,
                chat_id=None,
                action=action,
                allowed=allowed,
                now=self.now(),
                required_role=required_role,
                detail=detail,
            )
            await session.commit()

    async def _staff_only(
        self,
        request: web.Request,
        view: View,
        action: str,
        refusal: str,
        required_role: str = "staff",
    ) -> web.Response | None:
        """None for brand staff; for anyone else the attempt audited and the refusal page."""
        if view.reader.staff:
            return None
        await self._audit(
            view.reader.member_id, action, False, "dashboard: not staff", required_role
        )
        return self._message(request, 403, _("Not for you, sorry"), refusal)

    async def _staff_post(
        self, request: web.Request, action: str, refusal: str, required_role: str = "staff"
    ) -> View | web.Response:
        """A form POST only brand staff may send: its reader and filters, or the refusal page
        (cross-site; or not staff, audited under `action` and told `refusal`, a message id)."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            not_staff = await self._staff_only(request, view, action, _(refusal), required_role)
        return view if not_staff is None else not_staff

    def _too_many(self, request: web.Request) -> web.Response:
        response = self._message(
            request,
            429,
            _("Too many sign-in attempts"),
            _("Too many sign-in attempts from your network. Wait a minute and try again."),
        )
        response.headers["Retry-After"] = str(LoginLimiter.WINDOW)
        return response

    def _cross_site(self, request: web.Request) -> bool:
        return cross_site(request, public_origin=self.origin)

    def _refused_cross_site(self, request: web.Request) -> web.Response:
        return self._message(
            request,
            403,
            _("Refused"),
            _("This request came from another site. Use the buttons on the dashboard itself."),
        )

    async def _post_view(self, request: web.Request) -> View | web.Response:
        """A form POST's reader and filters, or the refusal to send instead: refused first
        when it came from another site (no session is looked up for it)."""
        if self._cross_site(request):
            with (
                self.runtime.i18n.context(),
                self.runtime.i18n.use_locale(
                    self._locale_of(request, self.settings.default_locale)
                ),
            ):
                return self._refused_cross_site(request)
        return await self._view(request)

    async def _photo(self, file_id: str) -> web.Response:
        """A Telegram photo fetched by the bot (no transaction open while fetching), never
        cached by the browser."""
        data = await self.photos.photo(file_id)
        if data is None:
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "60"})
        return web.Response(
            body=data,
            content_type="image/png" if data.startswith(b"\x89PNG") else "image/jpeg",
            headers={"Cache-Control": "private, no-store"},
        )

    # -- who is reading ----------------------------------------------------------------------

    async def _view(self, request: web.Request) -> View | web.Response:
        """The request's reader and filters, or the refusal to send instead."""
        cookie = header_value(request.cookies.get(COOKIE))
        session_id = self.key.session_id(cookie, now=self.now())
        member_id = None
        if session_id is not None:
            async with self.reads() as session:
                member_id = await session_member(session, session_id=session_id, now=self.now())
        fallback = self.settings.default_locale
        if member_id is None:
            with (
                self.runtime.i18n.context(),
                self.runtime.i18n.use_locale(self._locale_of(request, fallback)),
            ):
                return self._message(
                    request,
                    401,
                    _("Please sign in"),
                    _(
                        "Open the dashboard from the bot: send /dashboard in private for a "
                        "login link, or tap its Open dashboard button."
                    ),
                )
        async with self.reads() as session:
            reader = await reader_for(
                session, member_id=member_id, owner_ids=self.settings.owner_ids
            )
            member = await get_member(session, member_id)
            locale = self._locale_of(request, member.locale if member else fallback)
            zone = ZoneInfo((member.timezone if member else None) or self.settings.default_timezone)
            with self.runtime.i18n.context(), self.runtime.i18n.use_locale(locale):
                if reader is None:
                    return self._message(
                        request,
                        403,
                        _("Not for you, sorry"),
                        _("The dashboard is for brand staff and group leaders."),
                    )
                communities = await communities_in(session, reader.scope)
                tiers = await list_tiers(session)
                community = request.query.get("community", "").strip()
                scope = reader.scope
                if community:
                    if not community.lstrip("-").isdigit() or (
                        reader.scope is not None and int(community) not in reader.scope
                    ):
                        return self._message(
                            request,
                            403,
                            _("Not your group"),
                            _("You can only see the groups you lead."),
                        )
                    scope = frozenset({int(community)})
                today = self.now().astimezone(zone).date()
                period_text = request.query.get("period", "").strip()[:64]
                error = ""
                try:
                    period = parse_period(period_text, timezone=zone.key, today=today)
                except InvalidPeriod:
                    error = _("I could not read that period, so this shows the last 30 days.")
                    period_text = ""
                    period = parse_period("", timezone=zone.key, today=today)
        name = shown(member.first_name) if member else str(member_id)
        return View(
            reader=reader,
            name=name,
            locale=locale,
            zone=zone,
            period=period,
            period_text=period_text,
            community=community,
            scope=scope,
            communities=communities,
            tiers=tiers,
            error=error,
        )

    def _respond(self, request: web.Request, view: View, body: str, title: str) -> web.Response:
        here = request.match_info.get("page", "")
        response = web.Response(
            text=layout.page(
                title=title,
                here=here,
                body=html.filters(
                    period=view.period_text,
                    community=view.community,
                    communities=view.communities,
                    search=request.query.get("q", "") if here == "members" else None,
                    error=view.error,
                    leader=asked_leader(request)
                    if here == "statement" and view.reader.staff
                    else None,
                    groups=here != "statement",
                )
                + body,
                lang=view.locale,
                user=view.name,
                query=view.params(q=request.query.get("q", "")),
            ),
            content_type="text/html",
            charset="utf-8",
        )
        if request.query.get("lang") in LOCALES:
            response.set_cookie(
                LANG_COOKIE, request.query["lang"], path=PREFIX, max_age=365 * 86400
            )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _rows(
        self, view: View, name: str, search: str = ""
    ) -> tuple[list[tuple[object, ...]], bool]:
        """The first PAGE_ROWS rows of a table, and whether there are more."""
        rows: list[tuple[object, ...]] = []
        async with self.reads() as session:
            async for row in TABLES[name].rows(session, view.query(search)):
                if len(rows) == PAGE_ROWS:
                    return rows, True
                rows.append(row)
        return rows, False

    async def _table(
        self,
        view: View,
        name: str,
        heading: str,
        search: str = "",
        fetched: tuple[list[tuple[object, ...]], bool] | None = None,
    ) -> str:
        rows, more = fetched or await self._rows(view, name, search)
        params = view.params(q=search)
        return html.table(
            name=name,
            heading=heading,
            columns=TABLES[name].columns,
            rows=rows,
            more=more,
            csv_href=f"csv/{name}" + (f"?{urlencode(params)}" if params else ""),
            locale=view.locale,
            zone=view.zone,
            names=view.names,
        )

    async def _report(self, view: View) -> StatsReport:
        async with self.reads() as session:
            return await stats_report(
                session,
                period=view.period,
                timezone=view.zone.key,
                scope=view.scope,
                now=self.now(),
                default_currency=self.settings.tier_currency,
            )
