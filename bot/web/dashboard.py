"""The web dashboard, served under /dashboard by the bot's own web server.

Sign-in: a one-time link from /dashboard (GET /dashboard/login?token=...), or Telegram's Mini
App (GET /dashboard/app posts the signed initData to /dashboard/auth). Both open a session in
the store and set a cookie naming it; every other page and CSV answers 401 without one, and
403 to a member who is neither staff nor a leader. A leader's pages and CSVs hold only the
groups they lead (asking for another group is refused with 403). Every CSV download is written
to the audit log. Sign-out is a POST (this browser, or everywhere); staff sign anyone out from
the sessions page. The browser-facing defences are in bot/web/dashboard_security.py.

The keeper's Mini App page (GET /dashboard/keeper) posts a scanned or typed pickup code with
the signed initData to POST /dashboard/pickup, which confirms the pickup (services/pickup.py,
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
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.web_app import safe_parse_webapp_init_data
from aiohttp import web
from babel.numbers import format_decimal, format_percent

from bot.app import Runtime
from bot.web import dashboard_html as html
from bot.web.dashboard_security import (
    LoginLimiter,
    UsedInitData,
    client_address,
    cross_site,
    dashboard_headers,
    origin_of,
)
from bot.web.photos import PHOTOS, ProductPhotos, add_photos
from handlers.views.delivery import SHIPPED, refusal, shipped_notice
from handlers.views.levels import REFUSALS as LEVEL_REFUSALS
from handlers.views.levels import level_name, level_set_text, rule_text
from handlers.views.membership import PLAN_REFUSALS as MEMBERSHIP_REFUSALS
from handlers.views.membership import (
    cancel_subscription,
    grant_text,
    plan_added_text,
    switched_off_notices,
    switched_off_text,
)
from handlers.views.perks import tier_label
from handlers.views.pickup import picked_up_notice, redeem_error_text, redeemed_text
from handlers.views.policy import KINDS
from handlers.views.product import photo_tag
from handlers.views.review import MODERATION_ERRORS, moderation_notice
from handlers.views.review import stats_line as review_stats_line
from handlers.views.statement import statement_lines
from handlers.views.stats import DEFINITIONS, detailed, money_text, rate_text, tickets_lines
from handlers.views.text import N_, format_money
from handlers.views.trial import ERRORS as TRIAL_ERRORS
from handlers.views.trial import invitations, reports_csv, summary_text
from models.community import LEVEL_CORE, LEVEL_VIP, LEVELS
from models.review import MEDIA_PHOTO
from services.analytics import Ratio, Scope, StatsReport, communities_in, stats_report
from services.attribution import PromotionResult, ab_tests_csv, broadcast_result, recent_tests
from services.audit import record_action
from services.dashboard import (
    Reader,
    SessionKey,
    end_member_sessions,
    end_session,
    link_usable,
    open_session,
    open_sessions,
    reader_for,
    redeem_link,
    session_member,
    well_formed_link_token,
)
from services.delivery import DeliveryError, ship_order
from services.ledger import STARS
from services.levels import LevelError, group_levels, level_of, parse_level, parse_rule, set_level
from services.member import AmbiguousMember, MemberView, find_member, get_member
from services.membership import (
    MAX_NAME,
    MAX_STARS,
    MembershipError,
    add_plan,
    get_plan,
    list_plans,
    parse_grant,
    parse_stars,
    plan_payments,
    switch_off,
)
from services.metrics import (
    DEFAULT_WEEKS,
    LTV_DAYS,
    RETENTION_WEEKS,
    MetricsReport,
    Slice,
    metrics_csv,
    metrics_report,
)
from services.metrics import DEFINITIONS as METRIC_DEFINITIONS
from services.period import InvalidPeriod, Period, parse_period
from services.pickup import PickupError, Redeemed, redeem_code
from services.policy import KIND_BROADCAST, KIND_LEADER, calendar
from services.review import (
    NOTE_MAX,
    ModerationError,
    moderate,
    pending_reviews,
    review_photo,
    review_stats,
)
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
from services.tables import STAFF_TABLES, TABLES, Query, community_rows, csv_chunks
from services.ticket import ticket_photo, ticket_photos, ticket_stats
from services.tiers import TierView, list_tiers
from services.trial import (
    TrialError,
    list_trials,
    new_trial,
    report_photo,
    report_photos,
    report_rows,
    trial_summary,
)
from services.validation import (
    NumberRefused,
    header_value,
    number,
    shown,
    signed_query,
    telegram_id,
)

log = logging.getLogger(__name__)

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
# how a statement row reads on its page (the CSV keeps the codes)
ROW_LABELS = {
    ROW_TOTAL: N_("Total"),
    ROW_GROUPBUY: N_("Group-buy"),
    ROW_OTHER: N_("Orders outside group-buys"),
}


@dataclass(frozen=True, slots=True)
class SignedUser:
    """Who Mini App initData names, and the signature that proves it."""

    user_id: int
    digest: str  # the initData's `hash`: each signs in once
    signed_at: datetime


def web_app_user(init_data: str, *, token: str, now: datetime, max_age: int) -> SignedUser | None:
    """The Telegram user in Mini App initData signed with this bot's token no longer than
    `max_age` seconds ago; None when the signature, the age or the user is wrong."""
    if not init_data.isascii():  # Telegram sends it URL-encoded; anything else is forged
        return None
    try:
        data = safe_parse_webapp_init_data(token, init_data)
    except (ValueError, TypeError):
        return None
    signed = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
    age = (now - signed).total_seconds()
    if data.user is None or age > max_age or age < -60:
        return None
    return SignedUser(data.user.id, data.hash, signed)


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


def _share(count: int, total: int, locale: str) -> str:
    """A count with its share of the total as the reader's language writes it: "3 (60%)" in
    English, "3（60%）" in Chinese."""
    # Translators: a count and its share of the total, like 3 (60%)
    return _("{count} ({share})").format(
        count=format_decimal(count, locale=locale),
        share=format_percent(Decimal(count) / total, locale=locale),
    )


def _number_text(ratio: Ratio, locale: str) -> str:
    """A ratio as a decimal to one place ("2.5"), "—" when undefined."""
    fraction = ratio.fraction
    if fraction is None:
        return "—"
    return format_decimal(Decimal(round(fraction * 10)).scaleb(-1), "#,##0.0", locale=locale)


def _one_place(value: float, locale: str) -> str:
    """An average to one decimal place, as the reader's language writes it."""
    return format_decimal(round(value, 1), format="0.0", locale=locale)


def _card(line: str) -> str:
    """One metric line of /stats (bullet, name, value, definition) as a dashboard card."""
    return f'<div class="card">{line.removeprefix("• ").replace(chr(10), "<br>")}</div>'


