"""ASGI middleware: the body limit, Server-Timing, HEAD answered as GET, and the request id,
metrics and access line of each request."""

import logging
import time

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.request_id import accept_or_make, current_request_id
from app.web.prometheus import Metrics

access_log = logging.getLogger("app.access")

# Label values must be a small fixed set, whatever a client sends.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


TOO_LARGE = "The request body is too large."  # nginx's own words for its 413
# The app's own limit, defence in depth behind nginx's (the batch location's
# client_max_body_size 1m, the same size): it fits a 10,000-row batch, about 300 KiB.
MAX_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """A request body over `max_bytes` gets the API's JSON 413, and the app never reads past
    the limit. Written here rather than FastAPI's `max_body_size` (Starlette's limit): that one
    answers a request whose Content-Length is over the limit in plain text, whatever the app's
    error handlers say, and without the request id or the access line this answer gets."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        # The server has checked the header's form (uvicorn refuses a malformed one).
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": TOO_LARGE}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            # A body sent in chunks, with no Content-Length: counted as it arrives. The error
            # surfaces where the route reads the body, and the app's handlers answer it.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, receive_within_limit, send)


class ServerTimingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                header = (b"server-timing", f"app;dur={elapsed_ms:.2f}".encode())
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_timing)


class HeadAsGetMiddleware:
    """HEAD on a GET route answers like GET without the body (RFC 9110), as health checkers
    and link checkers expect; FastAPI routes declare GET only. The server (uvicorn) sees the
    original HEAD and sends no body, so the handler runs unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class ObservabilityMiddleware:
    """Per request: keep or make the request id (echoed as X-Request-ID), count it by route
    template and status, time it, and write one JSON access line carrying the id."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled series, looked up once each (labels() costs more than the increment).
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_or_make(_header(scope, b"x-request-id"))
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                header = (b"x-request-id", request_id.encode())
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            current_request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        # The route's template (/predict), never the raw path: unknown paths are one label.
        route = getattr(scope.get("route"), "path", "unmatched")
        series = self._series.get((method, route, status))
        if series is None:
            series = self._series[(method, route, status)] = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route))
        requests, latency = series
        requests.inc()
        latency.observe(seconds)
        # The path only, never the query string: a client may put a credential there.
        access_log.info("request", extra={
            "method": scope["method"], "path": scope["path"], "route": route,
            "status": status, "duration_ms": round(seconds * 1000, 3),
        })
