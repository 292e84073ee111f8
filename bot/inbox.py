"""Background handling of webhook updates, without losing one to a crash.

The worker writes each new update into the database inbox (services/inbox.py) before it
answers Telegram, then handles it in a background task and deletes the row. A worker that
dies after answering leaves its rows behind; their lease runs out and a sweep in any worker
(every WEBHOOK_SWEEP_SECONDS, and at start) takes them over. On SIGTERM the worker stops
taking updates, lets the tasks in flight finish for up to WEBHOOK_DRAIN_SECONDS, cancels the
rest (their transactions roll back) and releases its rows so that another worker handles them
at its next sweep.

Updates of one chat are handled in the order they arrived here (each waits for the previous
one of its chat in this process), as they would be if Telegram waited for each answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.app import DB_WRITER, Runtime
from bot.tasks import cancel_and_wait
from models.base import utcnow
from services.inbox import (
    accept_update,
    finish_update,
    release_updates,
    retry_later,
    take_expired,
)

log = logging.getLogger(__name__)

# an update whose handling failed this many times is given up (logged with its id)
MAX_ATTEMPTS = 5


def order_key(update: dict[str, Any]) -> int | None:
    """The chat (else the user) an update belongs to: updates of one key go in order."""
    for value in update.values():
        if not isinstance(value, dict):
            continue
        for holder in (value, value.get("message")):
            if isinstance(holder, dict):
                chat = holder.get("chat")
                if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                    return int(chat["id"])
        sender = value.get("from") or value.get("user")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


class UpdateInbox:
    """Accepts updates durably, handles them in tracked background tasks, sweeps orphans."""

    def __init__(self, runtime: Runtime, *, clock: Callable[[], datetime] = utcnow) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.clock = clock
        self.lease = timedelta(seconds=settings.webhook_lease_seconds)
        self.sweep_seconds = settings.webhook_sweep_seconds
        self.drain_seconds = settings.webhook_drain_seconds
        self.owner = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.accepting = True
        self.tasks: set[asyncio.Task[None]] = set()
        self._tails: dict[int, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # on SQLite, the inbox's writes queue with the updates' transactions for the one lock
        writer: asyncio.Lock | None = runtime.dp.workflow_data.get(DB_WRITER)
        self.writer = writer

    def _writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self.writer if self.writer is not None else contextlib.nullcontext()

    async def accept(self, update_id: int, update: dict[str, Any]) -> bool:
        """Store the update (committed before this returns) and handle it in the background;
        False when it was already in the inbox (another delivery of it is taken care of)."""
        now = self.clock()
        async with self._writing(), self.runtime.sessions() as session, session.begin():
            fresh = await accept_update(
                session,
                update_id=update_id,
                body=json.dumps(update),
                owner=self.owner,
                lease_until=now + self.lease,
                now=now,
            )
        if fresh:
            self._spawn(update_id, update, attempts=1)
        return fresh

    def _spawn(self, update_id: int, update: dict[str, Any], *, attempts: int) -> None:
        key = order_key(update)
        previous = self._tails.get(key) if key is not None else None
        task = asyncio.create_task(
            self._handle(update_id, update, previous, attempts), name=f"update-{update_id}"
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if key is not None:
            self._tails[key] = task

            def forget(done: asyncio.Task[None], key: int = key) -> None:
                if self._tails.get(key) is done:
                    del self._tails[key]

            task.add_done_callback(forget)

    async def _handle(
        self,
        update_id: int,
        update: dict[str, Any],
        previous: asyncio.Task[None] | None,
        attempts: int,
    ) -> None:
        if previous is not None:
            await asyncio.wait({previous})  # the chat's earlier update first, however it ended
        try:
            await self.runtime.dp.feed_raw_update(self.runtime.bot, update)
        except Exception:  # handler errors end in the errors router: this failed around them
            log.exception("update %s failed (attempt %s)", update_id, attempts)
            await self._failed(update_id, attempts)
            return
        await self._settle(finish_update, update_id=update_id)

    async def _failed(self, update_id: int, attempts: int) -> None:
        if attempts >= MAX_ATTEMPTS:
            log.error("update %s given up after %s attempts", update_id, attempts)
            await self._settle(finish_update, update_id=update_id)
            return
        backoff = min(self.lease, timedelta(seconds=2**attempts))
        await self._settle(
            retry_later, update_id=update_id, owner=self.owner, when=self.clock() + backoff
        )

    async def _settle(self, step: Callable[..., Any], **values: Any) -> None:
        """Record what became of a row; when the store is away the lease runs out instead and
        a sweep takes the row again (the update id's claim makes that harmless)."""
        try:
            async with self._writing(), self.runtime.sessions() as session, session.begin():
                await step(session, **values)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("inbox: could not record update %s: %s", values.get("update_id"), exc)

    async def sweep(self) -> int:
        """Take the rows whose lease ran out and handle them here; returns how many."""
        if not self.accepting:
            return 0
        async with self._writing(), self.runtime.sessions() as session, session.begin():
            taken = await take_expired(
                session, owner=self.owner, now=self.clock(), lease=self.lease
            )
        for row in taken:
            if row.attempts > MAX_ATTEMPTS:
                log.error("update %s given up after %s attempts", row.update_id, row.attempts - 1)
                await self._settle(finish_update, update_id=row.update_id)
                continue
            log.info("update %s taken over from the inbox", row.update_id)
            self._spawn(row.update_id, json.loads(row.body), attempts=row.attempts)
        return len(taken)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("inbox sweep failed: %s", exc)
            except Exception:  # the sweep must go on whatever one row did
                log.exception("inbox sweep failed")
            await asyncio.sleep(self.sweep_seconds)

    async def start(self) -> None:
        """Sweep now (rows left by a worker that died) and every WEBHOOK_SWEEP_SECONDS."""
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="inbox-sweep")

    async def stop(self) -> None:
        """Stop taking updates, finish those in flight within WEBHOOK_DRAIN_SECONDS, cancel
        the rest and release this worker's rows for the others."""
        self.accepting = False
        await cancel_and_wait(self._sweeper)
        self._sweeper = None
        if self.tasks:
            log.info("finishing %s updates in flight", len(self.tasks))
            _done, late = await asyncio.wait(set(self.tasks), timeout=self.drain_seconds)
            for task in late:
                task.cancel()
            if late:
                log.warning("%s updates cut short; another worker will handle them", len(late))
                await asyncio.wait(late)
        try:
            async with self._writing(), self.runtime.sessions() as session, session.begin():
                released = await release_updates(session, owner=self.owner)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("inbox: could not release this worker's updates: %s", exc)
            return
        if released:
            log.info("released %s updates for the other workers", released)
