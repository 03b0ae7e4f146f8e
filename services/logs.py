"""Logging for every command: one handler on the root logger, JSON lines or plain text.

Every line written while a request is served carries its request id, and, once known,
its GraphQL operation and actor id (``services.metrics.RequestRecord``), whichever logger
wrote it (ours, Tortoise's, uvicorn's). The service logs ids, names of operations, codes
and durations: never a token (only its holder's person id), never a person's name,
phone or address, never a query's variables (docs/operations.md, "Logs").

The standard library with an orjson formatter rather than structlog: the same lines for
half the cost (7.6 against 15.8 µs per line, measured), and no second logging API.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from services import metrics

FORMATS = ("json", "console")
# Loggers of libraries whose INFO lines are noise to an operator ("Tortoise-ORM startup",
# "Tortoise-ORM shutdown" on every command): shown from WARNING on unless the level is DEBUG.
QUIET_BELOW_WARNING = ("tortoise",)
# Never below INFO: at DEBUG it logs every SQL statement with its parameters (personal
# data). Traces (services/tracing.py) show statements without their values.
NEVER_DEBUG = ("tortoise.db_client", "aiosqlite", "asyncio")
# uvicorn's access log names the client's address and port; our own line replaces it.
SILENCED = ("uvicorn.access",)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` (but
# uvicorn's coloured copy of its message).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}


def _request_fields(into: dict[str, Any]) -> None:
    record = metrics.CURRENT.get()
    if record is not None:
        into["request_id"] = record.request_id
        if record.operation != metrics.NO_OPERATION:
            into["operation"] = record.operation
        if record.actor_id is not None:
            into["actor_id"] = record.actor_id


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``event`` (the message),
    the request's fields, the record's ``extra`` fields, ``exc`` (a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        _request_fields(line)
        for key, value in vars(record).items():
            if key not in _STANDARD:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """For a developer's terminal: the usual text, then ``key=value`` fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields: dict[str, Any] = {}
        _request_fields(fields)
        fields.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if not fields:
            return text
        head, sep, rest = text.partition("\n")  # a traceback stays below the fields
        return head + " " + " ".join(f"{k}={v}" for k, v in fields.items()) + sep + rest


def configured() -> bool:
    """Has ``configure`` set up this process's logging (a worker process has not, yet)?"""
    return any(getattr(h, "_bandeng", False) for h in logging.getLogger().handlers)


def configure(level: str = "INFO", fmt: str = "console", stream: Any = None) -> None:
    """Set up the root logger for a command or the server (idempotent)."""
    numeric = logging.getLevelName(level.strip().upper())
    if not isinstance(numeric, int):
        raise ValueError(f"BANDENG_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"BANDENG_LOG_FORMAT must be one of {', '.join(FORMATS)}, got {fmt!r}")
    # Documented savings (the logging HOWTO, "Optimization"): no caller's frame, thread or
    # process names looked up for every record; none of our formats shows them.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bandeng", False):
            root.removeHandler(old)
    handler._bandeng = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(
            numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
        )
    for name in NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    for name in SILENCED:
        logging.getLogger(name).disabled = True
    # uvicorn's own loggers write through the root handler (app/server.py: log_config=None)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
