"""Helpers for tests that run the bot as real processes (`python -m bot ...`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

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
