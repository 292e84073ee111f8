"""What the benchmarks share: their store options, a scratch store, feeding updates as a
polling loop does, counting the SQL statements each update costs, the bare aiogram baseline
and taking a run in turns with it, and percentiles."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery, Message, PollAnswer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_bot
from bot.config import Settings
from bot.db import create_database, drop_database
from tgemu import EMULATOR_TOKEN

# the benchmarks measure the bot's speed, not the promotion policy: cards go out at any hour of
# the real clock, as many as the run opens (the policy's own speed is in bench/broadcast.py)
UNPACED_CARDS: dict[str, object] = {
    "promo_quiet_hours": "off",
    "promo_min_gap_hours": 0.0,
    "promo_group_week_cap": 100,
    "promo_member_week_cap": 100,
    "promo_leader_week_cap": 100,
}


def store_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every store benchmark takes: --quick, --backend, --database, --redis."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    return parser


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@asynccontextmanager
async def scratch_store(backend: str, server: str | None, name: str) -> AsyncIterator[str]:
    """A database URL that starts empty and is gone afterwards: a throw-away database on the
    PostgreSQL server, or a SQLite file in a temporary directory."""
    if backend == "postgresql":
        assert server is not None
        server = server.replace("postgresql://", "postgresql+asyncpg://", 1)
        scratch = f"ccbot_{name}_{uuid.uuid4().hex[:8]}"
        url = await create_database(server, scratch)
        try:
            yield url
        finally:
            await drop_database(server, scratch)
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite+aiosqlite:///{tmp}/{name}.sqlite3"


# the statement count of the update the current task is handling (None outside the feed)
_statements: ContextVar[list[int] | None] = ContextVar("bench_statements", default=None)
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class StatementCounter:
    """Counts the SQL statements SQLAlchemy executes on a cursor for each fed update.

    A `before_cursor_execute` listener on the engines adds one to the count of the update the
    current task handles (a context variable, set per update by `feed_all`; SQLAlchemy's
    greenlets carry it into the driver calls). Counted: every SELECT, INSERT, UPDATE, DELETE
    (an executemany counts once), whatever middleware, handler or after-commit call of the
    update runs it, in as many transactions as it takes. Not counted: transaction control
    (SQLite's BEGIN IMMEDIATE goes through a cursor, PostgreSQL's BEGIN and both COMMITs do
    not, so they are left out on both for a fair comparison; on PostgreSQL a COMMIT may carry
    `synchronous_commit` back on, bot.db), and statements of background
    work started before the update (the card refresher's timer, the broadcast sender)."""

    def __init__(self, *engines: AsyncEngine | None) -> None:
        self.engines = [engine for engine in engines if engine is not None]
        self.counts: dict[int, int] = {}
        for engine in self.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    @staticmethod
    def _count(
        conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        cell = _statements.get()
        if cell is not None and not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            cell[0] += 1

    @contextmanager
    def update(self, index: int) -> Iterator[None]:
        """Count the statements run in this block (and the tasks it starts) as update `index`."""
        cell = [0]
        token = _statements.set(cell)
        try:
            yield
        finally:
            _statements.reset(token)
            self.counts[index] = cell[0]

    def median(self, indexes: list[int] | None = None) -> float:
        """The median statements per update, over all counted updates or the given ones."""
        chosen = [self.counts[i] for i in (indexes if indexes is not None else self.counts)]
        return statistics.median(chosen) if chosen else 0.0

    def close(self) -> None:
        for engine in self.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", self._count)


# the Bot API calls of the update the current task is handling (None outside the feed)
_calls: ContextVar[list[TelegramMethod[Any]] | None] = ContextVar("bench_calls", default=None)
Calls = Mapping[int, list[TelegramMethod[Any]]]


class CallRecorder(BaseRequestMiddleware):
    """Records the Bot API calls each fed update makes, as the update's own task (and the tasks
    it starts) makes them, so that bare aiogram can make the same calls for the same update
    (`BareAiogram(calls=...)`). Calls made by background workers started before the feed (the
    notifier's queue, the card refresher's timer) are not recorded: the bare side is spared
    them."""

    def __init__(self) -> None:
        self.calls: dict[int, list[TelegramMethod[Any]]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        cell = _calls.get()
        if cell is not None:
            cell.append(method)
        return await make_request(bot, method)

    @contextmanager
    def update(self, index: int) -> Iterator[None]:
        cell: list[TelegramMethod[Any]] = []
        token = _calls.set(cell)
        try:
            yield
        finally:
            _calls.reset(token)
            self.calls[index] = cell


async def feed_all(
    dp: Dispatcher,
    bot: Any,
    updates: list[dict[str, Any]],
    concurrency: int,
    *,
    counter: StatementCounter | None = None,
    recorder: CallRecorder | None = None,
    stretch: range | None = None,
) -> list[float]:
    """Feed the updates (only those of `stretch`, positions in `updates`, when given: a round of
    a run, see `in_turns`) with at most `concurrency` in flight, like a polling loop handling a
    batch as tasks; returns each fed update's handling time in milliseconds, in order. With a
    `counter`, the SQL statements of each update are counted too; with a `recorder`, its Bot
    API calls are recorded; both under the update's position in `updates`."""
    positions = stretch if stretch is not None else range(len(updates))
    gate = asyncio.Semaphore(concurrency)
    latencies = dict.fromkeys(positions, 0.0)

    async def one(position: int) -> None:
        async with gate:
            with (
                counter.update(position) if counter is not None else _nothing(),
                recorder.update(position) if recorder is not None else _nothing(),
            ):
                started = time.perf_counter()
                await dp.feed_raw_update(bot, updates[position])
                latencies[position] = (time.perf_counter() - started) * 1000

    await asyncio.gather(*(one(position) for position in positions))
    return list(latencies.values())


@contextmanager
def _nothing() -> Iterator[None]:
    yield


BARE_REPLY = "Here is what you can do:"

# Another token of the emulator's bot, for a bare aiogram whose calls must not spend the bot's
# rate limits (the emulator's `unmetered_tokens`)
BASELINE_TOKEN = f"{EMULATOR_TOKEN.partition(':')[0]}:bare-aiogram-baseline"


class BareAiogram:
    """Bare aiogram answering updates over HTTP: one Dispatcher and one Bot for a whole run,
    fed in rounds (`feed`) between the bot's own rounds (`in_turns`).

    By default each message is answered with one sendMessage of a short line and each
    callback with one empty answerCallbackQuery. `replies` maps an update id to the
    sendMessage arguments (text, reply_markup) to answer it with instead. `calls` maps an
    update's position in the run to the Bot API calls the bot made for the update in that
    position (`CallRecorder`): bare aiogram then makes exactly those calls, the callback's
    answer addressed to the callback at hand, so both sides send the same messages and the
    difference is what the bot does besides. Either may grow between rounds. With `token`
    BASELINE_TOKEN (registered with the emulator as unmetered), its calls leave the bot's
    rate limits whole, for a run with the limits enforced."""

    def __init__(
        self,
        settings: Settings,
        *,
        replies: Mapping[int, Mapping[str, Any]] | None = None,
        calls: Calls | None = None,
        token: str = EMULATOR_TOKEN,
    ) -> None:
        self.dp = dp = Dispatcher()
        self.bot = create_bot(settings, token)
        self.replies = replies if replies is not None else {}
        self.calls = calls
        self.position: dict[int, int] = {}  # update id -> position in the run

        @dp.message()
        async def reply(message: Message, bot: Bot, event_update: Any) -> None:
            if self.calls is not None:
                await self._replay(bot, event_update.update_id)
                return
            await message.answer(**self.replies.get(event_update.update_id, {"text": BARE_REPLY}))

        @dp.callback_query()
        async def answer(query: CallbackQuery, bot: Bot, event_update: Any) -> None:
            if self.calls is not None:
                await self._replay(bot, event_update.update_id, query)
                return
            await query.answer()

        if calls is not None:  # a poll answer is otherwise left unhandled, as the bot may

            @dp.poll_answer()
            async def vote(answer: PollAnswer, bot: Bot, event_update: Any) -> None:
                await self._replay(bot, event_update.update_id)

    async def _replay(self, bot: Bot, update_id: int, query: CallbackQuery | None = None) -> None:
        assert self.calls is not None
        for method in self.calls.get(self.position[update_id], ()):
            if query is not None and isinstance(method, AnswerCallbackQuery):
                method = method.model_copy(update={"callback_query_id": query.id})
            with contextlib.suppress(TelegramAPIError):  # an edit that changes nothing now
                await bot(method)

    async def feed(
        self, updates: list[dict[str, Any]], concurrency: int, *, stretch: range | None = None
    ) -> tuple[float, list[float]]:
        """Handle the updates of the run (those of `stretch` when given); returns the seconds it
        took and each update's handling time in milliseconds."""
        positions = stretch if stretch is not None else range(len(updates))
        for position in positions:
            self.position[updates[position]["update_id"]] = position
        started = time.perf_counter()
        latencies = await feed_all(self.dp, self.bot, updates, concurrency, stretch=positions)
        return time.perf_counter() - started, latencies

    async def close(self) -> None:
        await self.bot.session.close()


ROUNDS = 8  # rounds of a run taken in turns by the bot and bare aiogram


def rounds(count: int, how_many: int = ROUNDS) -> list[range]:
    """The positions 0..count-1 cut into `how_many` consecutive rounds of (nearly) equal size."""
    cuts = [count * k // how_many for k in range(how_many + 1)]
    return [range(cuts[k], cuts[k + 1]) for k in range(how_many) if cuts[k] < cuts[k + 1]]


def settle_heap() -> None:
    """Before the measured run: move what the benchmark itself built (the emulator's world,
    its stored messages, the prepared updates) out of the garbage collector's reach.

    Telegram runs in this process here, not on Telegram's servers: without this, each full
    collection in the run walked all of it, a pause of up to a quarter of a second that every
    update in flight waited out, on the side (the bot's or bare aiogram's) that happened to
    be running. The bot's own objects built at start are frozen by `freeze_startup_objects`,
    as in a process that runs the bot."""
    gc.collect()
    gc.freeze()


async def in_turns(
    count: int,
    bot_round: Callable[[range], Awaitable[float]],
    bare_round: Callable[[range], Awaitable[float]],
    how_many: int = ROUNDS,
) -> tuple[float, float]:
    """Run the bot's and bare aiogram's rounds in turns (the bot's round of a stretch of the
    run, then bare aiogram's round of the same stretch, and so on) and return the seconds each
    side took in all. Each round returns the seconds it took.

    The two sides of a ratio are measured in turns, not one whole side after the other,
    because the speed of a shared machine drifts by a third within minutes: in turns, a drift
    weighs on both sides alike, and the ratio of their sums stays the ratio of their speeds."""
    settle_heap()
    bot_seconds = bare_seconds = 0.0
    for stretch in rounds(count, how_many):
        bot_seconds += await bot_round(stretch)
        bare_seconds += await bare_round(stretch)
    return bot_seconds, bare_seconds
