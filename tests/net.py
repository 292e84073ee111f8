"""Network helpers for tests: a TCP proxy a test can cut like an outage, a served aiohttp app,
and a bounded wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bot.app import Runtime


class TcpProxy:
    """A TCP proxy in front of a server (Redis, PostgreSQL) that a test can cut, like a network
    outage, and start again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    def url(self, redis_url: str) -> str:
        """`redis_url` with its host and port replaced by this proxy's."""
        db = redis_url.rsplit("/", 1)[-1] if redis_url.count("/") >= 3 else "0"
        return f"redis://127.0.0.1:{self.port}/{db}"


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Serve the app on a free local port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def eventually(condition: Callable[[], bool], *, limit: float, what: str) -> None:
    """Wait until the condition holds, checking often; fail after `limit` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, f"not within {limit}s: {what}"
        await asyncio.sleep(0.02)


def sample(runtime: Runtime, name: str, **labels: str) -> float:
    """A series' current value in the runtime's metrics (0 when it was never recorded)."""
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0
