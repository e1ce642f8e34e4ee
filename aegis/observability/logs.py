"""JSON logs, one line per event, carrying document_id, tenant, stage, task_id and trace_id.

The context is kept in a contextvar and merged into every record, so one
``grep <document id>`` follows a document from the upload through every stage.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aegis.observability import tracing

CONTEXT_KEYS = ("document_id", "tenant", "stage", "task_id", "request_id")
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("aegis_log_context", default=None)


def bind_context(**values: Any) -> None:
    """Replace the context (no arguments clears it)."""
    _context.set({k: v for k, v in values.items() if v is not None})


def add_context(**values: Any) -> None:
    merged = dict(_context.get() or {})
    merged.update({k: v for k, v in values.items() if v is not None})
    _context.set(merged)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get() or {})
        ids = tracing.current_ids()
        if ids is not None:
            # From a log line to the document's trace (and back, by trace id).
            entry["trace_id"], entry["span_id"] = ids
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ContextFilter(logging.Filter):
    """Adds the context to plain-text records too."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def configure(level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
