"""Helpers for tests that run the bot as real processes (`python -m bot ...`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
# starting a Python process that migrates and registers menus is slow on a loaded machine
START_LIMIT = 90.0
STOP_LIMIT = 60.0

# starts `python -m bot <args>` with extra environment variables (the bot_process fixture)
StartBot = Callable[..., Awaitable[asyncio.subprocess.Process]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def healthy(base: str) -> None:
    """Wait until the process answers /healthz (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_LIMIT
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert loop.time() < deadline, "the process never answered /healthz"
            await asyncio.sleep(0.2)


async def inbox_drained(database_url: str, limit: float = START_LIMIT) -> None:
    """Wait (bounded) until the webhook inbox of the processes' database is empty: every
    update a worker acknowledged has been handled."""
    engine = create_async_engine(database_url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    try:
        while True:
            async with engine.connect() as connection:
                depth = await connection.scalar(text("SELECT count(*) FROM webhook_inbox"))
            if depth == 0:
                return
            assert loop.time() < deadline, f"{depth} updates still in the inbox after {limit}s"
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
