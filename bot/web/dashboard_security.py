"""What keeps the dashboard safe in a browser: its response headers, the same-origin check of
every POST, the per-address limit on sign-in attempts, and the used set of Mini App initData.

- Headers: a strict Content-Security-Policy on every /dashboard response (nothing runs or
  loads but the pages' own styles and scripts, allowed by their SHA-256, and Telegram's Mini
  App script by its address), framing by Telegram's web clients only (`frame-ancestors`),
  `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and no `Server` banner
  (bot/web/health.py drops it on every response of the bot's web server).
- POST: a browser says where a request comes from (`Sec-Fetch-Site`, else `Origin`); one from
  another site is refused with 403, so no other page can sign a browser in or out (a client
  that sends neither header is no browser, and cannot carry a victim's cookie).
- Sign-in attempts: counted per client address in one-minute windows, in Redis when configured
  (shared by every worker) and in memory otherwise; over DASHBOARD_LOGIN_LIMIT an attempt is
  answered 429 before the store is asked.
- initData: each signed initData (by its `hash`) signs in once; the used set lives in Redis
  with an expiry when configured, else in the database (services/dashboard.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.web import layout
from services.dashboard import use_init_data

log = logging.getLogger(__name__)

# Telegram's Mini App script, should a page load it: allowed by its exact address
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
# the only pages that may show the dashboard in a frame: Telegram's web clients
FRAME_ANCESTORS = "https://web.telegram.org https://*.web.telegram.org"


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        f"script-src {_sha256(layout.MINI_APP_SCRIPT)} {_sha256(layout.KEEPER_SCRIPT)} "
        + TELEGRAM_SCRIPT,
        f"style-src {_sha256(layout.STYLE)} {_sha256(layout.KEEPER_STYLE)}",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        f"frame-ancestors {FRAME_ANCESTORS}",
    )
)


def dashboard_headers(
    prefix: str,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An on_response_prepare hook that puts the browser's rules on every response under
    `prefix` (pages, CSVs, photos, refusals and errors alike)."""

    async def hook(request: web.Request, response: web.StreamResponse) -> None:
        if request.path != prefix and not request.path.startswith(prefix + "/"):
            return
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"

    return hook


def cross_site(request: web.Request, *, public_origin: str) -> bool:
    """Whether a POST comes from a page of another site, by what the browser says: its
    `Sec-Fetch-Site`, else its `Origin` (which must be this server's: the public address, or
    the host the request was sent to). Neither header: not a browser, so not cross-site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    if origin == public_origin:
        return False
    parts = urlsplit(origin)
    # "null" (a sandboxed page, a privacy-minded redirect) or another host
    return not (parts.scheme in ("http", "https") and parts.netloc == request.host)


def origin_of(url: str) -> str:
    """scheme://host[:port] of an address."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def client_address(request: web.Request) -> str:
    """The address a sign-in attempt is counted against: the peer's, or behind a proxy on this
    machine or a private network (Caddy in the compose stack), the last address the proxy
    added to X-Forwarded-For (the one it saw; earlier ones are the client's own claims)."""
    peer = request.remote or ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer or "unknown"
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and (address.is_private or address.is_loopback):
        last = forwarded.split(",")[-1].strip()
        with contextlib.suppress(ValueError):  # not an address: the peer's counts
            address = ipaddress.ip_address(last)
    if address.version == 6:  # one person holds a whole /64
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "/64"
    return str(address)


class LoginLimiter:
    """Sign-in attempts per client address in fixed one-minute windows: in Redis when given
    (every worker shares the count), in memory otherwise or while Redis is away."""

    WINDOW = 60

    def __init__(
        self, *, limit: int, redis: Redis | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.redis = redis
        self.clock = clock
        self._counts: dict[tuple[str, int], int] = {}

    async def allow(self, address: str) -> bool:
        """Count one attempt from the address; False when it is over the limit."""
        bucket = int(self.clock()) // self.WINDOW
        if self.redis is not None:
            key = f"dashboard:login:{address}:{bucket}"
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.WINDOW + 1)
                    count, _ = await pipe.execute()
                return int(count) <= self.limit
            except RedisError as exc:
                log.warning("dashboard sign-in limit counted in memory: Redis: %s", exc)
        if len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= bucket}
        count = self._counts.get((address, bucket), 0) + 1
        self._counts[(address, bucket)] = count
        return count <= self.limit


class UsedInitData:
    """The used set of Mini App initData: each `hash` signs in once until `until`."""

    def __init__(self, *, redis: Redis | None, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.redis = redis
        self.sessions = sessions

    async def use(self, digest: str, *, until: datetime, now: datetime) -> bool:
        """True the first time this initData is used; False when it was used already."""
        seconds = max(int((until - now).total_seconds()), 1)
        if self.redis is not None:
            try:
                first = await self.redis.set(
                    f"dashboard:init_data:{digest}", b"1", nx=True, ex=seconds
                )
                return bool(first)
            except RedisError as exc:
                log.warning("dashboard initData checked in the database: Redis: %s", exc)
        async with self.sessions() as session:
            first = await use_init_data(session, digest=digest, until=until, now=now)
            await session.commit()
        return first
