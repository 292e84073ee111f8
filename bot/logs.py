"""Logging: plain lines for people, or one JSON object a line (LOG_FORMAT=json) for machines.

While an update is handled, its update id, chat id and user id are in `update_context`, and
every JSON line carries them. A JSON line holds the logger's message and, for an exception,
its type and stack frames, never the exception's text: an error raised while parsing a
message may quote the message, and logs must hold no message text or personal data beyond
ids.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime

# the ids of the update being handled (set by bot.metrics.UpdateObserver)
update_context: ContextVar[dict[str, int | None] | None] = ContextVar(
    "update_context", default=None
)

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def configure_logging(level: str, *, log_format: str = "plain", quiet: bool = False) -> None:
    """The root logger on stderr at the level (WARNING when quiet), plain or JSON."""
    number = logging.WARNING if quiet else getattr(logging, level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT)
    )
    logging.basicConfig(level=number, handlers=[handler], force=True)
    logging.getLogger("aiogram.event").setLevel(max(number, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(number, logging.WARNING))
