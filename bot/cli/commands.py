"""What each `python -m bot` subcommand does: run the bot or the scheduler alone, migrate,
reconcile, export, answer privacy requests and show a broadcast's progress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.period import Period

log = logging.getLogger("bot")


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the process stops taking work and shuts down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    return stop


async def run_bot(settings: Settings, token: str, hook: tuple[str, str] | None) -> None:
    """`run`: the bot by long polling, or by webhook when `hook` (URL, secret) is given."""
    from bot.app import build_runtime, freeze_startup_objects, open_connections, prepare

    runtime = build_runtime(settings, token)
    try:
        await prepare(runtime)
        freeze_startup_objects()
        await open_connections(runtime)
        await runtime.start(scheduler=settings.run_scheduler)
        if hook is not None:
            from bot.webhook import serve_webhook

            await serve_webhook(runtime, url=hook[0], secret=hook[1], stop=_stop_on_signals())
        else:
            await runtime.bot.delete_webhook()
            web = None
            if settings.dashboard_url:  # polling has no web server unless the dashboard asks
                from bot.web.dashboard import create_web_app
                from bot.webhook import serve

                # this machine only unless METRICS_HOST says otherwise: /metrics is not public
                web = await serve(create_web_app(runtime), runtime, host=settings.metrics_host)
            try:
                await runtime.dp.start_polling(
                    runtime.bot, allowed_updates=runtime.dp.resolve_used_update_types()
                )
            finally:
                if web is not None:
                    await web.cleanup()
    finally:
        await runtime.close()


async def run_scheduler(settings: Settings, token: str) -> None:
    """`scheduler`: the scheduled jobs and the sender alone, with the probes, until a signal."""
    from bot.app import build_runtime, freeze_startup_objects, prepare
    from bot.webhook import create_probe_app, serve

    runtime = build_runtime(settings, token)
    try:
        await prepare(runtime)
        freeze_startup_objects()
        await runtime.start(scheduler=True)
        runner = await serve(create_probe_app(runtime), runtime)
        log.info("scheduler process: probes on port %s", settings.webhook_port)
        try:
            await _stop_on_signals().wait()
            log.info("stopping: releasing the scheduler lock")
        finally:
            await runner.cleanup()
    finally:
        await runtime.close()


async def migrate_database(settings: Settings, check: bool) -> int:
    """`migrate`: upgrade to the newest schema, or with `check` only report drift."""
    from bot.db import create_engine
    from bot.migrate import drift, upgrade

    engine = create_engine(settings)
    try:
        if not check:
            await upgrade(engine)
            print("database is at the newest schema")
            return 0
        differences = await drift(engine)
        for difference in differences:
            print(f"drift: {difference}")
        if differences:
            return 1
        print("models and migrations agree")
        return 0
    finally:
        await engine.dispose()


async def reconcile_ledger(settings: Settings) -> int:
    """`reconcile`: recompute every ledger balance; 1 when one does not match."""
    from bot.db import create_engine, create_session_factory
    from services.ledger import reconcile

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            report = await reconcile(session)
    finally:
        await engine.dispose()
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


async def export_tables(
    settings: Settings, period_words: list[str], out: Path, tables: str, statements: str = ""
) -> int:
    """`export`: the named tables, and leaders' statements, of a period as CSV files."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.db import create_engine, create_session_factory
    from services.period import InvalidPeriod, parse_period
    from services.tables import TABLES, Query, csv_chunks

    names = [name.strip() for name in tables.split(",") if name.strip()]
    leaders = [word.strip() for word in statements.split(",") if word.strip()]
    unknown = [name for name in names if name not in TABLES]
    if unknown or not (names or leaders):
        print(
            f"export: unknown table {', '.join(unknown) or '(none)'}; use one or more of "
            + ", ".join(TABLES),
            file=sys.stderr,
        )
        return 2
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.default_timezone)).date()
    try:
        period = parse_period(
            " ".join(period_words), timezone=settings.default_timezone, today=today
        )
    except InvalidPeriod as exc:
        print(
            f"export: {exc}; use Nd, a date, or two dates like 2026-11-01 2026-11-30",
            file=sys.stderr,
        )
        return 2
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    span = f"{period.first.isoformat()}_{period.last.isoformat()}"
    query = Query(scope=None, period=period, timezone=settings.default_timezone)
    written: list[int] = []
    engine = create_engine(settings, reads_only=True)  # never holds a running bot's write lock
    try:
        async with create_session_factory(engine)() as session:
            for name in names:
                path = out / f"{name}_{span}.csv"
                count = 0
                with path.open("wb") as file:  # streamed: rows are written as they arrive
                    async for chunk, rows in csv_chunks(session, TABLES[name], query):
                        file.write(chunk)
                        count += rows
                print(f"wrote {count} rows of {name} to {path}")
            if leaders:
                found = await _export_statements(session, leaders, period, out)
                if found is None:
                    return 1
                written = found
    finally:
        await engine.dispose()
    if written:
        await _audit_statements(settings, written, span)
    return 0


