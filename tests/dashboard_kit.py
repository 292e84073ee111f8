"""Shared by the dashboard tests: the dashboard served on a free port beside the harness, and
the login link the bot gives in private."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import urlencode

import pytest
from aiohttp import web

from bot.config import Settings
from bot.web.dashboard import create_web_app
from tests.conftest import Harness
from tests.processes import free_port
from tgemu import EMULATOR_TOKEN

LINK = re.compile(r"https?://\S+/dashboard/login\?token=[\w-]+")


@pytest.fixture
def dashboard_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, dashboard_port: int) -> Settings:
    """The test settings, with the dashboard's address on this test's port."""
    return settings.model_copy(
        update={"dashboard_url": f"http://127.0.0.1:{dashboard_port}/dashboard"}
    )


@pytest.fixture
async def dashboard(harness: Harness, dashboard_port: int) -> AsyncIterator[str]:
    """The dashboard served by the harness's runtime; yields its base URL."""
    runner = web.AppRunner(create_web_app(harness.runtime))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", dashboard_port).start()
    try:
        yield f"http://127.0.0.1:{dashboard_port}/dashboard"
    finally:
        await runner.cleanup()


async def login_link(harness: Harness, user: int) -> str:
    """The link the bot sends the user for /dashboard in private."""
    harness.new_bot_messages(user)
    replies = await harness.send(user, user, "/dashboard")
    found = LINK.search(" ".join(replies))
    assert found, replies
    return found.group(0)


def init_data(
    user: int, first_name: str, *, signed_at: datetime, token: str = EMULATOR_TOKEN
) -> str:
    """Mini App initData as Telegram signs it (HMAC-SHA256 keyed by HMAC("WebAppData", token))."""
    fields = {
        "auth_date": str(int(signed_at.timestamp())),
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user, "first_name": first_name}, separators=(",", ":")),
    }
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)
