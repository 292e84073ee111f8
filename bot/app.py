"""Factories that build the bot, the dispatcher and everything they share, once per process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, TypedDict, cast

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiogram.utils.i18n import I18n
from aiohttp import ClientError, ClientTimeout
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.abtest import AbTestReports
from bot.alerts import AlertWatch
from bot.cards import CardRefresher
from bot.care import MemberCare
from bot.config import Settings
from bot.db import create_engine, create_session_factory, fill_pool
from bot.digest import WeeklyDigest
from bot.i18n import LocaleMiddleware, create_i18n, missing_catalogs
from bot.interactions import InteractionCounter, InteractionMiddleware
from bot.leader import SchedulerLeadership
from bot.levels import GroupSizeWatch
from bot.membership import MembershipLapses
from bot.metrics import ApiMetrics, Metrics, UpdateObserver
from bot.middlewares import (
    ContextMiddleware,
    DbSessionMiddleware,
    StateMiddleware,
    ThrottleMiddleware,
)
from bot.migrate import upgrade
from bot.outbox import BroadcastSender
from bot.periodic import JobBasics
from bot.policy import CardPoster
from bot.redis import ResilientStorage, SharedPace, Throttle, create_redis
from bot.refunds import StarRefunder
from bot.reservations import ReservationSweeper
from bot.retention import TextRetention
from bot.routing import quicken
from bot.scheduler import GroupBuyCloser, PollCloser
from bot.sender import Notifier, Pace, PacedRequests, PaceLimits
from bot.tickets import TicketClock
from bot.transactions import TransactionGuard, track_transactions
from bot.trials import TrialClock
from bot.waitlist import WaitlistKeeper
from handlers import feature_routers
from handlers.views.commands import set_default_commands, sync_private_commands
from models.base import utcnow
from services.member import get_member
from services.role import Role, leader_ids, staff_ids

log = logging.getLogger(__name__)
# the one-writer queue of SQLite (None on PostgreSQL), in the dispatcher's workflow data
DB_WRITER = "db_writer"
# no pacing at all: for tests that do not measure it
UNLIMITED = PaceLimits(per_second=10**9, private_gap=0.0, group_per_minute=10**9, slack=0.0)


class BotSession(AiohttpSession):
    """aiogram's aiohttp session, keeping each method's parametrized response model alive.

    aiogram builds `Response[ReturnType]` for every answer it reads. pydantic caches those
    generic classes only weakly, so after a garbage collection the next answer rebuilds the
    class and its validator (about 0.5 ms, the biggest single cost of a reply in the load
    profile). Holding one reference per return type keeps the cache warm."""

    _responses: ClassVar[dict[object, object]] = {}

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._responses:
            self._responses[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        """aiogram's request, except that a redirect is never followed.

        The Bot API never redirects. A redirect comes from a misbehaving proxy or server, and
        following it would send the token (in the path) to wherever it points; aiohttp would
        also quote the URL, token included, in its error on a loop or an invalid location."""
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        form = self.build_form_data(bot=bot, method=method)
        try:
            async with session.post(
                url,
                data=form,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
                allow_redirects=False,
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        if 300 <= resp.status < 400:
            raise TelegramNetworkError(
                method=method,
                message=f"the Bot API server answered a redirect (HTTP {resp.status}), "
                "which is never followed: check TELEGRAM_API_URL and any proxy in between",
            )
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (aiogram's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """aiogram's file download (the URL holds the token too), never following a
        redirect."""
        session = await self.create_session()
        async with session.get(
            url,
            timeout=ClientTimeout(total=timeout),
            headers=headers or {},
            raise_for_status=raise_for_status,
            allow_redirects=False,
        ) as resp:
            if 300 <= resp.status < 400:
                # not aiohttp's response error: its text quotes the URL with the token
                raise ClientError(f"the file server answered a redirect (HTTP {resp.status})")
            async for chunk in resp.content.iter_chunked(chunk_size):
                yield chunk


def create_bot(
    settings: Settings,
    token: str,
    paced: PacedRequests | None = None,
    metrics: Metrics | None = None,
) -> Bot:
    """A Bot that talks HTML to the Bot API server at TELEGRAM_API_URL, paced and counted
    when given (the counting inside the pace, so that every retry is counted)."""
    track_transactions()
    session = BotSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    # outermost: the update's transaction ends before any pacing or sending
    session.middleware(TransactionGuard(metrics, strict=settings.strict_transactions))
    if paced is not None:
        session.middleware(paced)
    if metrics is not None:
        session.middleware(ApiMetrics(metrics))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


class Injected(TypedDict):
    """What the Dispatcher hands every handler that names it, besides aiogram's own arguments
    and what the middlewares add (session, member, community, locale, ...)."""

    clock: Callable[[], datetime]
    cards: CardRefresher
    closer: GroupBuyCloser
    poster: CardPoster
    poll_closer: PollCloser
    notifier: Notifier
    broadcaster: BroadcastSender
    refunder: StarRefunder


def create_dispatcher(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    i18n: I18n,
    storage: BaseStorage,
    throttle: Throttle,
    metrics: Metrics,
    interactions: InteractionCounter | None = None,
    injected: Injected,
) -> Dispatcher:
    """The Dispatcher with the middlewares in order and every feature router; what is
    `injected` reaches handlers as keyword arguments."""
    dp = Dispatcher(
        storage=storage, disable_fsm=True, settings=settings, i18n=i18n, metrics=metrics
    )
    dp.fsm = StateMiddleware(dp.fsm, throttle)  # where aiogram's own would stand
    dp.update.outer_middleware(dp.fsm)
    dp.workflow_data.update(injected)
    dp.update.outer_middleware(UpdateObserver(metrics))
    database = DbSessionMiddleware(sessions, one_writer=settings.is_sqlite, metrics=metrics)
    dp.update.outer_middleware(database)
    dp[DB_WRITER] = database.writer  # the webhook inbox writes in the same queue on SQLite
    dp.update.outer_middleware(ContextMiddleware(settings))
    # after the context: on Redis the state and the count are read meanwhile (StateMiddleware)
    dp.update.outer_middleware(ThrottleMiddleware(throttle, i18n))
    if interactions is not None:
        dp.update.outer_middleware(InteractionMiddleware(interactions))
    dp.update.outer_middleware(LocaleMiddleware(i18n))
    dp.include_routers(*feature_routers())
    quicken(dp)
    return dp


@dataclass
class Runtime:
    """Everything one bot process holds; built by `build_runtime`, closed by `close`."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    i18n: I18n
    bot: Bot
    dp: Dispatcher
    cards: CardRefresher
    closer: GroupBuyCloser
    poster: CardPoster
    polls: PollCloser
    care: MemberCare
    notifier: Notifier
    paced: PacedRequests
    refunder: StarRefunder
    broadcasts: BroadcastSender
    retention: TextRetention
    reservations: ReservationSweeper
    tickets: TicketClock
    ab_reports: AbTestReports
    sizes: GroupSizeWatch
    waitlist: WaitlistKeeper
    digest: WeeklyDigest
    alerts: AlertWatch
    memberships: MembershipLapses
    trials: TrialClock
    metrics: Metrics
    interactions: InteractionCounter
    clock: Callable[[], datetime] = utcnow
    redis: Redis | None = None
    leadership: SchedulerLeadership | None = None
    # SQLite: a second engine for long reads that must not hold the write lock (the
    # dashboard's pages and CSV streams); None elsewhere, where `sessions` serve both
    reader_engine: AsyncEngine | None = None

    @property
    def readers(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for reading only, possibly for long: they never block the bot's writes."""
        if self.reader_engine is None:
            return self.sessions
        return create_session_factory(self.reader_engine)

    async def start(self, *, scheduler: bool) -> None:
        """Start the background work: the broadcast sender (every process may run one), and
        with `scheduler` a campaign for the scheduler (led at once without Redis)."""
        await self.broadcasts.start()
        await self.refunder.start()
        await self.interactions.start()
        if scheduler:
            self.leadership = SchedulerLeadership(
                self.redis,
                ttl=self.settings.leader_ttl_seconds,
                on_elected=self.start_scheduler,
                on_deposed=self.stop_scheduler,
            )
            await self.leadership.start()

    async def start_scheduler(self) -> None:
        """Run the scheduled jobs here: deadlines, polls, perks, retention, reservations,
        after-sales clocks."""
        await self.closer.start()
        await self.poster.start()
        await self.polls.start()
        await self.care.start()
        await self.retention.start()
        await self.reservations.start()
        await self.tickets.start()
        await self.ab_reports.start()
        await self.sizes.start()
        await self.waitlist.start()
        await self.digest.start()
        await self.alerts.start()
        await self.memberships.start()
        await self.trials.start()
        self.metrics.leader.set(1)

    async def stop_scheduler(self) -> None:
        self.closer.stop()
        self.poster.stop()
        self.polls.stop()
        self.care.stop()
        self.retention.stop()
        self.reservations.stop()
        self.tickets.stop()
        self.ab_reports.stop()
        self.sizes.stop()
        self.waitlist.stop()
        self.digest.stop()
        self.alerts.stop()
        self.memberships.stop()
        self.trials.stop()
        self.metrics.leader.set(0)
        await asyncio.sleep(0)  # APScheduler shuts down on the loop's next turn: let it

    async def close(self) -> None:
        if self.leadership is not None:
            await self.leadership.stop()
        await self.stop_scheduler()
        await self.broadcasts.stop()
        await self.refunder.stop()
        await self.interactions.close()  # before the engine goes: the last counts are written
        await self.cards.close()
        await self.notifier.close()
        await self.dp.storage.close()
        await self.bot.session.close()
        if self.redis is not None:
            with contextlib.suppress(RedisError):  # a dead Redis must not fail shutdown
                await self.redis.aclose()
        await self.engine.dispose()
        if self.reader_engine is not None:
            await self.reader_engine.dispose()


def build_runtime(
    settings: Settings, token: str, *, clock: Callable[[], datetime] = utcnow
) -> Runtime:
    """Wire the engine, Redis (when REDIS_URL is set), i18n, bot and dispatcher.

    `clock` is the time the domain runs on (deadlines); tests pass one they control.
    """
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    i18n = create_i18n(settings.default_locale)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    storage: BaseStorage = ResilientStorage(redis) if redis is not None else MemoryStorage()
    throttle = Throttle(limit=settings.throttle_limit, window=settings.throttle_window, redis=redis)
    # every worker of one bot shares Telegram's budget through Redis, keyed by the bot's id
    namespace = token.partition(":")[0]
    paced = PacedRequests(_pace(settings, redis, namespace))
    metrics = Metrics()
    bot = create_bot(settings, token, paced, metrics)
    notifier = Notifier(
        bot,
        failed=metrics.effects_failed.inc,
        metrics=metrics,
        strict=settings.strict_transactions,
    )
    # SQLite: long reads (the digest's and alerts' figures) on snapshots that never take the
    # write lock, so the bot's updates are not held up while a report is computed
    reader_engine = create_engine(settings, reads_only=True) if settings.is_sqlite else None
    readers = sessions if reader_engine is None else create_session_factory(reader_engine)
    wiring = _Wiring(
        settings=settings, sessions=sessions, readers=readers, bot=bot, notifier=notifier,
        i18n=i18n, clock=clock, redis=redis, namespace=namespace,
    )  # fmt: skip
    jobs = _build_jobs(wiring)
    for job in jobs.measured():
        job.metrics = metrics
    dp = create_dispatcher(
        settings,
        sessions=sessions,
        i18n=i18n,
        storage=storage,
        throttle=throttle,
        metrics=metrics,
        interactions=jobs.interactions,
        injected=Injected(
            clock=clock,
            cards=jobs.cards,
            closer=jobs.closer,
            poster=jobs.poster,
            poll_closer=jobs.polls,
            notifier=notifier,
            broadcaster=jobs.broadcasts,
            refunder=jobs.refunder,
        ),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        i18n=i18n,
        bot=bot,
        dp=dp,
        notifier=notifier,
        paced=paced,
        metrics=metrics,
        clock=clock,
        redis=redis,
        reader_engine=reader_engine,
        **jobs.by_name(),
    )


def _pace(settings: Settings, redis: Redis | None, namespace: str) -> Pace:
    """The pace of sends: none in tests that do not measure it, shared through Redis."""
    if not settings.pace_messages:
        return Pace(UNLIMITED)
    if redis is not None:
        return SharedPace(redis, namespace=namespace)
    return Pace()


@dataclass(frozen=True)
class _Wiring:
    """What the background jobs are built from."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]
    bot: Bot
    notifier: Notifier
    i18n: I18n
    clock: Callable[[], datetime]
    redis: Redis | None
    namespace: str


@dataclass
class _Jobs:
    """The background jobs of one process, named as `Runtime` names them."""

    cards: CardRefresher
    closer: GroupBuyCloser
    poster: CardPoster
    polls: PollCloser
    care: MemberCare
    broadcasts: BroadcastSender
    retention: TextRetention
    reservations: ReservationSweeper
    tickets: TicketClock
    ab_reports: AbTestReports
    sizes: GroupSizeWatch
    waitlist: WaitlistKeeper
    digest: WeeklyDigest
    alerts: AlertWatch
    memberships: MembershipLapses
    trials: TrialClock
    refunder: StarRefunder
    interactions: InteractionCounter

    def measured(self) -> tuple[Any, ...]:
        """The jobs that report to the process's metrics."""
        return (
            *(self.closer, self.poster, self.polls, self.care, self.retention),
            *(self.reservations, self.tickets, self.ab_reports, self.sizes, self.waitlist),
            *(self.digest, self.alerts, self.memberships, self.trials, self.interactions),
        )

    def by_name(self) -> dict[str, Any]:
        """Each job under its field's name, as `Runtime` takes them."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def _build_jobs(w: _Wiring) -> _Jobs:
    """Build every background job; none starts here (`Runtime.start` does)."""
    settings, sessions, notifier, i18n, clock = w.settings, w.sessions, w.notifier, w.i18n, w.clock
    # what most of the clocks are built from
    basics = JobBasics(
        sessions=sessions, notifier=notifier, i18n=i18n, settings=settings, clock=clock
    )
    cards = CardRefresher(
        sessions=sessions,
        bot=w.bot,
        i18n=i18n,
        clock=clock,
        interval=settings.card_edit_seconds,
        default_zone=settings.default_timezone,
    )
    closer = GroupBuyCloser(
        sessions=sessions, bot=w.bot, i18n=i18n, settings=settings, clock=clock, notifier=notifier
    )
    poster = CardPoster(
        sessions=sessions, bot=w.bot, i18n=i18n, settings=settings, clock=clock, notifier=notifier
    )
    polls = PollCloser(
        sessions=sessions, bot=w.bot, i18n=i18n, settings=settings, clock=clock, notifier=notifier
    )
    care = MemberCare(**basics)
    broadcasts = BroadcastSender(
        sessions=sessions,
        bot=w.bot,
        settings=settings,
        clock=clock,
        redis=w.redis,
        namespace=w.namespace,
        i18n=i18n,
    )
    retention = TextRetention(sessions=sessions, settings=settings, clock=clock)
    reservations = ReservationSweeper(**basics)
    tickets = TicketClock(**basics)
    ab_reports = AbTestReports(**basics)
    sizes = GroupSizeWatch(bot=w.bot, **basics)
    waitlist = WaitlistKeeper(**basics)
    digest = WeeklyDigest(readers=w.readers, bot=w.bot, **basics)
    alerts = AlertWatch(readers=w.readers, **basics)
    memberships = MembershipLapses(**basics)
    trials = TrialClock(**basics)
    refunder = StarRefunder(
        sessions=sessions, bot=w.bot, i18n=i18n, settings=settings, notifier=notifier
    )
    closer.refunder = refunder
    interactions = InteractionCounter(
        sessions=sessions, clock=clock, seconds=settings.interaction_flush_seconds
    )
    # positional, in the fields' order: each field's type differs, so mypy checks the order
    return _Jobs(
        cards, closer, poster, polls, care, broadcasts, retention, reservations, tickets,
        ab_reports, sizes, waitlist, digest, alerts, memberships, trials, refunder, interactions,
    )  # fmt: skip


# The garbage collector's thresholds for a process that runs the bot (Python's: 700, 10, 10).
# It examines its youngest objects each time 700 more were made than freed: in the load mix
# about once every three updates (0.7 ms each), and each 10th and 100th time it went on to the
# older generations (up to 64 ms), a pause every update in flight waited out. At 10,000 it
# ran 18 times where it had run 477, and reached an older generation once.
GC_THRESHOLDS = (10_000, 10, 10)


def freeze_startup_objects() -> None:
    """Move everything the process built at start (aiogram's models, the routers, SQLAlchemy's
    mappers, the catalogs) out of the garbage collector's reach. They live as long as the
    process, and the collector would otherwise walk them all again on each full collection:
    about 0.1 s every few hundred updates, paid by whichever update was running. Then collect
    less often (`GC_THRESHOLDS`). Called once, by a process that runs the bot, after
    `prepare`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def open_connections(runtime: Runtime) -> None:
    """Open the database pool's connections before the first update (`bot.db.fill_pool`).
    Called once, by a process that polls or serves the webhook, after `prepare`; a failure is
    logged, and the connections then open as updates need them."""
    try:
        await fill_pool(runtime.engine, runtime.settings.database_pool_size)
    except (OSError, SQLAlchemyError) as exc:
        log.warning("could not open the database connections ahead: %s", exc)


async def prepare(runtime: Runtime, *, migrate: bool = True) -> None:
    """Start-up work: migrate, report the backends, register the command menus."""
    if migrate:
        await upgrade(runtime.engine)
    backend = runtime.engine.dialect.name
    if runtime.redis is None:
        log.info("store: %s; FSM storage and throttling: in memory (REDIS_URL not set)", backend)
    else:
        try:
            await runtime.redis.ping()
            log.info("store: %s; FSM storage and throttling: Redis", backend)
        except RedisError as exc:
            log.warning(
                "store: %s; Redis at REDIS_URL is unreachable (%s): running degraded, in memory "
                "until it is back",
                backend,
                exc,
            )
    missing = missing_catalogs(runtime.i18n)
    if missing:
        log.warning("compiled catalogs missing for %s: run `make locales`", ", ".join(missing))
    try:
        await set_default_commands(runtime.bot, runtime.i18n)
        await _set_role_menus(runtime)
    except TelegramAPIError as exc:
        log.warning("could not register command menus: %s", exc)


async def _set_role_menus(runtime: Runtime) -> None:
    """Leaders, staff and owners get their own private-chat menu in their own language."""
    menus = []
    async with runtime.sessions() as session:
        roles = {member_id: Role.LEADER for member_id in await leader_ids(session)}
        roles.update({member_id: Role.STAFF for member_id in await staff_ids(session)})
        roles.update({member_id: Role.OWNER for member_id in runtime.settings.owner_ids})
        for member_id, role in roles.items():
            member = await get_member(session, member_id)
            if role is Role.LEADER and (member is None or not member.started):
                continue  # no private chat with the bot: the default menu applies
            locale = member.locale if member else runtime.settings.default_locale
            menus.append((member_id, role, locale))
    for member_id, role, locale in menus:  # once the reading transaction is over
        await sync_private_commands(
            runtime.bot, runtime.i18n, chat_id=member_id, role=role, locale=locale
        )
