"""Logging: one JSON line per record, for gunicorn's, uvicorn's and the app's loggers alike,
each carrying the request id of the request it was logged in (`app.core.request_id`)."""

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

from app.core.request_id import current_request_id


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
