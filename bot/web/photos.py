"""Product photos at a public address, for Telegram invoices.

An invoice's `photo_url` must be a URL Telegram can fetch, and a product's photo is only a
Telegram file id (which staff sent the product wizard). So the bot's web server answers
GET /dashboard/photos/<product id>-<tag>.jpg (no sign-in: Telegram asks for it) with the
photo, downloaded from Telegram once (getFile, then the file) with no database transaction
open, and kept in memory for the next invoices. The tag comes from the file id: another photo
gets another address, and addresses cannot be guessed from product ids.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiohttp import ClientError, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.views.product import PHOTO_PATH, photo_tag
from services.product import get_product
from services.validation import NumberRefused, number

log = logging.getLogger(__name__)

CACHE_PHOTOS = 64  # photos kept in memory at most ...
CACHE_BYTES = 32 * 1024 * 1024  # ... and at most this many bytes of them
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's own limit on a photo
MAX_AGE = 7 * 24 * 3600  # seconds a client may keep a photo (its address changes with it)


class ProductPhotos:
    """Serves product photos, fetched from Telegram once and cached (least recently used)."""

    def __init__(self, *, bot: Bot, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.bot = bot
        self.sessions = sessions
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached_bytes = 0
        self._fetching: dict[str, asyncio.Lock] = {}
        self.downloads = 0  # how many photos were fetched from Telegram (for monitoring, tests)

    async def serve(self, request: web.Request) -> web.Response:
        """GET <base>/photos/<id>-<tag>.jpg: the product's photo, or 404 when the product has
        no such photo (any more)."""
        try:
            product_id = number(request.match_info["product_id"], prefix="")
        except NumberRefused:
            product_id = None  # longer than any product id
        if product_id is None:
            raise web.HTTPNotFound()
        async with self.sessions() as session:
            product = await get_product(session, product_id)
        # the session is closed: no transaction is open while Telegram is asked
        if product is None or product.photo is None:
            raise web.HTTPNotFound()
        file_id = product.photo.file_id
        if photo_tag(file_id) != request.match_info["tag"]:
            raise web.HTTPNotFound()
        data = await self.photo(file_id)
        if data is None:
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "60"})
        return web.Response(
            body=data,
            content_type="image/png" if data.startswith(b"\x89PNG") else "image/jpeg",
            headers={"Cache-Control": f"public, max-age={MAX_AGE}"},
        )

    async def photo(self, file_id: str) -> bytes | None:
        """The photo's bytes, from the cache or else from Telegram; None when Telegram cannot
        give it now."""
        cached = self._cached(file_id)
        if cached is not None:
            return cached
        lock = self._fetching.setdefault(file_id, asyncio.Lock())
        async with lock:  # one download per photo, however many ask at once
            cached = self._cached(file_id)
            if cached is not None:
                return cached
            try:
                buffer = await self.bot.download(file_id)
            except (TelegramAPIError, ClientError, TimeoutError) as exc:
                log.warning("product photo %s could not be fetched: %s", file_id, exc)
                return None
            finally:
                self._fetching.pop(file_id, None)
            if buffer is None:
                return None
            data = buffer.read()
            self.downloads += 1
            if 0 < len(data) <= MAX_PHOTO_BYTES:
                self._keep(file_id, data)
            return data or None

    def _cached(self, file_id: str) -> bytes | None:
        data = self._cache.get(file_id)
        if data is not None:
            self._cache.move_to_end(file_id)
        return data

    def _keep(self, file_id: str, data: bytes) -> None:
        self._cache[file_id] = data
        self._cached_bytes += len(data)
        while len(self._cache) > CACHE_PHOTOS or self._cached_bytes > CACHE_BYTES:
            _oldest, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped)


PHOTOS = web.AppKey("photos", ProductPhotos)


def add_photos(app: web.Application, photos: ProductPhotos, prefix: str) -> None:
    """Mount GET <prefix>/photos/<id>-<tag>.jpg."""
    app.router.add_get(
        f"{prefix}{PHOTO_PATH}/{{product_id:[0-9]+}}-{{tag:[0-9a-f]{{16}}}}.jpg", photos.serve
    )
