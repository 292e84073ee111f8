"""The operator's command line: python -m bot --help.

The arguments are in bot/cli/parser.py, what each subcommand does in bot/cli/commands.py, and
the local playground in bot/cli/playground.py (its commands, its screen and its pretend world
in bot/cli/playground_console.py, playground_screen.py and playground_world.py)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli import commands
from bot.cli.parser import build_parser
from bot.config import ConfigError, Settings, load_settings, require_token, require_webhook


def _configure_logging(settings: Settings, quiet: bool = False) -> None:
    from bot.logs import configure_logging

    configure_logging(
        settings.log_level,
        log_format=settings.log_format,
        quiet=quiet,
        secrets=settings.secret_values(),
    )


def _playground_installed() -> bool:
    """The playground needs the Bot API emulator (the tgemu package), which the production
    image leaves out: there, a start without a token is a configuration error, not a crash."""
    return importlib.util.find_spec("tgemu") is not None


def _what_start_runs(settings: Settings) -> argparse.Namespace:
    """`start`: the bot with its token (a webhook when WEBHOOK_URL is set), else the local
    playground, where it is installed."""
    if settings.bot_token is not None:
        return argparse.Namespace(command="run", webhook=bool(settings.webhook_url))
    if not _playground_installed():
        require_token(settings)  # says BOT_TOKEN is not set, and where to get one
    print(
        "BOT_TOKEN is not set: starting the local playground instead "
        "(see README to connect a real bot)",
        file=sys.stderr,
    )
    return argparse.Namespace(command="playground", script=None, database=None)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and run the subcommand; the process's exit status."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    try:
        settings = load_settings()
        if args.command == "start":
            args = _what_start_runs(settings)
        if args.command == "run":
            token = require_token(settings)
            hook = require_webhook(settings) if args.webhook else None
            _configure_logging(settings)
            asyncio.run(commands.run_bot(settings, token, hook))
        elif args.command == "scheduler":
            token = require_token(settings)
            _configure_logging(settings)
            asyncio.run(commands.run_scheduler(settings, token))
        elif args.command == "migrate":
            _configure_logging(settings, quiet=True)
            return asyncio.run(commands.migrate_database(settings, args.check))
        elif args.command == "reconcile":
            _configure_logging(settings, quiet=True)
            return asyncio.run(commands.reconcile_ledger(settings))
        elif args.command == "export":
            _configure_logging(settings, quiet=True)
            tables = (
                args.tables
                if args.tables is not None
                else ("" if args.statement else "ledger,orders")
            )
            if args.period[:1] == ["metrics"]:
                return asyncio.run(commands.export_metrics(settings, args.period[1:], args.out))
            return asyncio.run(
                commands.export_tables(
                    settings, args.period, args.out, tables, statements=args.statement
                )
            )
        elif args.command == "privacy":
            if args.privacy_command is None:
                build_parser().parse_args(["privacy", "--help"])
            _configure_logging(settings, quiet=True)
            return asyncio.run(
                commands.privacy_request(
                    settings,
                    args.privacy_command,
                    args.user_id,
                    getattr(args, "out", Path(".")),
                    getattr(args, "yes", False),
                )
            )
        elif args.command == "broadcast-status":
            _configure_logging(settings, quiet=True)
            return asyncio.run(commands.broadcast_status(settings, args.id))
        elif args.command == "playground":
            if not _playground_installed():
                raise ConfigError(
                    "configuration error: the playground needs the Bot API emulator (the "
                    "tgemu package), which this installation does not include"
                )
            from bot.cli.playground import run_playground

            _configure_logging(settings, quiet=True)
            return asyncio.run(run_playground(settings, script=args.script, database=args.database))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