Render = Callable[["Dashboard", web.Request, View], Awaitable[tuple[str, str]]]


class Dashboard:
    """The dashboard's handlers, bound to one runtime."""

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

    # -- signing in ------------------------------------------------------------------------

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
            text=html.message_page(title, text),
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

    async def login(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/login?token=...: a one-time link opens a session, once. Attempts
        are limited per address, a malformed token is refused without asking the store, and
        an unknown one is only read."""
        with (
            self.runtime.i18n.context(),
            self.runtime.i18n.use_locale(self._locale_of(request, self.settings.default_locale)),
        ):
            if not await self.limiter.allow(client_address(request)):
                return self._too_many(request)
            token = request.query.get("token", "")
            member_id = None
            if well_formed_link_token(token):
                async with self.reads() as session:
                    usable = await link_usable(session, token=token, now=self.now())
                if usable:
                    async with self.runtime.sessions() as session:
                        member_id = await redeem_link(session, token=token, now=self.now())
                        await session.commit()
            if member_id is None:
                return self._message(
                    request,
                    403,
                    _("This link no longer works"),
                    _(
                        "Login links work once and only for a few minutes. Send /dashboard to "
                        "the bot in private for a new one."
                    ),
                )
            response = web.Response(status=303, headers={"Location": f"{PREFIX}/"})
            await self._signed_in(response, member_id, "link")
            return response

    async def mini_app(self, request: web.Request) -> web.Response:
        """GET /dashboard/app: the page Telegram opens; its script signs in with initData."""
        with (
            self.runtime.i18n.context(),
            self.runtime.i18n.use_locale(self._locale_of(request, self.settings.default_locale)),
        ):
            return web.Response(
                text=html.mini_app_page(self._locale_of(request, self.settings.default_locale)),
                content_type="text/html",
                charset="utf-8",
            )

    async def auth(self, request: web.Request) -> web.Response:
        """POST /dashboard/auth with init_data: Telegram's signature opens a session, once per
        signed initData, from the dashboard's own page only."""
        if self._cross_site(request):
            return web.json_response({"error": "cross-site request refused"}, status=403)
        if not await self.limiter.allow(client_address(request)):
            return web.json_response(
                {"error": "too many sign-in attempts"},
                status=429,
                headers={"Retry-After": str(LoginLimiter.WINDOW)},
            )
        form = await request.post()
        init_data = signed_query(str(form.get("init_data", "")), limit=8192)
        if init_data is None:  # not what Telegram signs (non-ASCII, outsized, no hex hash)
            return web.json_response({"error": "initData malformed"}, status=400)
        now = self.now()
        max_age = self.settings.dashboard_init_data_max_age
        signed = web_app_user(init_data, token=self.runtime.bot.token, now=now, max_age=max_age)
        if signed is None:
            return web.json_response({"error": "initData refused"}, status=403)
        until = signed.signed_at + timedelta(seconds=max_age + 60)
        if not await self.used_init_data.use(signed.digest, until=until, now=now):
            return web.json_response({"error": "initData used already"}, status=403)
        member_id = signed.user_id
        async with self.reads() as session:
            reader = await reader_for(
                session, member_id=member_id, owner_ids=self.settings.owner_ids
            )
        if reader is None:
            await self._audit(member_id, SIGN_IN_ACTION, False, "mini_app")
            return web.json_response({"error": "staff and leaders only"}, status=403)
        response = web.json_response({"ok": True})
        await self._signed_in(response, member_id, "mini_app")
        return response

    async def keeper(self, request: web.Request) -> web.Response:
        """GET /dashboard/keeper: the Mini App page a keeper scans or types pickup codes on."""
        lang = self._locale_of(request, self.settings.default_locale)
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(lang):
            return web.Response(
                text=html.keeper_page(lang), content_type="text/html", charset="utf-8"
            )

    async def pickup(self, request: web.Request) -> web.Response:
        """POST /dashboard/pickup with init_data and code: confirms the pickup of the order
        holding the code, as /redeem does, and answers {"ok", "message"} in the keeper's
        language; the member is told once it committed. 403 for initData Telegram did not
        sign for this bot."""
        if self._cross_site(request):
            return web.json_response(
                {"ok": False, "error": "cross-site request refused"}, status=403
            )
        form = await request.post()
        now = self.now()
        member_id = self.key.pickup_member(header_value(str(form.get("token", ""))), now=now)
        if member_id is None:  # the page's first post: its initData, used once
            init_data = signed_query(str(form.get("init_data", "")), limit=8192)
            max_age = self.settings.dashboard_init_data_max_age
            signed = (
                web_app_user(init_data, token=self.runtime.bot.token, now=now, max_age=max_age)
                if init_data is not None
                else None
            )
            if signed is None:
                return web.json_response({"ok": False, "error": "initData refused"}, status=403)
            until = signed.signed_at + timedelta(seconds=max_age + 60)
            if not await self.used_init_data.use(signed.digest, until=until, now=now):
                return web.json_response(
                    {"ok": False, "error": "initData used already"}, status=403
                )
            member_id = signed.user_id
        # the page's next posts carry this instead: the keeper, for a short while after the
        # last post (a captured initData signs nothing twice; a token names only its keeper)
        token = self.key.pickup_token(member_id, now + timedelta(seconds=PICKUP_TOKEN_SECONDS))
        code = str(form.get("code", ""))[:64]
        refused: PickupError | None = None
        redeemed: Redeemed | None = None
        async with self.runtime.sessions() as session:
            async with session.begin():
                try:
                    redeemed = await redeem_code(
                        session,
                        code=code,
                        actor_id=member_id,
                        owner_ids=self.settings.owner_ids,
                        now=self.now(),
                    )
                except PickupError as exc:
                    refused = exc
            # the pickup committed (or nothing was done); the refusal is audited on its own
            async with session.begin():
                await record_action(
                    session,
                    actor_id=member_id,
                    chat_id=None,
                    action=REDEEM_ACTION,
                    allowed=refused is None,
                    now=self.now(),
                    detail=(
                        f"order #{redeemed.order.id} (mini app)"
                        if redeemed
                        else f"{refused.reason if refused else ''} (mini app)"
                    ),
                )
                keeper = await get_member(session, member_id)
                buyer = await get_member(session, redeemed.order.member_id) if redeemed else None
        i18n = self.runtime.i18n
        locale = keeper.locale if keeper and keeper.locale else self.settings.default_locale
        zone = (keeper.timezone if keeper else "") or self.settings.default_timezone
        with i18n.context(), i18n.use_locale(locale):
            if redeemed is None:
                assert refused is not None
                return web.json_response(
                    {
                        "ok": False,
                        "message": redeem_error_text(
                            refused, zone, keeper.timezone if keeper else None
                        ),
                        "token": token,
                    }
                )
            answer = redeemed_text(redeemed)
        if buyer is not None and buyer.started:
            with i18n.context(), i18n.use_locale(buyer.locale or self.settings.default_locale):
                notice = picked_up_notice(
                    redeemed, buyer.timezone or self.settings.default_timezone, buyer.timezone
                )
            self.runtime.notifier.send(buyer.id, notice)
        return web.json_response({"ok": True, "message": answer, "token": token})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/logout: this browser's session ends (with `everywhere`, every
        session of the reader's), and the cookie goes."""
        with (
            self.runtime.i18n.context(),
            self.runtime.i18n.use_locale(self._locale_of(request, self.settings.default_locale)),
        ):
            if self._cross_site(request):
                return self._refused_cross_site(request)
            form = await request.post()
            session_id = self.key.session_id(request.cookies.get(COOKIE), now=self.now())
            if session_id is not None:
                async with self.runtime.sessions() as session:
                    member_id = await session_member(session, session_id=session_id, now=self.now())
                    if member_id is not None and form.get("everywhere"):
                        await end_member_sessions(session, member_id=member_id, now=self.now())
                    else:
                        await end_session(session, session_id=session_id, now=self.now())
                    if member_id is not None:
                        await record_action(
                            session,
                            actor_id=member_id,
                            chat_id=None,
                            action=SIGN_OUT_ACTION,
                            allowed=True,
                            now=self.now(),
                            detail="everywhere" if form.get("everywhere") else "this browser",
                        )
                    await session.commit()
            response = web.Response(status=303, headers={"Location": f"{PREFIX}/app"})
            response.del_cookie(COOKIE, path=PREFIX)
            return response

    async def logout_link(self, request: web.Request) -> web.Response:
        """GET /dashboard/logout signs nobody out (a link on another page could): it says
        where the button is."""
        with (
            self.runtime.i18n.context(),
            self.runtime.i18n.use_locale(self._locale_of(request, self.settings.default_locale)),
        ):
            response = self._message(
                request,
                405,
                _("Sign out with the button"),
                _("To sign out, use the Sign out button at the top of any dashboard page."),
            )
            response.headers["Allow"] = "POST"
            return response

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

    async def end_sessions(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/sessions with member: staff sign the member out everywhere."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            if not view.reader.staff:
                return self._message(
                    request, 403, _("Not for you, sorry"), _("Only brand staff sign others out.")
                )
            form = await request.post()
            asked = str(form.get("member", "")).strip()[:64]
            async with self.runtime.sessions() as session:
                try:
                    target = await find_member(session, asked) if asked else None
                except AmbiguousMember:
                    target = None
                if target is None:
                    return self._message(
                        request,
                        400,
                        _("Who?"),
                        _("I do not know that member. Use their @username or their numeric id."),
                    )
                ended = await end_member_sessions(session, member_id=target.id, now=self.now())
                await record_action(
                    session,
                    actor_id=view.reader.member_id,
                    chat_id=None,
                    action=SIGN_OUT_ACTION,
                    allowed=True,
                    now=self.now(),
                    required_role="staff",
                    detail=f"member {target.id}: {ended}",
                )
                await session.commit()
        return web.Response(status=303, headers={"Location": f"{PREFIX}/sessions"})

    async def ship(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/ship with order, carrier and tracking: staff mark a paid delivery
        order shipped, as /ship does (audited); the member is told once it committed."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            if not view.reader.staff:
                await self._audit(actor, SHIP_ACTION, False, "dashboard: not staff")
                return self._message(
                    request, 403, _("Not for you, sorry"), _("Only brand staff ship orders.")
                )
            form = await request.post()
            order_id = number(str(form.get("order", ""))[:32])
            if order_id is None:
                return self._message(
                    request, 400, _("Not shipped"), _("Write the order's number, like 12.")
                )
            refused: DeliveryError | None = None
            async with self.runtime.sessions() as session:
                async with session.begin():
                    try:
                        order = await ship_order(
                            session,
                            order_id=order_id,
                            actor_id=actor,
                            carrier=str(form.get("carrier", ""))[:64],
                            tracking=str(form.get("tracking", "")).strip()[:128],
                            now=self.now(),
                        )
                    except DeliveryError as exc:
                        refused = exc
                if refused is not None:  # nothing was shipped; the refusal is audited alone
                    async with session.begin():
                        await record_action(
                            session,
                            actor_id=actor,
                            chat_id=None,
                            action=SHIP_ACTION,
                            allowed=False,
                            now=self.now(),
                            required_role="staff",
                            detail=f"order {order_id}: {refused.reason} (dashboard)",
                        )
                    return self._message(request, 400, _("Not shipped"), refusal(refused))
                buyer = await get_member(session, order.member_id)
        if buyer is not None and buyer.started:
            locale = buyer.locale or self.settings.default_locale
            with self.runtime.i18n.context(), self.runtime.i18n.use_locale(locale):
                notice = shipped_notice(
                    SHIPPED,
                    order_id=order.id,
                    carrier=order.carrier,
                    tracking=order.tracking_number,
                )
            self.runtime.notifier.send(buyer.id, notice)
        return web.Response(
            status=303, headers={"Location": f"{PREFIX}/delivery?shipped={order.id}"}
        )

    async def review(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/review with order, decision (approve or reject) and reason: staff, or
        the leader of the review's group, decide a waiting review as the bot's buttons do
        (audited; a rejection needs the reason the member is told); the member hears once it
        committed."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            form = await request.post()
            order_id = number(str(form.get("order", ""))[:32])
            decision = str(form.get("decision", ""))
            note = " ".join(str(form.get("reason", "")).split())[:NOTE_MAX]
            if order_id is None or decision not in ("approve", "reject"):
                return self._message(
                    request, 400, _("Not decided"), _("Choose Approve or Reject under a review.")
                )
            if decision == "reject" and not note:
                return self._message(
                    request,
                    400,
                    _("Not decided"),
                    _("Write why the review is rejected: the member reads it."),
                )
            refused: ModerationError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:  # the audit row moderate writes commits even when it refuses
                    done = await moderate(
                        session,
                        order_id=order_id,
                        moderator_id=view.reader.member_id,
                        staff=view.reader.staff,
                        approve=decision == "approve",
                        photo_points=self.settings.review_photo_points,
                        now=self.now(),
                        note=note,
                    )
                except ModerationError as exc:
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    403 if refused.reason == "not_allowed" else 400,
                    _("Not decided"),
                    _(MODERATION_ERRORS[refused.reason]),
                )
        if done.member_started:
            with self.runtime.i18n.context():
                text, markup = moderation_notice(
                    self.runtime.i18n, done, approve=decision == "approve", note=note
                )
            self.runtime.notifier.send(done.review.member_id, text, reply_markup=markup)
        return web.Response(
            status=303,
            headers={"Location": f"{PREFIX}/reviews?{urlencode({decision: str(order_id)})}"},
        )

    async def trial_new(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/trial-new: staff create a trial as /trial_new does (the same
        service, audited as trial.create); the candidates are invited once it committed."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            if not view.reader.staff:
                await self._audit(actor, "trial.create", False, "dashboard: not staff", "staff")
                return self._message(
                    request, 403, _("Not for you, sorry"), _("Only brand staff create trials.")
                )
            form = await request.post()
            product_text, _sep, variant = (
                str(form.get("product", "")).strip()[:64].replace("：", ":").partition(":")
            )
            options = {
                key: " ".join(str(form.get(key, "")).split())[:200]
                for key in ("places", "invite", "aspects", "due")
            }
            try:
                async with self.runtime.sessions() as session, session.begin():
                    created = await new_trial(
                        session,
                        product_id=number(product_text) or 0,
                        variant=variant.strip(),
                        options=options,
                        actor_id=actor,
                        timezone=view.zone.key,
                        now=self.now(),
                    )
            except TrialError as exc:  # rolled back: nothing was taken from the stock
                detail = f"“{exc.detail or product_text}”"
                text = _(TRIAL_ERRORS.get(exc.reason, TRIAL_ERRORS["no_trial"])).format(part=detail)
                return self._message(request, 400, _("Not created"), text)
            sent = invitations(created, self.runtime.i18n, self.settings.default_timezone)
        for member_id, text, markup in sent:  # committed: now the invitations
            self.runtime.notifier.send(member_id, text, reply_markup=markup)
        query = urlencode({"trial": created.trial.id, "invited": len(sent)})
        return web.Response(status=303, headers={"Location": f"{PREFIX}/trials?{query}"})

    async def plan_off(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/membership-plan-off with plan: staff stop selling a membership plan,
        as /membership_plan_off does (audited); once it committed, the renewals are cancelled
        with Telegram and the members told."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            if not view.reader.staff:
                await self._audit(actor, PLAN_OFF_ACTION, False, "dashboard: not staff", "staff")
                return self._message(
                    request,
                    403,
                    _("Not for you, sorry"),
                    _("Only brand staff switch membership plans off."),
                )
            form = await request.post()
            word = str(form.get("plan", ""))[:32]
            plan_id = number(word)
            refused: MembershipError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:
                    off = await switch_off(
                        session,
                        plan_id=plan_id or 0,
                        actor_id=actor,
                        now=self.now(),
                        default_locale=self.settings.default_locale,
                    )
                    notices = await switched_off_notices(
                        session,
                        off,
                        default_timezone=self.settings.default_timezone,
                        i18n=self.runtime.i18n,
                    )
                except MembershipError as exc:
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    400,
                    _("Not switched off"),
                    _(MEMBERSHIP_REFUSALS[refused.reason]).format(word=word),
                )
        for member_id, charge_id, text in notices:  # committed: now Telegram and the members
            await cancel_subscription(self.runtime.bot, member_id, charge_id)()
            self.runtime.notifier.send(member_id, text)
        return web.Response(
            status=303, headers={"Location": f"{PREFIX}/memberships?off={off.plan.id}"}
        )

    async def plan_add(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/membership-plan-add with name, stars and grant: staff put a plan on
        sale as /membership_plan_add does (the same parsers and service, audited as
        membership.plan_add); bad input is refused with the bot's words and adds nothing."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            if not view.reader.staff:
                await self._audit(actor, PLAN_ADD_ACTION, False, "dashboard: not staff", "staff")
                return self._message(
                    request,
                    403,
                    _("Not for you, sorry"),
                    _("Only brand staff add membership plans."),
                )
            form = await request.post()
            name = str(form.get("name", ""))[:200]
            stars_text = str(form.get("stars", ""))[:32]
            grant = str(form.get("grant", ""))[:200]
            refused: MembershipError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:
                    stars = parse_stars(stars_text)
                    tier_rank, level = await parse_grant(session, grant)
                    plan = await add_plan(
                        session,
                        name=name,
                        stars=stars,
                        tier_rank=tier_rank,
                        level=level,
                        actor_id=actor,
                        now=self.now(),
                    )
                except MembershipError as exc:  # nothing was added
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    400,
                    _("Not added"),
                    _(MEMBERSHIP_REFUSALS[refused.reason]).format(word=refused.detail),
                )
        return web.Response(
            status=303, headers={"Location": f"{PREFIX}/memberships?added={plan.id}"}
        )

    async def group_level(self, request: web.Request) -> web.StreamResponse:
        """POST /dashboard/group-level with group, level and who: staff set a group's level and
        who may join it as /group_level does (the same parsers and service, audited as
        group.level_set); bad input is refused with the bot's words and changes nothing."""
        view = await self._post_view(request)
        if isinstance(view, web.Response):
            return view
        actor = view.reader.member_id
        with self.runtime.i18n.context(), self.runtime.i18n.use_locale(view.locale):
            if not view.reader.staff:
                await self._audit(actor, LEVEL_ACTION, False, "dashboard: not staff", "staff")
                return self._message(
                    request, 403, _("Not for you, sorry"), _("Only brand staff set group levels.")
                )
            form = await request.post()
            try:
                group_id = telegram_id(str(form.get("group", ""))[:32])
            except NumberRefused:
                group_id = None
            level_text = str(form.get("level", ""))[:64]
            who = " ".join(str(form.get("who", "")).split())[:64]
            refused: LevelError | None = None
            async with self.runtime.sessions() as session, session.begin():
                try:
                    level = parse_level(level_text)
                    rule, tier = await parse_rule(session, who or "invite")
                    changed = await set_level(
                        session,
                        community_id=group_id or 0,
                        level=level,
                        rule=rule,
                        tier=tier,
                        actor_id=actor,
                        now=self.now(),
                    )
                except LevelError as exc:  # nothing was changed
                    refused = exc
            if refused is not None:
                return self._message(
                    request,
                    400,
                    _("Not changed"),
                    _(LEVEL_REFUSALS[refused.reason]).format(word=refused.detail),
                )
        query = urlencode({"level_set": changed.community_id})
        return web.Response(status=303, headers={"Location": f"{PREFIX}/communities?{query}"})

    async def review_photo(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/review-photos/<order>-<place>-<tag>.jpg: a photo of a review, for
        staff and the leaders of the review's group; 404 for anyone else."""
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        order_id = number(request.match_info["order_id"])
        position = number(request.match_info["position"])
        found = None
        if order_id is not None and position is not None:
            async with self.reads() as session:
                found = await review_photo(session, order_id=order_id, position=position)
        scope = view.reader.scope
        if (
            found is None
            or photo_tag(found[0]) != request.match_info["tag"]
            or (scope is not None and found[1] not in scope)
        ):
            raise web.HTTPNotFound()
        return await self._photo(found[0])

    async def trial_photo(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/trial-photos/<trial>-<member>-<place>-<tag>.jpg: a photo of a trial
        report, for staff only; 404 for anyone else."""
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        trial_id = number(request.match_info["trial_id"])
        member_id = number(request.match_info["member_id"])
        position = number(request.match_info["position"])
        found = None
        if view.reader.staff and None not in (trial_id, member_id, position):
            async with self.reads() as session:
                found = await report_photo(
                    session,
                    trial_id=trial_id or 0,
                    member_id=member_id or 0,
                    position=position or 0,
                )
        if found is None or photo_tag(found) != request.match_info["tag"]:
            raise web.HTTPNotFound()
        return await self._photo(found)

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

    async def ticket_photo(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/ticket-photos/<message id>-<tag>.jpg: a photo sent on a ticket, for
        staff and the leaders of the ticket's group; 404 for anyone else, or once erased."""
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        try:
            message_id = number(request.match_info["message_id"], prefix="")
        except NumberRefused:
            message_id = None
        if message_id is None:
            raise web.HTTPNotFound()
        async with self.reads() as session:
            found = await ticket_photo(session, message_id)
        scope = view.reader.scope
        if (
            found is None
            or photo_tag(found.file_id) != request.match_info["tag"]
            or (scope is not None and found.chat_id not in scope)
        ):
            raise web.HTTPNotFound()
        return await self._photo(found.file_id)

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
            text=html.page(
                title=title,
                here=here,
                body=html.filters(
                    period=view.period_text,
                    community=view.community,
                    communities=view.communities,
                    search=request.query.get("q", "") if here == "members" else None,
                    error=view.error,
                    leader=_asked_leader(request)
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

    # -- pages -----------------------------------------------------------------------------

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

    async def overview(self, _request: web.Request, view: View) -> tuple[str, str]:
        report = await self._report(view)
        figures = report.overall
        cards = "".join(
            _card(line)
            for _key, line in detailed(
                figures, view.locale, whole_brand=view.scope is None, currency=report.currency
            )
        )
        currency = report.currency or ""
        days = html.columns_svg(
            _("GMV per day ({currency})").format(currency=currency or "—"),
            [
                (d.day.strftime("%m-%d"), d.gmv, money_text({currency: d.gmv}, view.locale))
                for d in report.days
            ],
            color="#3478f6",
        )
        orders = html.columns_svg(
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
        funnel_chart = html.bars_svg(
            _("Funnel"), [(label, value, str(value)) for label, value in steps]
        )
        heading = _("From {first} to {last} ({zone})").format(
            first=view.period.first.isoformat(),
            last=view.period.last.isoformat(),
            zone=view.zone.key,
        )
        body = (
            f'<p class="note">{html.escape(heading)}</p>'
            f'<div class="cards">{cards}</div>'
            f'<section class="block" id="chart-days">{days}{orders}</section>'
            f'<section class="block" id="chart-funnel">{funnel_chart}</section>'
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
        chart = html.bars_svg(
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
        formation = html.bars_svg(
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
        definition = DEFINITIONS["formation"]
        note = html.escape(_(definition))
        body = (
            f'<section class="block" id="chart-communities">{chart}{formation}'
            f'<p class="note">{note}</p></section>{table}'
        )
        if view.reader.staff:
            body = await self._levels(request, view) + body
        return _("Communities"), body

    async def _levels(self, request: web.Request, view: View) -> str:
        """Staff's level forms, one per group the bot is in, after the confirmation of the
        change just made (?level_set=GROUP)."""
        ids = [i for i, _title in view.communities if view.scope is None or i in view.scope]
        asked = _asked_number(request, "level_set", sign=True)
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
                now=f"{html.escape(level_name(level.level))} · {rule_text(level)}",
                level=level.level,
                who=level.tier.code if level.tier is not None else level.join_rule or "invite",
            )
            for level in levels
        ]
        told = f'<p class="note">{level_set_text(done)}</p>' if done is not None else ""
        return told + html.level_forms(
            rows, levels=[(code, level_name(code)) for code in LEVELS], choices=choices
        )

    async def groupbuys(self, _request: web.Request, view: View) -> tuple[str, str]:
        fetched = await self._rows(view, "groupbuys")
        columns = TABLES["groupbuys"].columns
        ident, title, joined, minimum = (
            columns.index(c) for c in ("groupbuy_id", "title", "participants", "min_count")
        )
        chart = html.bars_svg(
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
        return _(
            "Group-buys"
        ), f'<section class="block" id="chart-groupbuys">{chart}</section>' + table

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
        chart = html.bars_svg(
            _("Messages sent of each broadcast (of its recipients)"),
            [
                (f"#{row[ident]}", int(str(row[sent])), f"{row[sent]} / {row[total]}")
                for row in fetched[0][:20]
            ],
            color="#ff9500",
        )
        table = await self._table(view, "broadcasts", _("Broadcasts"), fetched=fetched)
        tests = await self._ab_tests()
        return _("Broadcasts"), (
            f'<section class="block" id="chart-broadcasts">{chart}</section>'
            + html.ab_tests(tests, view.locale, csv_href="csv/abtests")
            + table
        )

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
        charts = []
        for options in list(polls.values())[:12]:
            question = str(options[0][2])
            voters = int(str(options[0][6]))
            total = sum(int(str(o[9])) for o in options) or 1
            charts.append(
                html.bars_svg(
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
        cards = "".join(
            _card(line)
            for key, line in detailed(figures, view.locale, whole_brand=view.scope is None)
            if key in ("participation", "suggestions", "nps")
        )
        body = (
            f'<div class="cards">{cards}</div>'
            f'<section class="block" id="chart-polls">{"".join(charts) or ""}</section>'
            + await self._table(view, "polls", _("Polls"))
            + await self._table(view, "nps", _("NPS by group"))
        )
        return _("Co-creation"), body

    async def _statement_of(self, request: web.Request, view: View) -> MemberView | None:
        """Whose statement the reader asks for: a leader their own (anyone else's is refused
        with 403), staff anyone they name (None: nobody named yet, or nobody by that name)."""
        asked = _asked_leader(request)
        async with self.reads() as session:
            if not view.reader.staff:
                own = await get_member(session, view.reader.member_id)
                found = await find_member(session, asked) if asked else own
                if found is None or own is None or found.id != own.id:
                    raise web.HTTPForbidden(
                        text=html.message_page(
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
            asked = _asked_leader(request)
            note = (
                _("I do not know that member. Use their @username or their numeric id.")
                if asked
                else _("Leaders with group-buys, cash or commission in this period:")
            )
            links = "".join(
                f'<li><a href="statement?{urlencode({**params, "leader": str(ident)})}">'
                f"{html.escape(shown(name))}</a>"
                + (f" @{html.escape(username)}" if username else "")
                + f" <code>{ident}</code></li>"
                for ident, name, username in people
            )
            nothing = html.escape(_("Nothing in this period."))
            body = f'<p class="note">{html.escape(note)}</p>' + (
                f"<ul>{links}</ul>" if links else f'<p class="note">{nothing}</p>'
            )
            return _("Statement"), body
        async with self.reads() as session:
            found = await leader_statement(session, leader_id=target.id, period=view.period)
        cards = "".join(
            f'<div class="card">{line}</div>'
            for line in statement_lines(found, target.display_name, view.locale)
        )
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
        return _("Statement"), f'<div class="cards">{cards}</div>{table}'

    async def rewards(self, _request: web.Request, view: View) -> tuple[str, str]:
        """Physical rewards members wait for (staff mark them handed over with /fulfil)."""
        if not view.reader.staff:
            note = html.escape(_("Rewards are handed over by brand staff."))
            return _("Rewards to hand over"), f'<p class="note">{note}</p>'
        note = html.escape(
            _("Every reward still to hand over, whenever it was redeemed. Mark one with /fulfil.")
        )
        table = await self._table(view, "fulfilment", _("Rewards to hand over"))
        return _("Rewards to hand over"), f'<p class="note">{note}</p>' + table

    async def sessions(self, _request: web.Request, view: View) -> tuple[str, str]:
        """Who is signed in (staff sign anyone out here); everyone signs themselves out
        everywhere with the button at the top."""
        title = _("Sessions")
        yourself = html.escape(
            _("Sign out everywhere (top of the page) ends every session of yours, on every device.")
        )
        if not view.reader.staff:
            return title, f'<p class="note">{yourself}</p>'
        async with self.reads() as session:
            signed_in = await open_sessions(session, now=self.now())
            names = {}
            for entry in signed_in:
                found = await get_member(session, entry.member_id)
                names[entry.member_id] = found.display_name if found else str(entry.member_id)
        rows = [(names[e.member_id], e.member_id, e.sessions, e.since, e.until) for e in signed_in]
        table = html.sessions_table(rows, view.zone)
        form = html.sign_out_form()
        return title, f'<p class="note">{yourself}</p>{form}{table}'

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
        cards = "".join(
            f'<div class="card">{line.strip().removeprefix("• ").replace(chr(10), "<br>")}</div>'
            for line in tickets_lines(figures, view.locale)
        )
        note = html.escape(
            _(
                "Open tickets stay listed until they are closed; answer and close them in the "
                "bot with /ticket_say, /ticket_refund, /ticket_coupon, /ticket_reship or "
                "/ticket_decline."
            )
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
        return _("After-sales tickets"), (
            f'<p class="note">{note}</p><div class="cards">{cards}</div>{gallery}{table}'
        )

    async def delivery(self, request: web.Request, view: View) -> tuple[str, str]:
        """Delivery orders: to ship, shipped and delivered; staff also get the ship list with
        the addresses and the form that marks an order shipped."""
        title = _("Delivery")
        table = await self._table(view, "deliveries", _("Delivery orders"))
        if not view.reader.staff:
            note = html.escape(
                _(
                    "Delivery orders of your groups. Addresses are kept for brand staff, who "
                    "ship the orders."
                )
            )
            return title, f'<p class="note">{note}</p>{table}'
        note = html.escape(
            _(
                "Paid delivery orders stay on the ship list until they are shipped. Mark one "
                "shipped with its tracking number below (or /ship in the bot): the member is "
                "told."
            )
        )
        done = _asked_number(request, "shipped")
        shipped = (
            '<p class="note">'
            + html.escape(_("Order #{id} shipped. The member was told.").format(id=done))
            + "</p>"
            if done is not None
            else ""
        )
        ship_list = await self._table(view, "shiplist", _("Ship list"))
        return title, f'<p class="note">{note}</p>{shipped}{html.ship_form()}{ship_list}{table}'

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
        done = ""
        for decision, text in (
            ("approve", _("Review #{id} approved. The member was told.")),
            ("reject", _("Review #{id} rejected. The member was told why.")),
        ):
            decided = _asked_number(request, decision)
            if decided is not None:
                done = f'<p class="note">{html.escape(text.format(id=decided))}</p>'
        note = html.escape(
            ngettext(
                "{count} review is waiting; the oldest come first. Approved reviews show on "
                "the product; a photo review earns its points once.",
                "{count} reviews are waiting; the oldest come first. Approved reviews show on "
                "the product; a photo review earns its points once.",
                total,
            ).format(count=total)
        )
        rate = _card(html.escape(review_stats_line(figures, view.locale)))
        body = f'{done}<div class="cards">{rate}</div><p class="note">{note}</p>'
        return _("Reviews"), body + html.review_cards(cards)

    async def trials(self, request: web.Request, view: View) -> tuple[str, str]:
        """Product trials (staff): each with its product, places, report rate, due date and
        average per aspect; ?trial=ID shows one with its reports, photos and CSV."""
        title = _("Trials")
        if not view.reader.staff:
            staff_only = html.escape(_("Trials are run by brand staff."))
            return title, f'<p class="note">{staff_only}</p>'
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
        note = html.escape(
            _("The newest trials first. Open one for its reports; create one with /trial_new.")
        )
        return title, f'<p class="note">{note}</p>' + html.trials_table(rows) + html.trial_form()

    async def _trial(
        self, request: web.Request, view: View, trial_id: int | None
    ) -> tuple[str, str]:
        """One trial: its figures as /trial ID sends them, every invitation with its report
        and photos, and the CSV."""
        async with self.reads() as session:
            try:
                summary = await trial_summary(session, trial_id or 0)
            except TrialError:
                missing = html.escape(_("There is no such trial."))
                return _("Trials"), f'<p class="note">{missing}</p>'
            trial = summary.trial
            rows = await report_rows(session, trial.id)
            photos = await report_photos(session, trial.id)
        figures = summary_text(summary, view.locale, view.zone.key)  # Telegram HTML, escaped
        cards = "".join(_card(line) for line in figures.split("\n"))
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
        invited = _asked_number(request, "invited")
        if invited is not None:
            created = _("Trial #{id} created; invited in private: {invited}.").format(
                id=trial.id, invited=invited
            )
            cards = _card(html.escape(created)) + cards
        body = f'<div class="cards">{cards}</div>' + html.report_cards(
            reports, f"csv/trial?trial={trial.id}"
        )
        return _("Trial #{id}: {title}").format(id=trial.id, title=trial.title), body

    async def memberships(self, request: web.Request, view: View) -> tuple[str, str]:
        """Paid membership plans (staff): price, grant, active members, this month's renewals
        and Stars booked, and a button that switches a plan off."""
        title = _("Memberships")
        if not view.reader.staff:
            staff_only = html.escape(_("Membership plans are run by brand staff."))
            return title, f'<p class="note">{staff_only}</p>'
        now = self.now().astimezone(view.zone)
        first = datetime.combine(now.date().replace(day=1), time(), tzinfo=view.zone)
        async with self.reads() as session:
            plans = await list_plans(session)
            paid = await plan_payments(session, start=first, end=now + timedelta(seconds=1))
            switched = _asked_number(request, "off")
            done = await get_plan(session, switched) if switched is not None else None
            added = _asked_number(request, "added")
            new = await get_plan(session, added) if added is not None else None
        rows = []
        for plan in plans:
            month = paid.get(plan.id)
            rows.append(
                html.PlanRow(
                    plan_id=plan.id,
                    cells=(
                        html.escape(shown(plan.name)),
                        html.escape(format_money(plan.stars, STARS, view.locale)),
                        grant_text(plan),  # escaped for Telegram's HTML, so for the page
                        html.escape(_("for sale") if plan.active else _("switched off")),
                        str(plan.members),
                        str(month.renewals if month else 0),
                        str(month.stars if month else 0),
                    ),
                    active=plan.active,
                )
            )
        told = f'<p class="note">{switched_off_text(done)}</p>' if done is not None else ""
        if new is not None:
            told += f'<p class="note">{plan_added_text(new, view.locale)}</p>'
        grants = [
            (f"tier={tier.code}", _("tier {tier}").format(tier=tier_label(tier.code, tier.name)))
            for tier in view.tiers
            if tier.rank > 0
        ]
        grants += [
            (f"level={code}", _("entry to groups of level {level}").format(level=level_name(code)))
            for code in (LEVEL_VIP, LEVEL_CORE)
        ]
        note = html.escape(
            _(
                "Renewals and Stars count from the first of this month ({zone}). Switching a "
                "plan off stops its sale and its renewals; its members keep it until their "
                "paid month ends and are told."
            ).format(zone=view.zone.key)
        )
        form = html.plan_form(grants, name_size=MAX_NAME, max_stars=MAX_STARS)
        return title, f'{told}<p class="note">{note}</p>' + html.plans_table(rows) + form

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
        links = " · ".join(
            f'<a href="?{urlencode(view.params(week=when.isoformat()))}">{html.escape(label)}</a>'
            for label, when in (
                (_("← Previous week"), monday - timedelta(days=7)),
                (_("This week"), today),
                (_("Next week →"), monday + timedelta(days=7)),
            )
        )
        heading = _("Week from {first} to {last} ({zone})").format(
            first=monday.isoformat(),
            last=(monday + timedelta(days=6)).isoformat(),
            zone=view.zone.key,
        )
        parts = [f'<p class="note">{html.escape(note)}</p>' for note in notes]
        parts.append(f'<p class="note" id="week">{html.escape(heading)}<br>{links}</p>')
        if not weeks:
            parts.append(f'<p class="note">{html.escape(_("No open group yet."))}</p>')
        head = "".join(
            f"<th>{html.escape(label)}</th>" for label in (_("When"), _("What"), _("Status"))
        )
        for week in weeks:
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
                when = post.at.astimezone(view.zone).strftime("%Y-%m-%d %H:%M")
                rows.append(
                    "<tr>"
                    + "".join(f"<td>{html.escape(v)}</td>" for v in (when, what, status))
                    + "</tr>"
                )
            empty = "" if rows else f'<p class="note">{html.escape(_("Nothing this week."))}</p>'
            name = shown(week.title) or str(week.chat_id)
            parts.append(
                f'<section class="block" id="promotions-{week.chat_id}">'
                f"<h2>{html.escape(name)}</h2>"
                f'<p class="note">{html.escape(use)}</p>'
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                f"{empty}</section>"
            )
        return title, "".join(parts)

    async def _metrics(self, view: View) -> MetricsReport:
        """The metrics of the weeks ending with the period's last day (at least 12 weeks)."""
        days = (view.period.last - view.period.first).days + 1
        # figures as they stood at the period's end: a past period is not judged with hindsight
        end = datetime.combine(view.period.last + timedelta(days=1), time(), view.zone)
        async with self.reads() as session:
            return await metrics_report(
                session,
                now=min(self.now(), end.astimezone(UTC)),
                timezone=view.zone.key,
                currency=self.settings.tier_currency,
                part=Slice(scope=view.scope),
                weeks=max(DEFAULT_WEEKS, -(-days // 7)),
            )

    async def metrics(self, _request: web.Request, view: View) -> tuple[str, str]:
        """Rates over weeks, join cohorts and co-creators, each with its definition."""
        report = await self._metrics(view)
        labels = [week.start.strftime("%m-%d") for week in report.weeks]

        def rates(name: str) -> list[float | None]:
            return [
                None if (f := getattr(week, name).fraction) is None else float(f)
                for week in report.weeks
            ]

        def block(ident: str, chart: str, *keys: str) -> str:
            notes = "".join(
                f'<p class="note definition">{html.escape(_(METRIC_DEFINITIONS[key]))}</p>'
                for key in keys
            )
            return f'<section class="block" id="{ident}">{chart}{notes}</section>'

        currency = report.currency
        active = html.lines_svg(
            _("Active rate per week"), labels, [(_("Active"), "#3478f6", rates("active"))]
        )
        fission = html.lines_svg(
            _("Fission and referral conversion per week"),
            labels,
            [
                (_("Fission"), "#34c759", rates("fission")),
                (_("Referral conversion"), "#ff9500", rates("referral_conversion")),
            ],
        )
        repurchase = html.lines_svg(
            _("Repurchase rate per week"),
            labels,
            [(_("Repurchase"), "#af52de", rates("repurchase"))],
        ) + html.lines_svg(
            _("Median days between orders"),
            labels,
            [(_("Days"), "#5856d6", [week.median_gap_days for week in report.weeks])],
            percent=False,
        )
        interaction = html.lines_svg(
            _("Messages and taps per member per week"),
            labels,
            [(_("Per member"), "#0a84ff", rates("interaction_rate"))],
            percent=False,
        )
        service = (
            html.columns_svg(
                _("Tickets opened per week"),
                [
                    (label, week.tickets_opened, str(week.tickets_opened))
                    for label, week in zip(labels, report.weeks, strict=True)
                ],
                color="#ff3b30",
            )
            + html.lines_svg(
                _("Hours to the first answer (median)"),
                labels,
                [(_("Hours"), "#ff9500", [week.first_answer_hours for week in report.weeks])],
                percent=False,
            )
            + html.lines_svg(
                _("Tickets resolved and trial reports per week"),
                labels,
                [
                    (_("Resolved"), "#34c759", rates("tickets_resolved")),
                    (_("Trial reports"), "#af52de", rates("trial_report")),
                ],
            )
        )
        coupons = html.lines_svg(
            _("Coupon redemption per week"),
            labels,
            [(_("Redeemed"), "#ff2d55", rates("coupon_redemption"))],
        ) + html.columns_svg(
            _("Discount cost per week ({currency})").format(currency=currency),
            [
                (label, week.discount_cost, format_money(week.discount_cost, currency, view.locale))
                for label, week in zip(labels, report.weeks, strict=True)
            ],
            color="#ff9500",
        )

        def share(ratio: Ratio | None) -> tuple[float | None, str]:
            if ratio is None:
                return None, "…"
            fraction = ratio.fraction
            return (None if fraction is None else float(fraction)), rate_text(ratio, view.locale)

        def value(ratio: Ratio | None) -> tuple[float | None, str]:
            if ratio is None:
                return None, "…"
            if ratio.fraction is None:
                return None, "—"
            return None, format_money(round(ratio.fraction), currency, view.locale)

        cohort_rows = [
            (
                cohort.start.isoformat(),
                str(cohort.size),
                [share(cohort.retention(k)) for k in RETENTION_WEEKS]
                + [value(cohort.value(d)) for d in LTV_DAYS],
            )
            for cohort in report.cohorts
        ]
        cohorts = html.heat_table(
            _("Retention and lifetime value by join week"),
            [_("Joined in the week of"), _("Members")]
            + [_("Week {n}").format(n=k) for k in RETENTION_WEEKS]
            + [_("Value by day {days}").format(days=d) for d in LTV_DAYS],
            cohort_rows,
        )
        up = report.uplift
        co_orders, other_orders = up.orders_per_member
        co_spend, other_spend = up.spend_per_member
        who = (_("Voters and suggesters ({n})"), _("Other members ({n})"))
        orders_chart = html.bars_svg(
            _("Paid orders per member"),
            [
                (label.format(n=n), ratio.bps or 0, _number_text(ratio, view.locale))
                for label, n, ratio in (
                    (who[0], up.cocreators, co_orders),
                    (who[1], up.others, other_orders),
                )
            ],
            color="#34c759",
        )
        spend_chart = html.bars_svg(
            _("Spend per member ({currency})").format(currency=currency),
            [
                (
                    label.format(n=n),
                    round(ratio.fraction or 0),
                    format_money(round(ratio.fraction or 0), currency, view.locale),
                )
                for label, n, ratio in (
                    (who[0], up.cocreators, co_spend),
                    (who[1], up.others, other_spend),
                )
            ],
            color="#3478f6",
        )
        heading = _("Weeks from {first} to {last} ({zone}); … means too early to tell").format(
            first=report.weeks[0].start.isoformat(),
            last=(report.weeks[-1].start + timedelta(days=6)).isoformat(),
            zone=view.zone.key,
        )
        params = view.params()
        csv_href = "csv/metrics" + (f"?{urlencode(params)}" if params else "")
        body = (
            f'<p class="note">{html.escape(heading)} '
            f'<a class="csv" href="{html.escape(csv_href)}">{html.escape(_("CSV"))}</a></p>'
            + block("metric-active", active, "active")
            + block("metric-interaction", interaction, "interaction_rate")
            + block("metric-fission", fission, "fission", "referral_conversion")
            + block("metric-repurchase", repurchase, "repurchase", "median_gap")
            + block("metric-cohorts", cohorts, "retention", "ltv")
            + block("metric-coupons", coupons, "coupon_redemption", "discount_cost")
            + block("metric-uplift", orders_chart + spend_chart, "uplift")
            + block("metric-service", service, "tickets", "trial_report")
        )
        return _("Metrics"), body

    PAGES: ClassVar[
        dict[str, Callable[[Dashboard, web.Request, View], Awaitable[tuple[str, str]]]]
    ] = {
        "": overview,
        "communities": communities,
        "groupbuys": groupbuys,
        "members": members,
        "ledger": ledger,
        "broadcasts": broadcasts,
        "cocreation": cocreation,
        "metrics": metrics,
        "statement": statement,
        "rewards": rewards,
        "sessions": sessions,
        "tickets": tickets,
        "promotions": promotions,
        "delivery": delivery,
        "reviews": reviews,
        "trials": trials,
        "memberships": memberships,
    }

    # -- CSV -------------------------------------------------------------------------------

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
            return web.Response(body=body, headers=_csv_headers("abtests.csv"))
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
        detail = f"{name} {span} groups={_groups(view)}" + (f" q={search}" if search else "")
        await self._audit(view.reader.member_id, EXPORT_ACTION, True, detail, "leader")
        response = web.StreamResponse(headers=_csv_headers(f"{name}_{span}.csv"))
        await response.prepare(request)
        async with self.reads() as session:
            async for chunk, _rows in csv_chunks(session, table, view.query(search)):
                await response.write(chunk)
        await response.write_eof()
        return response

    async def _metrics_csv(self, request: web.Request, view: View) -> web.StreamResponse:
        """GET /dashboard/csv/metrics: every metric of the page over its weeks, audited."""
        report = await self._metrics(view)
        span = f"{report.weeks[0].start.isoformat()}_{report.weeks[-1].start.isoformat()}"
        detail = f"metrics {span} groups={_groups(view)}"
        await self._audit(view.reader.member_id, EXPORT_ACTION, True, detail, "leader")
        return web.Response(body=metrics_csv(report), headers=_csv_headers(f"metrics_{span}.csv"))

    async def _trial_csv(self, request: web.Request, view: View) -> web.StreamResponse:
        """GET /dashboard/csv/trial?trial=ID: a trial's invitations and reports, as /trial ID
        sends them; staff only, audited."""
        trial_id = _asked_number(request, "trial")
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
            headers=_csv_headers(f"trial_{summary.trial.id}.csv"),
        )

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
            body=statement_csv(found), headers=_csv_headers(statement_filename(found))
        )


def _groups(view: View) -> str:
    """The groups an export covered, for its audit row: all, or their ids."""
    return "all" if view.scope is None else " ".join(str(g) for g in sorted(view.scope))


def _csv_headers(filename: str) -> dict[str, str]:
    """A CSV download that no cache keeps."""
    return {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


def _asked_number(request: web.Request, key: str, *, sign: bool = False) -> int | None:
    """A number the page's address carries (a plan or group just changed), or None when it
    holds none (or something else: a page never fails on a hand-edited address)."""
    try:
        return (telegram_id if sign else number)(request.query.get(key, "")[:32])
    except NumberRefused:
        return None


def _asked_leader(request: web.Request) -> str:
    return request.query.get("leader", "").strip()[:64]


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
