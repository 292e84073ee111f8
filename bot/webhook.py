"""Webhook mode: an aiohttp server that checks Telegram's secret-token header."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import Runtime

log = logging.getLogger(__name__)


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def create_webhook_app(runtime: Runtime, *, path: str, secret: str) -> web.Application:
    """The aiohttp app: POST <path> takes updates (401 without the right secret), GET /healthz."""
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=runtime.dp,
        bot=runtime.bot,
        secret_token=secret,
        handle_in_background=False,
    ).register(app, path=path)
    setup_application(app, runtime.dp, bot=runtime.bot)
    app.router.add_get("/healthz", _health)
    return app


def webhook_path(url: str) -> str:
    """The path Telegram posts to, taken from WEBHOOK_URL."""
    return urlsplit(url).path or "/"


async def serve_webhook(runtime: Runtime, *, url: str, secret: str) -> None:
    """Register the webhook with Telegram and serve updates until cancelled."""
    app = create_webhook_app(runtime, path=webhook_path(url), secret=secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, runtime.settings.webhook_host, runtime.settings.webhook_port)
    await site.start()
    await runtime.bot.set_webhook(
        url,
        secret_token=secret,
        allowed_updates=runtime.dp.resolve_used_update_types(),
    )
    log.info("webhook serving on port %s at %s", runtime.settings.webhook_port, webhook_path(url))
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
