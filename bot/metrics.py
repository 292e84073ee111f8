"""Prometheus metrics of one process, and the hooks that feed them.

Each runtime has its own registry (tests build several runtimes in one process); `/metrics` on
the bot's web server exposes it. The series:

- `bot_updates_total{type,outcome}`: updates by type (message, callback_query ...) and outcome
  (handled, unhandled, duplicate, throttled, error);
- `bot_update_seconds{type}`: handler latency, from the first middleware to the last;
- `bot_api_calls_total{method}` and `bot_api_errors_total{method,code}`: every Bot API request,
  each retry included, and the failed ones by code (429, 403, 400, 5xx, network ...);
- `bot_outbox_depth`: broadcast rows still to send, read from the database at scrape time;
- `bot_webhook_inbox_depth`: webhook updates acknowledged to Telegram and not handled yet (all
  workers), read from the database at scrape time;
- `bot_scheduler_lag_seconds{job}`: how late a scheduled job started after its due time;
- `bot_scheduler_leader`: 1 while this process runs the scheduler;
- `bot_groupbuy_joins_total`, `bot_groupbuy_settlements_total{outcome}` (formed, failed).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, TelegramObject, Update, User
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.base import BaseScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.logs import update_context

# what happened to an update, as the update middlewares tell it through the middleware data
OUTCOME = "update_outcome"
OUTCOME_HANDLED = "handled"  # a handler took it
OUTCOME_UNHANDLED = "unhandled"  # no handler matched
OUTCOME_DUPLICATE = "duplicate"  # its update id was already claimed
OUTCOME_THROTTLED = "throttled"  # the user went over the rate
OUTCOME_ERROR = "error"  # a handler raised (the errors router apologised)

# Bot API failures by the code operators alert on
_API_CODES: tuple[tuple[type[Exception], str], ...] = (
    (TelegramRetryAfter, "429"),
    (TelegramForbiddenError, "403"),
    (TelegramServerError, "5xx"),
    (TelegramBadRequest, "400"),
    (TelegramUnauthorizedError, "401"),
    (TelegramNotFound, "404"),
    (TelegramConflictError, "409"),
    (TelegramEntityTooLarge, "413"),
    (TelegramNetworkError, "network"),
)


def api_error_code(exc: Exception) -> str:
    """The label of a Bot API failure: 429, 403, 5xx, 400 ..., network or other."""
    for kind, code in _API_CODES:
        if isinstance(exc, kind):
            return code
    return "other"


class Metrics:
    """The process's series, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter(
            "bot_updates", "Updates by type and outcome", ["type", "outcome"], registry=r
        )
        self.update_seconds = Histogram(
            "bot_update_seconds",
            "Time to handle one update",
            ["type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.api_calls = Counter(
            "bot_api_calls", "Bot API requests, retries included", ["method"], registry=r
        )
        self.api_errors = Counter(
            "bot_api_errors", "Failed Bot API requests by code", ["method", "code"], registry=r
        )
        self.network_in_transaction = Counter(
            "bot_network_in_transaction",
            "Bot API calls made while the caller held a database transaction open",
            ["method"],
            registry=r,
        )
        self.effects_failed = Counter(
            "bot_effects_failed",
            "Messages after a commit that Telegram refused or never answered (work kept)",
            registry=r,
        )
        self.outbox_depth = Gauge(
            "bot_outbox_depth", "Broadcast rows still to send or in flight", registry=r
        )
        self.inbox_depth = Gauge(
            "bot_webhook_inbox_depth",
            "Webhook updates acknowledged and not handled yet",
            registry=r,
        )
        self.scheduler_lag = Histogram(
            "bot_scheduler_lag_seconds",
            "How late a scheduled job started after its due time",
            ["job"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.leader = Gauge(
            "bot_scheduler_leader", "1 while this process runs the scheduler", registry=r
        )
        self.joins = Counter("bot_groupbuy_joins", "Group-buy joins", registry=r)
        self.settlements = Counter(
            "bot_groupbuy_settlements", "Group-buys closed, by outcome", ["outcome"], registry=r
        )

    def joined(self) -> None:
        """A member joined a group-buy (or took more units)."""
        self.joins.inc()

    def settled(self, formed: bool) -> None:
        """A group-buy closed: formed or failed."""
        self.settlements.labels("formed" if formed else "failed").inc()


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateObserver(BaseMiddleware):
    """The outermost update middleware of ours: puts the update's ids in the log context,
    times the update and counts it by type and outcome."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        kind = event.event_type
        token = update_context.set(
            {
                "update_id": event.update_id,
                "chat_id": chat.id if chat is not None else None,
                "user_id": user.id if user is not None else None,
            }
        )
        started = time.perf_counter()
        try:
            result = await handler(event, data)
        except Exception:
            # the ids stay in the context for the errors router's line, logged outside this
            # middleware (a webhook request or polled update runs in a context of its own)
            self._count(kind, OUTCOME_ERROR, started)
            raise
        outcome = data.get(OUTCOME) or (
            OUTCOME_UNHANDLED if result is UNHANDLED else OUTCOME_HANDLED
        )
        self._count(kind, outcome, started)
        update_context.reset(token)
        return result

    def _count(self, kind: str, outcome: str, started: float) -> None:
        self.metrics.update_seconds.labels(kind).observe(time.perf_counter() - started)
        self.metrics.updates.labels(kind, outcome).inc()


class ApiMetrics(BaseRequestMiddleware):
    """Counts every Bot API request and its failures; registered after the pace, so each
    retry after a 429 is counted too."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        self.metrics.api_calls.labels(name).inc()
        try:
            return await make_request(bot, method)
        except TelegramAPIError as exc:
            self.metrics.api_errors.labels(name, api_error_code(exc)).inc()
            raise


def watch_scheduler(scheduler: BaseScheduler, metrics: Metrics, job: str) -> None:
    """Record how late each of the scheduler's jobs starts, under the label `job`."""

    def submitted(event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            due = max(event.scheduled_run_times)
            lag = (datetime.now(UTC) - due).total_seconds()
            metrics.scheduler_lag.labels(job).observe(max(0.0, lag))

    scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
