"""Signing in and out of the dashboard, and the keeper's Mini App.

A one-time link (GET /dashboard/login?token=...) or Telegram's Mini App (GET /dashboard/app
posts the signed initData to POST /dashboard/auth) opens a session; sign-out is a POST (this
browser, or everywhere), and staff sign anyone out from the sessions page. The keeper's page
(GET /dashboard/keeper) posts a pickup code with the signed initData to POST /dashboard/pickup,
which confirms the pickup as /redeem does: no cookie, the signature is the sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiogram.utils.i18n import gettext as _
from aiogram.utils.web_app import safe_parse_webapp_init_data
from aiohttp import web

from bot.web import layout
from bot.web.dashboard_core import (
    COOKIE,
    PICKUP_TOKEN_SECONDS,
    PREFIX,
    REDEEM_ACTION,
    SIGN_IN_ACTION,
    SIGN_OUT_ACTION,
    DashboardCore,
)
from bot.web.dashboard_security import (
    LoginLimiter,
    client_address,
)
from handlers.views.pickup import picked_up_notice, redeem_error_text, redeemed_text
from services.audit import record_action
from services.dashboard import (
    end_member_sessions,
    end_session,
    link_usable,
    reader_for,
    redeem_link,
    session_member,
    well_formed_link_token,
)
from services.member import AmbiguousMember, find_member, get_member
from services.pickup import PickupError, Redeemed, redeem_code
from services.validation import (
    header_value,
    signed_query,
)


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


class SignInRoutes(DashboardCore):
    """The routes that sign a reader in and out, and the keeper's pickup."""

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
                text=layout.mini_app_page(self._locale_of(request, self.settings.default_locale)),
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
                text=layout.keeper_page(lang), content_type="text/html", charset="utf-8"
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
        member_id = await self._pickup_keeper(
            token=str(form.get("token", "")), init_data=str(form.get("init_data", "")), now=now
        )
        if isinstance(member_id, web.Response):
            return member_id
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

    async def _pickup_keeper(
        self, *, token: str, init_data: str, now: datetime
    ) -> int | web.Response:
        """Who posts a pickup code: the keeper its token names, or on the page's first post the
        user its initData names (each initData used once); else the refusal to answer."""
        member_id = self.key.pickup_member(header_value(token), now=now)
        if member_id is not None:
            return member_id
        signed_data = signed_query(init_data, limit=8192)
        max_age = self.settings.dashboard_init_data_max_age
        signed = (
            web_app_user(signed_data, token=self.runtime.bot.token, now=now, max_age=max_age)
            if signed_data is not None
            else None
        )
        if signed is None:
            return web.json_response({"ok": False, "error": "initData refused"}, status=403)
        until = signed.signed_at + timedelta(seconds=max_age + 60)
        if not await self.used_init_data.use(signed.digest, until=until, now=now):
            return web.json_response({"ok": False, "error": "initData used already"}, status=403)
        return signed.user_id

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
