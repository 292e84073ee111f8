"""The command line's arguments: `python -m bot --help` prints what this parser holds."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand with its options and help texts."""
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
    _add_export(commands)
    _add_privacy(commands)
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


def _add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`export`: the dashboard's tables, the weekly metrics or leaders' statements as CSV."""
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


def _add_privacy(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`privacy export|erase`: a member's data request that arrived outside Telegram."""
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
