"""Test harness: a real store (SQLite, or PostgreSQL + Redis when asked), the Bot API emulator,
and the real Dispatcher and Bot talking to it over HTTP.

Backends are chosen by environment variables:
  TEST_DATABASE_URL  e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test  (default: SQLite)
  TEST_REDIS_URL     e.g. redis://127.0.0.1:6379/15  (default: in-memory FSM and throttling)
A backend that is asked for but cannot be reached stops the whole run with an error.

Tests marked `needs_redis` (they cut Redis off mid-run) need a real Redis: without
TEST_REDIS_URL they are deselected, and the run says so in its summary, never silently.
Tests marked `needs_browser` drive Chromium: TEST_CHROMIUM names it (and the run fails when it
is missing); without it, /usr/bin/chromium is used when installed, else they are deselected
and reported the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlmodel import SQLModel

from bot.app import Runtime, build_runtime, prepare
from bot.config import Settings
from bot.db import create_database, create_engine, create_session_factory, drop_database
from bot.migrate import upgrade
from services.ledger import reconcile
from tests.net import TcpProxy
from tests.processes import ROOT, StartBot
from tgemu import EMULATOR_TOKEN, Emulator, StoredMessage

# No timing in tests: hypothesis's per-example deadline fails examples that were merely slow
# on a loaded machine, which says nothing about the code.
hypothesis_settings.register_profile("no-deadline", deadline=None)
hypothesis_settings.load_profile("no-deadline")

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip() or None

# the cast of every end-to-end test
OWNER = 1001  # listed in OWNER_IDS
SAM = 1002  # becomes staff in some tests
LEE = 1003  # creator of TEA, its leader once the owner added the bot
MIA = 1004  # an ordinary member of both groups
KAI = 1005  # creator of COFFEE only, its leader once the owner added the bot
TEA = -1001000000001  # "Tea Lovers"
COFFEE = -1001000000002  # "Coffee Club"


PACING = "the promotion policy's default caps, gap and quiet hours (other tests run unpaced)"
# a test not about the promotion policy posts cards at any hour of the real clock, several a
# day in the same groups: the policy lets everything through at once there
UNPACED = {
    "promo_quiet_hours": "off",
    "promo_min_gap_hours": 0.0,
    "promo_group_week_cap": 100,
    "promo_member_week_cap": 100,
    "promo_leader_week_cap": 100,
}
NEEDS_REDIS = "needs TEST_REDIS_URL (the PostgreSQL + Redis run)"
NEEDS_BROWSER = "needs Chromium (TEST_CHROMIUM, or /usr/bin/chromium)"
# the browser of the dashboard test: asked for by TEST_CHROMIUM (then it must exist), or
# Debian's chromium when installed
TEST_CHROMIUM = os.environ.get("TEST_CHROMIUM", "").strip()
CHROMIUM = TEST_CHROMIUM or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else "")
_deselected: dict[str, list[str]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"pacing: {PACING}")
    config.addinivalue_line("markers", "unpaced: a test of a `pacing` module that runs unpaced")
    config.addinivalue_line("markers", f"needs_redis: {NEEDS_REDIS}; deselected otherwise")
    config.addinivalue_line("markers", f"needs_browser: {NEEDS_BROWSER}; deselected otherwise")
    if TEST_CHROMIUM and not Path(TEST_CHROMIUM).exists():
        raise pytest.UsageError(f"TEST_CHROMIUM={TEST_CHROMIUM} does not exist")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests whose real backend this run lacks (reported in the summary)."""
    missing = {"needs_redis": not TEST_REDIS_URL, "needs_browser": not CHROMIUM}
    keep, drop = [], []
    for item in items:
        lacks = [
            name for name, absent in missing.items() if absent and item.get_closest_marker(name)
        ]
        (drop if lacks else keep).append(item)
        for name in lacks:
            _deselected.setdefault(name, []).append(item.nodeid)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reasons = {"needs_redis": NEEDS_REDIS, "needs_browser": NEEDS_BROWSER}
    for name, nodeids in _deselected.items():
        terminalreporter.write_sep("-", f"deselected, {reasons[name]}")
        for nodeid in nodeids:
            terminalreporter.write_line(nodeid)


