"""The request id: one value from nginx's access log through the app's log to the log row.

nginx sends it as X-Request-ID (its own $request_id, or a well-formed id the client sent).
The API keeps a valid incoming id and makes one otherwise (a request straight to :8000), holds
it in a context variable for the request's lifetime, and every log record carries it
(`app.core.logging_config`).
"""

import re
import uuid
from contextvars import ContextVar

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
