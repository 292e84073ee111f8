"""Logging: plain lines for people, or one JSON object a line (LOG_FORMAT=json) for machines.

While an update is handled, its update id, chat id and user id are in `update_context`, and
every JSON line carries them. A JSON line holds the logger's message and, for an exception,
its type and stack frames, never the exception's text: an error raised while parsing a
message may quote the message, and logs must hold no message text or personal data beyond
ids.

No record shows a secret: `SecretRedactor` replaces the bot token, the payment provider token,
the webhook and dashboard secrets (every SecretStr setting) and the passwords in the database
and Redis URLs with `[REDACTED]`, in the message, its arguments, the exception's text and
traceback and the stack. aiohttp quotes the request URL, `/bot<TOKEN>/method`, in its errors
(a redirect loop, an invalid URL), so the token would otherwise reach the logs. It is installed
twice: as a filter on every handler `configure_logging` makes, and in the log record factory,
so that a handler the bot did not make (a test's, an operator's) gets redacted records too; and
an exception nobody caught goes through logging (so through the redactor) instead of Python's
own traceback printer.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

# the ids of the update being handled (set by bot.metrics.UpdateObserver)
update_context: ContextVar[dict[str, int | None] | None] = ContextVar(
    "update_context", default=None
)

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

REDACTED = "[REDACTED]"
# a secret shorter than this is not looked for: it would match ordinary words ("bot") and
# mangle every line, and it protects nothing anyway (SECURITY.md asks for long random values)
SECRET_MIN = 6
# a secret shorter than this is redacted whole only: its parts would match ordinary text
_PART_MIN = 16


def _variants(secret: str) -> set[str]:
    """The forms a secret takes in a log line: as is, percent-encoded (in a URL), and for a
    bot token `<id>:<key>` its key alone (the id is public; the key is the secret)."""
    found = {secret, quote(secret, safe=""), quote(secret, safe=":")}
    _bot_id, colon, key = secret.partition(":")
    if colon and len(key) >= _PART_MIN:
        found.add(key)
    return {value for value in found if value}


class SecretRedactor(logging.Filter):
    """Replaces every known secret in a record with [REDACTED]; lets every record through."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Redact these secrets (and their URL forms) from now on, longest first."""
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) >= SECRET_MIN:
                variants |= _variants(secret)
        self.secrets = tuple(sorted(variants, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets or getattr(record, "redacted", False):
            return True
        # the message with its arguments, formatted once: an argument may be (or hold) a
        # secret, and an exception's str() may quote the URL with the token
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: logging's own error path
            message = f"{record.msg} {record.args!r}"  # would print both, unredacted
        record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            # the traceback's text, chained exceptions and their messages included; the
            # formatters use exc_text when it is set
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record.redacted = True
        return True


# the one redactor of the process (configure_logging gives it the settings' secrets)
redactor = SecretRedactor()
_base_factory: Callable[..., logging.LogRecord] | None = None


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    redactor.filter(record)
    return record


def install_redaction(secrets: Iterable[str]) -> SecretRedactor:
    """Redact these secrets from every log record made from now on, whichever logger makes it
    and whichever handler gets it; exceptions nobody caught are logged (so redacted) too."""
    global _base_factory
    redactor.update(secrets)
    if logging.getLogRecordFactory() is not _redacting_factory:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacting_factory)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    return redactor


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """Python's last word on an uncaught exception, through logging (so without secrets)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("bot").critical("stopped by an uncaught error", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    logging.getLogger("bot").error(
        "thread %s stopped by an uncaught error",
        args.thread.name if args.thread is not None else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the update's ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = update_context.get()
        if context is not None:
            line.update({key: value for key, value in context.items() if value is not None})
        if record.exc_info and record.exc_info[0] is not None:
            kind, _value, tb = record.exc_info
            line["exception"] = kind.__name__
            line["stack"] = "".join(traceback.format_tb(tb))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(
    level: str,
    *,
    log_format: str = "plain",
    quiet: bool = False,
    secrets: Iterable[str] = (),
    stream: Any = None,
) -> logging.Handler:
    """The root logger on stderr (or `stream`) at the level (WARNING when quiet), plain or
    JSON, every record redacted of `secrets`; returns the handler."""
    number = logging.WARNING if quiet else getattr(logging, level)
    install_redaction(secrets)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT)
    )
    handler.addFilter(redactor)
    logging.basicConfig(level=number, handlers=[handler], force=True)
    logging.getLogger("aiogram.event").setLevel(max(number, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(number, logging.WARNING))
    return handler
