"""The web dashboard, served under /dashboard by the bot's own web server.

Sign-in: a one-time link from /dashboard (GET /dashboard/login?token=...), or Telegram's Mini
App (GET /dashboard/app posts the signed initData to /dashboard/auth). Both open a session in
the store and set a cookie naming it; every other page and CSV answers 401 without one, and
403 to a member who is neither staff nor a leader. A leader's pages and CSVs hold only the
groups they lead (asking for another group is refused with 403). Every CSV download is written
to the audit log. Sign-out is a POST (this browser, or everywhere); staff sign anyone out from
the sessions page. The browser-facing defences are in bot/web/dashboard_security.py.

The keeper's Mini App page (GET /dashboard/keeper) posts a scanned or typed pickup code with
the signed initData to POST /dashboard/pickup, which confirms the pickup (services/pickup/,
the same verb as /redeem) for keepers, leaders and staff: no cookie, the signature is the
sign-in, checked on every post.

The delivery page lists delivery orders (to ship, shipped, delivered); staff also read the ship
list with the addresses (leaders never do: it is not theirs to read) and mark an order shipped
with its tracking number (POST /dashboard/ship, the same verb as /ship, audited; the member is
told once it committed). Photos members send on tickets are shown on the tickets page through
GET /dashboard/ticket-photos/<message id>-<tag>.jpg, signed in and for the ticket's groups only:
the bot fetches them from Telegram, so no Telegram file address (it holds the bot's token)
reaches a browser.

The reviews page lists the reviews waiting for moderation with their photos (GET
/dashboard/review-photos/<order>-<place>-<tag>.jpg, for the review's groups only); staff, and a
leader for their groups, approve or reject one with a reason (POST /dashboard/review, the same
verb as the bot's buttons, audited; the member is told, with the reason, once it committed).

Here the routes are put together and mounted; they live by feature beside this module:
dashboard_core (the reader, the layout, the shared steps), dashboard_signin,
dashboard_actions (forms and photos), dashboard_reports, dashboard_operations and
dashboard_metrics. Their HTML is rendered from the templates in bot/web/templates/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from aiogram.utils.i18n import gettext as _
from aiohttp import web

from bot.app import Runtime
from bot.web.dashboard_actions import ActionRoutes
from bot.web.dashboard_core import (
    EXPORT_ACTION,
    PREFIX,
    View,
    csv_headers,
    exported_groups,
)
from bot.web.dashboard_metrics import MetricsPage
from bot.web.dashboard_operations import OperationsPages
from bot.web.dashboard_reports import ReportPages
from bot.web.dashboard_security import (
    dashboard_headers,
)
from bot.web.dashboard_signin import SignInRoutes
from bot.web.photos import PHOTOS, ProductPhotos, add_photos
from services.attribution import ab_tests_csv
from services.tables import STAFF_TABLES, TABLES, csv_chunks


class Dashboard(SignInRoutes, ActionRoutes, ReportPages, OperationsPages, MetricsPage):
    """The dashboard's handlers, bound to one runtime."""

    async def page(self, request: web.Request) -> web.StreamResponse:
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        name = request.match_info.get("page", "")
        render = self.PAGES.get(name)
        if render is None:
            raise web.HTTPNotFound()
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            title, body = await render(self, request, view)
            return self._respond(request, view, body, title)

    PAGES: ClassVar[
        dict[str, Callable[[Dashboard, web.Request, View], Awaitable[tuple[str, str]]]]
    ] = {
        "": ReportPages.overview,
        "communities": ReportPages.communities,
        "groupbuys": ReportPages.groupbuys,
        "members": ReportPages.members,
        "ledger": ReportPages.ledger,
        "broadcasts": ReportPages.broadcasts,
        "cocreation": ReportPages.cocreation,
        "metrics": MetricsPage.metrics,
        "statement": ReportPages.statement,
        "rewards": ReportPages.rewards,
        "sessions": ReportPages.sessions,
        "tickets": OperationsPages.tickets,
        "promotions": OperationsPages.promotions,
        "delivery": OperationsPages.delivery,
        "reviews": OperationsPages.reviews,
        "trials": OperationsPages.trials,
        "memberships": OperationsPages.memberships,
    }

    async def csv(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/csv/<table>: the whole table, streamed, and the export audited."""
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        name = request.match_info["table"]
        if name == "statement":
            return await self._statement_csv(request, view)
        if name == "metrics":
            return await self._metrics_csv(request, view)
        if name == "trial":
            return await self._trial_csv(request, view)
        if name == "abtests":
            await self._audit(view.reader.member_id, EXPORT_ACTION, True, "abtests", "leader")
            body = ab_tests_csv(await self._ab_tests())
            return web.Response(body=body, headers=csv_headers("abtests.csv"))
        table = TABLES.get(name)
        if table is None:
            raise web.HTTPNotFound()
        if name in STAFF_TABLES and not view.reader.staff:
            await self._audit(view.reader.member_id, EXPORT_ACTION, False, name)
            with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
                return self._message(
                    request,
                    403,
                    _("Not for you, sorry"),
                    _("Only brand staff read members' addresses."),
                )
        search = request.query.get("q", "").strip()[:64] if name == "members" else ""
        span = f"{view.period.first.isoformat()}_{view.period.last.isoformat()}"
        detail = f"{name} {span} groups={exported_groups(view)}"
        if search:
            detail += f" q={search}"
        await self._audit(view.reader.member_id, EXPORT_ACTION, True, detail, "leader")
        response = web.StreamResponse(headers=csv_headers(f"{name}_{span}.csv"))
        await response.prepare(request)
        async with self.reads() as session:
            async for chunk, _rows in csv_chunks(session, table, view.query(search)):
                await response.write(chunk)
        await response.write_eof()
        return response


async def _to_overview(_request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": f"{PREFIX}/"})


def add_dashboard(app: web.Application, runtime: Runtime) -> None:
    """Mount the dashboard's routes under /dashboard on the bot's web server."""
    # product photos for Telegram invoices: public, no sign-in (Telegram fetches them)
    photos = ProductPhotos(bot=runtime.bot, sessions=runtime.sessions)
    dashboard = Dashboard(runtime, photos)
    app.router.add_get(f"{PREFIX}/login", dashboard.login)
    app.router.add_get(f"{PREFIX}/app", dashboard.mini_app)
    app.router.add_post(f"{PREFIX}/auth", dashboard.auth)
    app.router.add_post(f"{PREFIX}/logout", dashboard.logout)
    app.router.add_get(f"{PREFIX}/logout", dashboard.logout_link)
    app.router.add_post(f"{PREFIX}/sessions", dashboard.end_sessions)
    app.router.add_get(f"{PREFIX}/keeper", dashboard.keeper)
    app.router.add_post(f"{PREFIX}/pickup", dashboard.pickup)
    app.router.add_post(f"{PREFIX}/ship", dashboard.ship)
    app.router.add_post(f"{PREFIX}/review", dashboard.review)
    app.router.add_post(f"{PREFIX}/membership-plan-off", dashboard.plan_off)
    app.router.add_post(f"{PREFIX}/membership-plan-add", dashboard.plan_add)
    app.router.add_post(f"{PREFIX}/group-level", dashboard.group_level)
    app.router.add_post(f"{PREFIX}/trial-new", dashboard.trial_new)
    app.router.add_get(
        f"{PREFIX}/review-photos/{{order_id:[0-9]+}}-{{position:[0-9]+}}-{{tag:[0-9a-f]{{16}}}}.jpg",
        dashboard.review_photo,
    )
    app.router.add_get(
        f"{PREFIX}/ticket-photos/{{message_id:[0-9]+}}-{{tag:[0-9a-f]{{16}}}}.jpg",
        dashboard.ticket_photo,
    )
    app.router.add_get(
        f"{PREFIX}/trial-photos/{{trial_id:[0-9]+}}-{{member_id:[0-9]+}}-{{position:[0-9]+}}"
        "-{tag:[0-9a-f]{16}}.jpg",
        dashboard.trial_photo,
    )
    app.router.add_get(f"{PREFIX}/csv/{{table}}", dashboard.csv)
    app.router.add_get(PREFIX, _to_overview)
    app.router.add_get(f"{PREFIX}/{{page:[a-z]*}}", dashboard.page)
    app[PHOTOS] = photos
    add_photos(app, photos, PREFIX)
    app.on_response_prepare.append(dashboard_headers(PREFIX))


def create_web_app(runtime: Runtime) -> web.Application:
    """The probes and the dashboard without the webhook (polling mode, the playground)."""
    from bot.web.health import add_observability

    app = web.Application()
    add_observability(app, runtime)
    add_dashboard(app, runtime)
    return app
