"""The request id: one value from nginx's access log through the app's log to the log row.

nginx sends it as X-Request-ID (its own $request_id, or a well-formed id the client sent).
The API keeps a valid incoming id and makes one otherwise (a request straight to :8000), holds
it in a context variable for the request's lifetime, and every log record carries it.
"""

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

# Same rule as nginx's map: anything else (too long, odd characters) is replaced, never logged.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{8,64}")

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_or_make(incoming: bytes | None) -> str:
    if incoming is not None:
        try:
            candidate = incoming.decode("ascii")
        except UnicodeDecodeError:
            candidate = ""
        if REQUEST_ID_PATTERN.fullmatch(candidate):
            return candidate
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record logged while a request is being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


def logging_config(level: str, stream: str = "ext://sys.stdout") -> dict[str, Any]:
    """One JSON line per record for every logger (gunicorn's, uvicorn's, the app's); used as
    gunicorn's logconfig_dict and by the CLI (on stderr: its stdout is the command's output)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {
                # orjson (already serving the responses): a third cheaper per line than json.
                "()": "pythonjsonlogger.orjson.OrjsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",  # ISO 8601 in UTC, like nginx's $time_iso8601
                # uvicorn adds a copy of each message with terminal colours: not for a file.
                "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
            },
        },
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "stream": stream,
                       "formatter": "json", "filters": ["request_id"]},
        },
        "root": {"level": level.upper(), "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["stdout"],
                               "propagate": False},
            # The app writes its own access line (app.access, with route and request id), so
            # gunicorn's and uvicorn's stay off: no handler here means uvicorn logs none.
            "gunicorn.access": {"handlers": [], "propagate": False},
            # One line per request whatever LOG_LEVEL says, as gunicorn's access log was.
            "app.access": {"level": "INFO"},
        },
    }
