"""Log lines as JSON (LOG_FORMAT=json) and the context they carry.

One formatter for every process: Django and Celery through settings.LOGGING,
gunicorn through config/gunicorn.py. A line names its level, logger and
message, plus the request id, Telegram update id and purchase id when the
code that logs runs inside `log_context(...)` (or passes them as `extra`).
Nothing here imports Django: gunicorn loads it before the application.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("request_id", "update_id", "purchase_id", "task_id")

_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside (this thread or task, and what it starts) carries these fields."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> dict[str, Any]:
    return dict(_context.get() or {})


# gunicorn's access line: the atoms worth a field of their own.
ACCESS_FIELDS = {"m": "method", "U": "path", "s": "status", "B": "bytes", "M": "duration_ms", "h": "remote"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(current_log_context())
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value not in (None, ""):
                line[field] = value
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            line.update(_access_fields(record.args))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def _access_fields(atoms: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for atom, name in ACCESS_FIELDS.items():
        value = atoms.get(atom)
        if value not in (None, "-"):
            fields[name] = int(value) if name in {"status", "bytes", "duration_ms"} and str(value).isdigit() else value
    request_id = atoms.get("{x-request-id}o")
    if request_id not in (None, "-"):
        fields["request_id"] = request_id
    return fields


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def json_line(*, logger: str, level: int, message: str) -> str:
    """One JSON log line, for code that must write without the logging machinery
    (a library printing from a signal handler)."""
    record = logging.LogRecord(logger, level, __file__, 0, message, None, None)
    return JsonFormatter().format(record)


def formatter_config(log_format: str) -> dict[str, Any]:
    """The dictConfig entry of the formatter named by LOG_FORMAT (plain or json)."""
    if log_format == "json":
        return {"()": "core.logs.JsonFormatter"}
    if log_format == "plain":
        return {"format": PLAIN_FORMAT}
    raise ValueError(f"LOG_FORMAT must be plain or json, not {log_format!r}")