async def _check_redis(url: str) -> None:
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _migrate(url: str) -> None:
    engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    await upgrade(engine)
    await engine.dispose()


@dataclass
class Backend:
    """Where this test run keeps its data."""

    name: str
    database_url: str
    template: Path | None = None  # a migrated SQLite file copied for each test
    redis_url: str | None = None


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """The store for the whole run, migrated once; an unreachable backend fails the run."""
    redis_url = TEST_REDIS_URL
    if redis_url:
        try:
            asyncio.run(_check_redis(redis_url))
        except Exception as exc:
            pytest.exit(f"TEST_REDIS_URL={redis_url} is unreachable: {exc}", returncode=3)
    if TEST_DATABASE_URL:
        url = TEST_DATABASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
        name = f"ccbot_test_{uuid.uuid4().hex[:10]}"
        try:
            test_url = asyncio.run(create_database(url, name))
        except Exception as exc:
            pytest.exit(
                f"TEST_DATABASE_URL={TEST_DATABASE_URL} is unreachable: {exc}", returncode=3
            )
        asyncio.run(_migrate(test_url))
        yield Backend("postgresql", test_url, redis_url=redis_url)
        asyncio.run(drop_database(url, name))
        return
    template = tmp_path_factory.mktemp("template") / "template.sqlite3"
    url = f"sqlite+aiosqlite:///{template}"
    asyncio.run(_migrate(url))
    yield Backend("sqlite", url, template=template, redis_url=redis_url)


async def assert_reconciles(url: str) -> None:
    """The ledger of the database is balanced and every cached balance matches its entries."""
    engine = create_engine(make_settings(database_url=url))
    try:
        async with create_session_factory(engine)() as session:
            report = await reconcile(session)
    finally:
        await engine.dispose()
    assert report.ok, "\n".join(report.lines())


