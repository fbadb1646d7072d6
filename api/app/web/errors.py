"""Errors as clear JSON: 4xx naming the field, 503 when the database is away, never a trace."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.store.prediction_log import LogUnavailableError
from app.store.registry import NoModelError
from app.web.deadline import DatabaseDeadlineError

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The database is unavailable; please retry in a few seconds."


def _field_name(location: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in location if part != "body"]
    return ".".join(parts) or "body"


def validation_problems(error: RequestValidationError) -> list[dict[str, str]]:
    # Only the location and message: echoing the input could put NaN, a megabyte string or
    # a secret into the response (and Starlette cannot even serialise NaN).
    return [_problem(item) for item in error.errors()]


def _problem(item: dict[str, Any]) -> dict[str, str]:
    if item.get("type") == "json_invalid":
        reason = item.get("ctx", {}).get("error", "")
        return {"field": "body", "message": f"the body is not valid JSON: {reason}".rstrip(": ")}
    return {"field": _field_name(tuple(item.get("loc", ()))), "message": str(item.get("msg", ""))}


async def on_validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": validation_problems(error)}, status_code=422)


async def on_database_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.warning("%s %s: database unavailable (%s)", request.method, request.url.path,
                error.__class__.__name__)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    request.app.state.metrics.database_unavailable.labels(route).inc()
    return JSONResponse({"detail": DATABASE_UNAVAILABLE}, status_code=503,
                        headers={"Retry-After": "2"})


async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "Internal error."}, status_code=500)


async def on_no_model(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": "No model has been trained yet."}, status_code=503)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    for unavailable in (OperationalError, InterfaceError, PoolTimeoutError, LogUnavailableError,
                        DatabaseDeadlineError):
        app.add_exception_handler(unavailable, on_database_unavailable)
    app.add_exception_handler(NoModelError, on_no_model)
    app.add_exception_handler(Exception, on_unexpected)