async def export_metrics(settings: Settings, period_words: list[str], out: Path) -> int:
    """Every metric over the weeks ending with the period, brand-wide, as the dashboard's CSV."""
    from datetime import UTC, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from bot.db import create_engine, create_session_factory
    from services.metrics import DEFAULT_WEEKS, metrics_csv, metrics_report
    from services.period import InvalidPeriod, parse_period

    zone = ZoneInfo(settings.default_timezone)
    now = datetime.now(UTC)
    try:
        period = parse_period(
            " ".join(period_words), timezone=zone.key, today=now.astimezone(zone).date()
        )
    except InvalidPeriod as exc:
        print(
            f"export: {exc}; use Nd, a date, or two dates like 2026-11-01 2026-11-30",
            file=sys.stderr,
        )
        return 2
    end = datetime.combine(period.last + timedelta(days=1), time(), zone).astimezone(UTC)
    days = (period.last - period.first).days + 1
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    engine = create_engine(settings, reads_only=True)
    try:
        async with create_session_factory(engine)() as session:
            report = await metrics_report(
                session,
                now=min(now, end),
                timezone=zone.key,
                currency=settings.tier_currency,
                weeks=max(DEFAULT_WEEKS, -(-days // 7)),
            )
    finally:
        await engine.dispose()
    span = f"{report.weeks[0].start.isoformat()}_{report.weeks[-1].start.isoformat()}"
    path = out / f"metrics_{span}.csv"
    data = metrics_csv(report)
    await asyncio.to_thread(path.write_bytes, data)
    rows = data.count(b"\n") - 1  # the header is not a row
    print(f"wrote {rows} rows of metrics to {path}")
    return 0


async def _export_statements(
    session: AsyncSession, leaders: list[str], period: Period, out: Path
) -> list[int] | None:
    """Write each named leader's statement (or everyone's, for 'all'); None when a name is
    unknown (nothing is written then)."""
    from services.member import find_member
    from services.statement import (
        leader_statement,
        statement_csv,
        statement_filename,
        statement_people,
    )

    ids: list[int] = []
    if leaders == ["all"]:
        ids = [ident for ident, _name, _username in await statement_people(session, period=period)]
    else:
        for word in leaders:
            found = await find_member(session, word)
            if found is None:
                print(f"export: no member {word}; use an id or @username", file=sys.stderr)
                return None
            ids.append(found.id)
    if not ids:
        print("export: nobody had group-buys, cash or commission in that period")
    for leader_id in ids:
        statement = await leader_statement(session, leader_id=leader_id, period=period)
        path = out / statement_filename(statement)
        path.write_bytes(statement_csv(statement))
        print(f"wrote the statement of {leader_id} ({len(statement.lines)} rows) to {path}")
    return ids


async def _audit_statements(settings: Settings, leader_ids: list[int], span: str) -> None:
    """Statements are personal: the operator's export is in the audit log like the others."""
    from datetime import UTC, datetime

    from bot.db import create_engine, create_session_factory
    from services.audit import record_action

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            for leader_id in leader_ids:
                await record_action(
                    session,
                    actor_id=OPERATOR_ACTOR,
                    chat_id=None,
                    action="statement.export",
                    allowed=True,
                    now=datetime.now(UTC),
                    detail=f"statement {span} leader={leader_id}",
                )
    finally:
        await engine.dispose()


# the audit log's actor for what an operator does from the command line
OPERATOR_ACTOR = 0


async def privacy_request(
    settings: Settings, action: str, user_id: int, out: Path, yes: bool
) -> int:
    """`privacy export|erase`: a member's data request that arrived outside Telegram."""
    import json
    from datetime import UTC, datetime

    from bot.db import create_engine, create_session_factory
    from services.audit import record_action
    from services.privacy import collect_member_data, forget_member

    if action == "erase" and not yes:
        print("privacy erase: add --yes to confirm; erasing cannot be undone", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    document, pseudonym = "", ""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            if action == "export":
                data = await collect_member_data(session, member_id=user_id, now=now)
                if not data.tables.get("member"):
                    print(f"privacy export: no member {user_id}", file=sys.stderr)
                    return 1
                await record_action(
                    session,
                    actor_id=OPERATOR_ACTOR,
                    chat_id=None,
                    action="privacy.export",
                    allowed=True,
                    now=now,
                    detail=f"member {user_id} (operator, command line)",
                )
                document = json.dumps(data.document(), ensure_ascii=False, indent=2, sort_keys=True)
            else:
                forgotten = await forget_member(
                    session,
                    member_id=user_id,
                    now=now,
                    wording_version=settings.consent_wording_version,
                    default_locale=settings.default_locale,
                    actor_id=OPERATOR_ACTOR,
                )
                if forgotten is None:
                    print(f"privacy erase: no member {user_id}", file=sys.stderr)
                    return 1
                pseudonym = forgotten.pseudonym
    finally:
        await engine.dispose()
    if action == "export":
        await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
        path = out / f"mydata_{user_id}.json"
        await asyncio.to_thread(path.write_text, document, "utf-8")
        print(f"wrote {path}")
    else:
        print(f"member {user_id} erased; now {pseudonym}")
    return 0


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """[#########.....]  12/40  30%"""
    filled = 0 if total == 0 else round(width * done / total)
    percent = 100 if total == 0 else 100 * done // total
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {percent}%"


async def broadcast_status(settings: Settings, broadcast_id: int | None) -> int:
    """`broadcast-status`: a broadcast's rows by state, its progress and its finish."""
    from datetime import UTC, datetime

    from bot.db import create_engine, create_session_factory
    from services.broadcast import latest_running, progress

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            if broadcast_id is None:
                broadcast_id = await latest_running(session)
                if broadcast_id is None:
                    print("no unfinished broadcast; pass an id to see a finished one")
                    return 0
            view = await progress(session, broadcast_id=broadcast_id)
    finally:
        await engine.dispose()
    if view is None:
        print(f"broadcast-status: there is no broadcast #{broadcast_id}", file=sys.stderr)
        return 1
    counts = view.counts
    print(f"broadcast #{view.id} ({view.targets}): {view.status}")
    print(progress_bar(view.settled, view.total))
    print(
        "sent {sent}, waiting {waiting}, deferred {deferred}, skipped {skipped}, "
        "failed {failed}".format(
            sent=counts.get("sent", 0),
            waiting=counts.get("pending", 0) + counts.get("sending", 0),
            deferred=counts.get("deferred", 0),
            skipped=counts.get("skipped", 0),
            failed=counts.get("failed", 0),
        )
    )
    paid = view.paid and settings.broadcast_paid
    if paid:
        print(
            f"paid broadcast: allow_paid_broadcast at up to {settings.broadcast_paid_per_second:g}"
            " messages a second, charged in Stars"
        )
    finish = view.estimated_finish(datetime.now(UTC), settings.broadcast_rate(paid))
    if view.finished_at is not None:
        print(f"finished {view.finished_at:%Y-%m-%d %H:%M} UTC")
    elif finish is not None:
        print(f"estimated finish {finish:%Y-%m-%d %H:%M} UTC")
    return 0
