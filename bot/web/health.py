"""What a load balancer and Prometheus ask a process: /healthz, /readyz and /metrics.

- `/healthz`: the process is up and its event loop answers (200 always);
- `/readyz`: the database answers and is migrated to this code's head, and Redis answers when
  REDIS_URL is set: 200 `{"ready": true}`, else 503 with the short reason of each failed check;
- `/metrics`: the Prometheus exposition of the process's series (bot/metrics.py), with the
  outbox and webhook inbox depths read from the database at scrape time.

Every response of an app these are added to goes without aiohttp's `Server` banner (its
version is nobody's business), aiohttp's own 400 for malformed HTTP included.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from bot.app import Runtime
from bot.migrate import current_revision, head_revisions
from services.broadcast import outbox_depth
from services.inbox import inbox_depth

log = logging.getLogger(__name__)

# a check that takes longer than this counts as failed
CHECK_SECONDS = 3.0


async def _database(runtime: Runtime) -> str | None:
    try:
        revision = await asyncio.wait_for(current_revision(runtime.engine), CHECK_SECONDS)
    except Exception as exc:  # whatever fails, the process is not ready
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return "unreachable"
    if revision not in head_revisions():
        return f"migrations not at head (at {revision})"
    return None


async def _redis(runtime: Runtime) -> str | None:
    if runtime.redis is None:
        return None
    try:
        await asyncio.wait_for(runtime.redis.ping(), CHECK_SECONDS)
    except Exception as exc:  # whatever fails, the process is not ready
        log.warning("readiness: Redis unreachable: %s", type(exc).__name__)
        return "unreachable"
    return None


async def readiness(runtime: Runtime) -> dict[str, str]:
    """The failed checks by name with a short reason; empty when the process is ready."""
    database, redis = await asyncio.gather(_database(runtime), _redis(runtime))
    failed = {"database": database, "redis": redis}
    return {name: reason for name, reason in failed.items() if reason is not None}


async def no_server_banner(_request: web.Request, response: web.StreamResponse) -> None:
    """An on_response_prepare hook: aiohttp names itself and its version in `Server`; drop it."""
    response.headers.popall("Server", None)


class _BannerlessRequest(web.Request):
    """A request whose every response goes without `Server`, including aiohttp's own answer
    to malformed HTTP (a 400 sent before any route is matched, which no on_response_prepare
    hook sees). aiohttp calls `_prepare_hook` on each response after it set its headers and
    before it writes them; no public API reaches those error responses."""

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        response.headers.popall("Server", None)
        await super()._prepare_hook(response)


def no_banner_on_errors(app: web.Application) -> None:
    """Make the app's requests `_BannerlessRequest`s (aiohttp's request factory takes the
    class; tests/test_dashboard_security.py sends malformed HTTP to check it holds)."""
    setattr(app, "_make_request", partial(app._make_request, _cls=_BannerlessRequest))  # noqa: B010


def add_observability(app: web.Application, runtime: Runtime) -> None:
    """Add GET /healthz, /readyz and /metrics to the app, and drop the Server banner from every
    response it sends."""
    app.on_response_prepare.append(no_server_banner)
    no_banner_on_errors(app)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_request: web.Request) -> web.Response:
        failed = await readiness(runtime)
        if failed:
            return web.json_response({"ready": False, "failed": failed}, status=503)
        return web.json_response({"ready": True})

    async def metrics(_request: web.Request) -> web.Response:
        try:
            async with runtime.sessions() as session:
                depth = await asyncio.wait_for(outbox_depth(session), CHECK_SECONDS)
                inbox = await asyncio.wait_for(inbox_depth(session), CHECK_SECONDS)
            runtime.metrics.outbox_depth.set(depth)
            runtime.metrics.inbox_depth.set(inbox)
        except (TimeoutError, SQLAlchemyError, OSError) as exc:  # the rest is still worth it
            log.warning("metrics: outbox or inbox depth unknown: %s", type(exc).__name__)
        body = generate_latest(runtime.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
