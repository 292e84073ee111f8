"""Webhook mode: an aiohttp server that takes Telegram's updates, and the probes beside them.

A POST to the webhook path must carry the secret token in `X-Telegram-Bot-Api-Secret-Token`
(401 without it, 403 with a wrong one, compared in constant time); a body over
WEBHOOK_MAX_BODY_BYTES is refused with 413 before it is read (by its Content-Length, and
while reading when it has none); with Redis, an update id already seen in the last
WEBHOOK_DEDUP_SECONDS is answered 200 and dropped before the handlers, and one that another
worker is handling right now gets 503 so that Telegram sends it again later (should that
worker die, the update is not lost). The database claim of update ids (bot/middlewares.py)
stays the source of truth: it holds without Redis, and across the TTL.

With WEBHOOK_BACKGROUND (the default) the worker answers 200 as soon as the update is committed
to the database inbox and handles it in a background task (bot/inbox.py): a slow handler no
longer holds Telegram's connection, and a worker that dies after answering leaves the update
to another worker's sweep. Without it the worker handles the update before answering.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web

from bot.app import Runtime
from bot.config import WEBHOOK_SECRET_SHAPE
from bot.inbox import UpdateInbox
from bot.redis import RecentUpdates
from bot.web.dashboard import add_dashboard
from bot.web.health import add_observability
from services.validation import INT64_MAX, header_value, parse_json

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
INBOX = web.AppKey("inbox", UpdateInbox)


class WebhookHandler:
    """Checks, bounds and deduplicates a POSTed update, then feeds it to the Dispatcher."""

    def __init__(self, runtime: Runtime, *, secret: str) -> None:
        self.runtime = runtime
        self.secret = secret.encode()
        self.max_body = runtime.settings.webhook_max_body_bytes
        ttl = runtime.settings.webhook_dedup_seconds
        self.recent = (
            RecentUpdates(runtime.redis, ttl=ttl) if runtime.redis is not None and ttl else None
        )
        self.inbox = UpdateInbox(runtime) if runtime.settings.webhook_background else None

    async def handle(self, request: web.Request) -> web.Response:
        given = header_value(request.headers.get(SECRET_HEADER), limit=256)  # ASCII, bounded
        if given is None:
            return web.json_response({"error": "secret token required"}, status=401)
        # only Telegram's alphabet is compared (in constant time): anything else, non-ASCII
        # bytes included, is simply wrong
        if not WEBHOOK_SECRET_SHAPE.fullmatch(given) or not hmac.compare_digest(
            given.encode("ascii"), self.secret
        ):
            return web.json_response({"error": "wrong secret token"}, status=403)
        if request.content_length is not None and request.content_length > self.max_body:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            body = await request.read()  # the app's client_max_size stops a longer stream
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            update = parse_json(body, max_bytes=self.max_body)  # bounded size and depth
            update_id = int(update["update_id"])
            if not 0 <= update_id <= INT64_MAX:
                raise ValueError(update_id)
        except (ValueError, TypeError, KeyError):
            return web.json_response({"error": "not an update"}, status=400)
        if self.recent is not None:
            seen = await self.recent.claim(update_id)
            if seen == RecentUpdates.SEEN:
                log.info("update %s delivered again; dropped", update_id)
                return web.json_response({})
            if seen == RecentUpdates.BUSY:
                log.info("update %s is being handled elsewhere; Telegram will retry", update_id)
                return web.json_response({"error": "in progress"}, status=503)
        if self.inbox is not None:
            return await self._accept(update_id, update)
        try:
            await self.runtime.dp.feed_raw_update(self.runtime.bot, update)
        except Exception:  # Telegram delivers it again; the database claim rolled back with it
            log.exception("update %s failed", update_id)
            if self.recent is not None:
                await self.recent.forget(update_id)
            return web.json_response({"error": "failed"}, status=500)
        if self.recent is not None:
            await self.recent.done(update_id)
        return web.json_response({})

    async def _accept(self, update_id: int, update: dict[str, object]) -> web.Response:
        """Commit the update to the inbox, then answer: it is handled in the background."""
        assert self.inbox is not None
        if not self.inbox.accepting:  # stopping: Telegram sends it to another worker
            if self.recent is not None:
                await self.recent.forget(update_id)
            return web.json_response({"error": "stopping"}, status=503)
        try:
            await self.inbox.accept(update_id, update)
        except Exception:  # not stored: Telegram must deliver it again
            log.exception("update %s could not be stored", update_id)
            if self.recent is not None:
                await self.recent.forget(update_id)
            return web.json_response({"error": "failed"}, status=500)
        if self.recent is not None:  # stored: whichever worker gets a copy may drop it
            await self.recent.done(update_id)
        return web.json_response({})


def create_webhook_app(runtime: Runtime, *, path: str, secret: str) -> web.Application:
    """The aiohttp app: POST <path> takes updates; GET /healthz, /readyz and /metrics; the
    dashboard under /dashboard."""
    app = web.Application(client_max_size=runtime.settings.webhook_max_body_bytes)
    handler = WebhookHandler(runtime, secret=secret)
    app.router.add_post(path, handler.handle)
    add_observability(app, runtime)
    add_dashboard(app, runtime)
    inbox = handler.inbox
    if inbox is not None:
        app[INBOX] = inbox

        async def start_inbox(_app: web.Application) -> None:
            await inbox.start()

        async def stop_inbox(_app: web.Application) -> None:
            # after the server stopped taking requests and answered those it had
            await inbox.stop()

        app.on_startup.append(start_inbox)
        app.on_cleanup.append(stop_inbox)
    return app


def create_probe_app(runtime: Runtime) -> web.Application:
    """/healthz, /readyz and /metrics alone (the dedicated scheduler process)."""
    app = web.Application()
    add_observability(app, runtime)
    return app


def webhook_path(url: str) -> str:
    """The path Telegram posts to, taken from WEBHOOK_URL."""
    return urlsplit(url).path or "/"


async def serve(
    app: web.Application, runtime: Runtime, *, host: str | None = None
) -> web.AppRunner:
    """Serve the app on WEBHOOK_HOST (or `host`):WEBHOOK_PORT; the caller cleans the runner
    up."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host or runtime.settings.webhook_host, runtime.settings.webhook_port)
    await site.start()
    return runner


async def serve_webhook(
    runtime: Runtime, *, url: str, secret: str, stop: asyncio.Event | None = None
) -> None:
    """Register the webhook with Telegram and serve updates until `stop` is set (SIGTERM):
    then the server stops accepting and lets the updates in flight finish."""
    runner = await serve(
        create_webhook_app(runtime, path=webhook_path(url), secret=secret), runtime
    )
    try:
        await runtime.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=runtime.dp.resolve_used_update_types(),
        )
        log.info(
            "webhook serving on port %s at %s", runtime.settings.webhook_port, webhook_path(url)
        )
        await (stop or asyncio.Event()).wait()
        log.info("stopping: finishing the updates in flight")
    finally:
        await runner.cleanup()
