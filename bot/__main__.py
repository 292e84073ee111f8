"""The operator's command line: python -m bot --help."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings, load_settings, require_token, require_webhook

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.period import Period

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Community commerce bot for Telegram groups. Settings come from the "
        "environment or .env (see README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run the bot (long polling; migrates the store first)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="serve a webhook on WEBHOOK_PORT instead (needs WEBHOOK_URL and WEBHOOK_SECRET)",
    )
    commands.add_parser(
        "start", help="run the bot when BOT_TOKEN is set, otherwise the local playground"
    )
    commands.add_parser(
        "scheduler",
        help="run only the scheduled jobs (deadlines, polls, perks, retention, reservations) "
        "and the broadcast sender, with /healthz, /readyz and /metrics on WEBHOOK_PORT; for "
        "workers that set RUN_SCHEDULER=false",
    )
    migrate = commands.add_parser("migrate", help="upgrade the database to the newest schema")
    migrate.add_argument(
        "--check",
        action="store_true",
        help="only check that models and migrations agree (exit 1 on drift)",
    )
    commands.add_parser(
        "reconcile",
        help="recompute every ledger balance from its entries; exit 1 with a report on mismatch",
    )
    export = commands.add_parser(
        "export", help="write the dashboard's tables (ledger and orders by default) to CSV files"
    )
    export.add_argument(
        "period",
        nargs="*",
        help="nothing (last 30 days), Nd (last N days), a date, or two dates like "
        "2026-11-01 2026-11-30, in DEFAULT_TIMEZONE; 'metrics [period]' writes every weekly "
        "metric (at least 12 weeks ending with the period) to metrics_<weeks>.csv instead",
    )
    export.add_argument("--out", type=Path, default=Path("."), help="folder for the CSV files")
    export.add_argument(
        "--tables",
        default=None,
        help="comma-separated tables: communities, groupbuys, members, orders, ledger, "
        "broadcasts, polls, nps (the dashboard's, with the same columns); ledger,orders "
        "unless --statement is given",
    )
    export.add_argument(
        "--statement",
        default="",
        metavar="LEADERS",
        help="leaders' statements (对账单) for the period, one CSV each: comma-separated ids or "
        "@usernames, or 'all' for everyone with group-buys, cash or commission in it",
    )
    privacy = commands.add_parser(
        "privacy", help="answer a member's data request that arrived outside Telegram (audited)"
    )
    privacy_commands = privacy.add_subparsers(dest="privacy_command", metavar="ACTION")
    privacy_export = privacy_commands.add_parser(
        "export", help="write everything held about a member to mydata_<id>.json"
    )
    privacy_export.add_argument("user_id", type=int, help="the member's Telegram user id")
    privacy_export.add_argument("--out", type=Path, default=Path("."), help="folder for the file")
    privacy_erase = privacy_commands.add_parser(
        "erase", help="erase a member's personal data as /forgetme does (orders and ledger stay)"
    )
    privacy_erase.add_argument("user_id", type=int, help="the member's Telegram user id")
    privacy_erase.add_argument(
        "--yes", action="store_true", help="confirm: erasing cannot be undone"
    )
    status = commands.add_parser(
        "broadcast-status",
        help="show a broadcast's sent, deferred, skipped and failed rows with a progress bar",
    )
    status.add_argument(
        "id", nargs="?", type=int, help="the broadcast (default: the newest unfinished one)"
    )
    playground = commands.add_parser(
        "playground", help="try the bot locally against the built-in Telegram emulator"
    )
    playground.add_argument(
        "--script", type=Path, help="replay a scenario file and print the transcript"
    )
    playground.add_argument(
        "--database", help="database URL for the playground (default: a fresh file under ./data)"
    )
    return parser


def _configure_logging(settings: Settings, quiet: bool = False) -> None:
    from bot.logs import configure_logging

    configure_logging(
        settings.log_level,
        log_format=settings.log_format,
        quiet=quiet,
        secrets=settings.secret_values(),
    )


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the process stops taking work and shuts down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    return stop


async def _run(settings: Settings, token: str, hook: tuple[str, str] | None) -> None:
    from bot.app import build_runtime, freeze_startup_objects, prepare

    runtime = build_runtime(settings, token)
    try:
        await prepare(runtime)
        freeze_startup_objects()
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


async def _scheduler(settings: Settings, token: str) -> None:
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


async def _migrate(settings: Settings, check: bool) -> int:
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


async def _reconcile(settings: Settings) -> int:
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


async def _export(
    settings: Settings, period_words: list[str], out: Path, tables: str, statements: str = ""
) -> int:
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


async def _export_metrics(settings: Settings, period_words: list[str], out: Path) -> int:
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


async def _privacy(settings: Settings, action: str, user_id: int, out: Path, yes: bool) -> int:
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


async def _broadcast_status(settings: Settings, broadcast_id: int | None) -> int:
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


def _playground_installed() -> bool:
    """The playground needs the Bot API emulator (the tgemu package), which the production
    image leaves out: there, a start without a token is a configuration error, not a crash."""
    return importlib.util.find_spec("tgemu") is not None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    try:
        settings = load_settings()
        if args.command == "start":
            if settings.bot_token is None:
                if not _playground_installed():
                    require_token(settings)  # says BOT_TOKEN is not set, and where to get one
                print(
                    "BOT_TOKEN is not set: starting the local playground instead "
                    "(see README to connect a real bot)",
                    file=sys.stderr,
                )
                args = argparse.Namespace(command="playground", script=None, database=None)
            else:
                args = argparse.Namespace(command="run", webhook=bool(settings.webhook_url))
        if args.command == "run":
            token = require_token(settings)
            hook = require_webhook(settings) if args.webhook else None
            _configure_logging(settings)
            asyncio.run(_run(settings, token, hook))
        elif args.command == "scheduler":
            token = require_token(settings)
            _configure_logging(settings)
            asyncio.run(_scheduler(settings, token))
        elif args.command == "migrate":
            _configure_logging(settings, quiet=True)
            return asyncio.run(_migrate(settings, args.check))
        elif args.command == "reconcile":
            _configure_logging(settings, quiet=True)
            return asyncio.run(_reconcile(settings))
        elif args.command == "export":
            _configure_logging(settings, quiet=True)
            tables = (
                args.tables
                if args.tables is not None
                else ("" if args.statement else "ledger,orders")
            )
            if args.period[:1] == ["metrics"]:
                return asyncio.run(_export_metrics(settings, args.period[1:], args.out))
            return asyncio.run(
                _export(settings, args.period, args.out, tables, statements=args.statement)
            )
        elif args.command == "privacy":
            if args.privacy_command is None:
                _parser().parse_args(["privacy", "--help"])
            _configure_logging(settings, quiet=True)
            return asyncio.run(
                _privacy(
                    settings,
                    args.privacy_command,
                    args.user_id,
                    getattr(args, "out", Path(".")),
                    getattr(args, "yes", False),
                )
            )
        elif args.command == "broadcast-status":
            _configure_logging(settings, quiet=True)
            return asyncio.run(_broadcast_status(settings, args.id))
        elif args.command == "playground":
            if not _playground_installed():
                raise ConfigError(
                    "configuration error: the playground needs the Bot API emulator (the "
                    "tgemu package), which this installation does not include"
                )
            from bot.playground import run_playground

            _configure_logging(settings, quiet=True)
            return asyncio.run(run_playground(settings, script=args.script, database=args.database))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