@pytest.fixture
async def database_url(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """A clean, migrated database for one test; its ledger must reconcile when the test ends."""
    if backend.template is not None:
        target = tmp_path / "bot.sqlite3"
        shutil.copy(backend.template, target)
        url = f"sqlite+aiosqlite:///{target}"
    else:
        engine = create_async_engine(backend.database_url)
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()
        url = backend.database_url
    yield url
    await assert_reconciles(url)


@pytest.fixture
async def redis_url(backend: Backend) -> AsyncIterator[str | None]:
    """The test Redis database, emptied before the test, or None for in-memory."""
    if backend.redis_url is None:
        yield None
        return
    client = Redis.from_url(backend.redis_url)
    await client.flushdb()
    await client.aclose()
    yield backend.redis_url


@pytest.fixture
async def redis_proxy(redis_url: str | None) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test Redis that the test can cut (`needs_redis` tests only)."""
    from redis.asyncio.connection import parse_url

    assert redis_url, "mark the test needs_redis"
    target = parse_url(redis_url)
    proxy = TcpProxy(str(target.get("host", "127.0.0.1")), int(target.get("port", 6379)))
    await proxy.start()
    yield proxy
    with contextlib.suppress(AssertionError):
        await proxy.cut()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """The Bot API emulator on a free local port, with the test cast and two groups."""
    emu = Emulator(validate_responses=True)
    await emu.start()
    emu.add_user(OWNER, "Olivia", username="olivia", language_code="en")
    emu.add_user(SAM, "Sam", username="sam", language_code="en")
    emu.add_user(LEE, "Lee", username="lee", language_code="zh-hans")
    emu.add_user(MIA, "Mia", username="mia", language_code="en")
    emu.add_user(KAI, "Kai", username="kai", language_code="zh-hant")
    emu.add_group(TEA, "Tea Lovers", creator=LEE, members=[MIA, SAM, OWNER, KAI])
    emu.add_group(COFFEE, "Coffee Club", creator=KAI, members=[MIA, SAM, OWNER])
    yield emu
    await emu.stop()


def make_settings(**values: Any) -> Settings:
    """Settings for a test: nothing read from .env; the given values on top of the defaults."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def pacing_of(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The promotion policy of a test: the defaults when it (or its module) is marked `pacing`
    and the test itself is not marked `unpaced`; else unpaced."""
    node = request.node
    if node.get_closest_marker("pacing") and not node.get_closest_marker("unpaced"):
        return {}
    return dict(UNPACED)


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, emulator: Emulator, database_url: str, redis_url: str | None
) -> Settings:
    return make_settings(
        **pacing_of(request),
        telegram_api_url=emulator.base_url,
        database_url=database_url,
        redis_url=redis_url,
        owner_ids=frozenset({OWNER}),
        throttle_limit=10_000,
        pace_messages=False,  # tests that measure pacing turn it on
        strict_transactions=True,  # a Bot API call inside a transaction fails the test
        card_edit_seconds=60.0,  # cards are edited when a test flushes them
    )


class FakeClock:
    """The domain's time, moved by the test (deadlines); starts at the real now."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Harness:
    """Drives the real Dispatcher: injects updates through the emulator and feeds them."""

    emulator: Emulator
    runtime: Runtime
    clock: FakeClock = field(default_factory=FakeClock)
    seen: dict[int, int] = field(default_factory=dict)

    async def feed_pending(self) -> None:
        """Hand every queued update to the Dispatcher, in order, as polling would."""
        for update in self.emulator.pop_updates():
            await self.runtime.dp.feed_raw_update(self.runtime.bot, update)
        await self.runtime.refunder.run_once()  # as the running refunder would, once woken
        await self.runtime.notifier.drain()

    def new_bot_messages(self, chat_id: int) -> list[StoredMessage]:
        """Bot messages in the chat since the last call for that chat."""
        messages = self.emulator.bot_messages(chat_id)
        start = self.seen.get(chat_id, 0)
        self.seen[chat_id] = len(messages)
        return messages[start:]

    async def send(self, user_id: int, chat_id: int, text: str, **kwargs: Any) -> list[str]:
        """The user writes in the chat; returns the texts the bot sent there in response."""
        self.new_bot_messages(chat_id)
        self.emulator.send_message(user_id, chat_id, text, **kwargs)
        await self.feed_pending()
        return [m.text or "" for m in self.new_bot_messages(chat_id)]

    async def press(self, user_id: int, chat_id: int, message_id: int, **kwargs: Any) -> str | None:
        """The user taps a button; returns the callback answer text (None when silent)."""
        update = self.emulator.press_button(user_id, chat_id, message_id, **kwargs)
        await self.feed_pending()
        query_id = update["callback_query"]["id"]
        answer = self.emulator.callback_answers.get(query_id)
        return None if answer is None else answer.get("text")

    async def join_groups(self) -> None:
        """The owner adds the bot to both groups: each is approved, and its creator leads it
        (CREATOR_LEADS_STAFF_ADDED_GROUP): Lee leads Tea Lovers, Kai Coffee Club."""
        self.emulator.add_bot_to_group(TEA, OWNER)
        self.emulator.add_bot_to_group(COFFEE, OWNER)
        await self.feed_pending()

    def session(self) -> AsyncSession:
        return self.runtime.sessions()


@pytest.fixture
async def harness(emulator: Emulator, settings: Settings) -> AsyncIterator[Harness]:
    """The bot wired as in production, minus polling: updates are fed one by one, and the
    domain clock is the test's."""
    clock = FakeClock()
    runtime = build_runtime(settings, EMULATOR_TOKEN, clock=clock)
    await prepare(runtime, migrate=False)
    yield Harness(emulator=emulator, runtime=runtime, clock=clock)
    await runtime.close()


@pytest.fixture
async def bot_process(
    emulator: Emulator, database_url: str, redis_url: str | None
) -> AsyncIterator[StartBot]:
    """Starts `python -m bot ...` against the emulator and the test stores; kills leftovers."""
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str, **env: str) -> asyncio.subprocess.Process:
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        base.update(
            PYTHONPATH=str(ROOT),
            BOT_TOKEN=EMULATOR_TOKEN,
            TELEGRAM_API_URL=emulator.base_url,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url or "",
            PACE_MESSAGES="false",
            STRICT_TRANSACTIONS="true",
            WEBHOOK_HOST="127.0.0.1",
        )
        base.update(env)  # the test's values win
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=base,
            cwd=ROOT / "tests",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()
