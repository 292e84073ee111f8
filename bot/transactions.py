"""The rule "no network call between BEGIN and COMMIT", kept by the runtime itself.

Every database connection's transaction is tracked from its BEGIN to its COMMIT or ROLLBACK,
together with the asyncio task that opened it. Every Bot API call passes `TransactionGuard`
first:

- The update's own transaction (the `UnitOfWork` that `DbSessionMiddleware` opens) ends there:
  whatever the handler wrote is committed before the handler's first call to Telegram, so a
  reply that fails never takes committed work back, and SQLite's one write lock is never held
  while a reply is paced or sent. Writes a handler makes after talking to Telegram are a
  transaction of their own, committed when the handler returns.
- Any other transaction still open in the calling task (a job's or a verb's own
  `session.begin()`) is a breach of the rule: counted in `bot_network_in_transaction_total`
  and logged as an error, and raised as `NetworkInTransaction` when `STRICT_TRANSACTIONS` is on
  (the test suite runs so, which is how the rule is proved of every path the tests take).
"""

from __future__ import annotations

import asyncio
import logging
import os
import traceback
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics

log = logging.getLogger(__name__)

# each connection in a transaction -> the task that began it
_open: weakref.WeakKeyDictionary[Connection, asyncio.Task[Any] | None] = weakref.WeakKeyDictionary()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: a synchronous caller (the migration tool)
        return None


def _began(connection: Connection) -> None:
    _open[connection] = _current_task()


def _ended(connection: Connection) -> None:
    _open.pop(connection, None)


def track_transactions() -> None:
    """Track every engine's transactions (idempotent; called when the runtime is built)."""
    if not event.contains(Engine, "begin", _began):
        event.listen(Engine, "begin", _began)
        event.listen(Engine, "commit", _ended)
        event.listen(Engine, "rollback", _ended)


def open_in_this_task() -> int:
    """How many transactions the calling task has open right now."""
    task = _current_task()
    if task is None:
        return 0
    # a connection lost mid-transaction (a killed backend) ends without a COMMIT or ROLLBACK
    # event: it is not counted once it is closed or out of its transaction
    return sum(
        1
        for connection, owner in list(_open.items())
        if owner is task and not connection.closed and connection.in_transaction()
    )


class NetworkInTransaction(RuntimeError):
    """A Bot API call was made while the calling task held a database transaction open."""


AfterCommitCall = Callable[[], Awaitable[object]]


class UnitOfWork:
    """The transaction of one update: begun by the session middleware, committed before the
    handler's first Bot API call (or when the handler returns), rolled back on error.

    Calls queued with `add` run once the transaction they were queued in has
    committed; a rollback drops them. On SQLite the update holds the process's write queue
    (`writer`) from its BEGIN to its first COMMIT only."""

    def __init__(
        self,
        session: AsyncSession,
        writer: asyncio.Lock | None = None,
        failed: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.writer = writer
        self.failed = failed
        self.task = _current_task()
        self._queued: list[AfterCommitCall] = []
        self._ready: list[AfterCommitCall] = []
        self._holds_writer = False

    async def begin(self) -> None:
        if self.writer is not None:
            await self.writer.acquire()
            self._holds_writer = True
        await self.session.begin()

    def owns_current_task(self) -> bool:
        return self.task is not None and _current_task() is self.task

    def add(self, call: AfterCommitCall) -> None:
        """Run `call` once the transaction open now has committed (dropped on rollback)."""
        self._queued.append(call)

    async def commit(self) -> None:
        """Commit what is open (the update's writes so far) and free the write queue."""
        try:
            if self.session.in_transaction():
                await self.session.commit()
            self._ready.extend(self._queued)
            self._queued.clear()
        finally:
            self._release_writer()

    async def rollback(self) -> None:
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            self._queued.clear()
            self._release_writer()

    def _release_writer(self) -> None:
        if self._holds_writer and self.writer is not None:
            self._holds_writer = False
            self.writer.release()

    async def run_committed(self) -> None:
        """Carry out the calls whose transaction committed, in the order they were queued. A
        failure is logged and counted; it never undoes the committed work."""
        ready, self._ready = self._ready, []
        for call in ready:
            try:
                await call()
            except TelegramAPIError as exc:
                log.warning("a message after commit failed: %s", exc)
                if self.failed is not None:
                    self.failed()


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession],
    *,
    writer: asyncio.Lock | None = None,
    failed: Callable[[], None] | None = None,
) -> AsyncIterator[UnitOfWork]:
    """One transaction that ends before its task's first Bot API call (see the module), with
    the calls queued on it carried out after it committed. Handlers get theirs from the
    session middleware; jobs open their own.

    A block that fails after a commit (a reply Telegram refused) still has the calls of what
    committed carried out, and a Bot API error that ends it is counted as a failed effect:
    the work before it is kept, only the message is lost."""
    async with sessions() as session:
        unit = UnitOfWork(session, writer, failed)
        token = _unit.set(unit)
        try:
            await unit.begin()
            try:
                yield unit
                await unit.commit()
            except BaseException as exc:
                await unit.rollback()
                if isinstance(exc, Exception):
                    if isinstance(exc, TelegramAPIError) and failed is not None:
                        failed()
                    await unit.run_committed()
                raise
        finally:
            _unit.reset(token)
    await unit.run_committed()


# the update being handled in this task's context (a contextvar, so concurrent updates and
# the tasks they start never see each other's)
_unit: ContextVar[UnitOfWork | None] = ContextVar("unit_of_work", default=None)


def current_unit() -> UnitOfWork | None:
    return _unit.get()


_OURS = tuple(f"{os.sep}{room}{os.sep}" for room in ("bot", "handlers", "services", "tests"))


def _caller() -> str:
    """The innermost frame of our own code that made the call (for the log line)."""
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.endswith(f"bot{os.sep}transactions.py"):
            continue
        if any(room in frame.filename for room in _OURS) and "site-packages" not in frame.filename:
            return (
                f"{os.sep.join(frame.filename.rsplit(os.sep, 2)[-2:])}:{frame.lineno} {frame.name}"
            )
    return "?"


class TransactionGuard(BaseRequestMiddleware):
    """The outermost request middleware: ends the update's transaction before Telegram is
    called, and reports any other transaction the caller still holds open."""

    def __init__(self, metrics: Metrics | None = None, *, strict: bool = False) -> None:
        self.metrics = metrics
        self.strict = strict

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        unit = current_unit()
        if unit is not None and unit.owns_current_task() and unit.session.in_transaction():
            await unit.commit()
        refuse_if_open(method.__api_method__, self.metrics, strict=self.strict)
        return await make_request(bot, method)


def refuse_if_open(name: str, metrics: Metrics | None, *, strict: bool) -> None:
    """A call to Telegram (`name`) about to be made or queued: any database transaction still
    open in this task breaks the rule. It is counted and logged with the line that made the
    call, and with `strict` refused (NetworkInTransaction)."""
    held = open_in_this_task()
    if not held:
        return
    if metrics is not None:
        metrics.network_in_transaction.labels(method=name).inc()
    log.error("%s called with %d database transaction(s) open, from %s", name, held, _caller())
    if strict:
        raise NetworkInTransaction(f"{name} called with a database transaction open")
