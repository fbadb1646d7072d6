"""Request bodies parsed strictly: JSON only, finite numbers only, no repeated keys.

Python's json module accepts NaN, Infinity and 1e400 (as inf), keeps the last of repeated
keys, guesses UTF-16 and raises ValueError (not JSONDecodeError) for integers over 4300
digits. Each of those would
otherwise slip past validation or end in a 500.

A body is first given to jiter (pydantic's JSON parser), which refuses NaN, Infinity, repeated
keys, a BOM and UTF-16 by itself and parses a 10,000-row batch in 3.6 ms instead of 5.0; a
body in which a number could overflow to infinity (or with 100 digits in a row) never goes to it.
Whatever jiter refuses goes through the strict parser below, so each refusal has one wording,
and tests/unit/test_strict_json.py holds the two paths to the same answers on 40,000 bodies.

The hot routes go one step further (`DirectJSONRoute`): a body that counts its name: value
pairs (app.web.schemas.CountedBody) is parsed and validated from its bytes in one pydantic
call, 6 ms instead of 10 for a 10,000-row batch. That call keeps the last of repeated keys, so
its result is taken only when the body's text has as many ':' as the result has pairs; any
other body takes the steps above, which word every refusal (tests/unit/test_counted_body.py).
"""

import inspect
import json
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import jiter
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from app.web.schemas import CountedBody

JSON_MEDIA_TYPE = "application/json"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a 64-bit float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


# Every byte by its role in a number: digits become "0", e and E "e", signs "+", the rest " ".
_NUMBER_SHAPE = bytes(48 if 48 <= b <= 57 else 101 if b in b"eE" else 43 if b in b"+-" else 32
                      for b in range(256))


def may_overflow(body: bytes) -> bool:
    """Could a number in this body overflow a float? Only with 100 digits in a row or an
    exponent of three digits: below both, |x| < 10^100 * 10^99. Three substring searches over
    a translated copy (0.3 ms for a 10,000-row batch; a regular expression took 5 ms)."""
    shape = body.translate(_NUMBER_SHAPE)
    return b"0" * 100 in shape or b"e000" in shape or b"e+000" in shape


def parse_json(body: bytes) -> Any:
    """Parse a request body; any problem becomes a JSONDecodeError (FastAPI's 422 path)."""
    if not may_overflow(body):
        try:
            return jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True,
                                   cache_mode="keys")
        except ValueError:
            pass  # the strict parser words the refusal (or accepts, e.g. a lone surrogate)
    return parse_json_strictly(body)


def parse_json_strictly(body: bytes) -> Any:
    """The reference: Python's json with every check this module promises."""
    try:
        # UTF-8 only, as RFC 8259 requires: json.loads would also guess UTF-16/32 and skip a BOM.
        return json.loads(
            body.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise json.JSONDecodeError(str(error), "", 0) from None


def validate_counted(adapter: TypeAdapter[CountedBody], raw: bytes) -> CountedBody | None:
    """The body parsed and validated in one pass, or None when that pass refused it or the
    text repeated a key (more ':' than pairs): then the strict steps decide and word it."""
    try:
        body = adapter.validate_json(raw)
    except ValidationError:
        return None
    return body if raw.count(b":") == body.json_members() else None


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    # One slash only: FastAPI reads "application/x/y+json" as no JSON at all.
    return media_type == JSON_MEDIA_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
        and media_type.count("/") == 1
    )


class StrictJSONRoute(APIRoute):
    """Routes with a body accept only JSON (415 otherwise), parsed by `parse_json`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        expects_body = self.body_field is not None

        async def strict_handler(request: Request) -> Response:
            if expects_body and not _is_json(request.headers.get("content-type")):
                problem = {"field": "body", "message": "Content-Type must be application/json"}
                return JSONResponse({"detail": [problem]}, status_code=415)
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


class DirectJSONRoute(StrictJSONRoute):
    """For the hot routes (/predict and its batch): the endpoint is `endpoint(body, request)`
    and this handler calls it directly, after the same steps FastAPI takes: JSON only (415),
    `parse_json`, the body field's own validator, errors as FastAPI words them (422).

    Why by hand: FastAPI's generic request handler (content type parsed with email.message,
    the dependency solver, telemetry hooks, exit stacks) cost more per /predict than the
    prediction and its log write together (docs/benchmarks.md, issue 19). The endpoint's
    signature still declares the body, so OpenAPI documents the route exactly as before;
    the endpoint takes what it needs from the request with plain calls (app.web.deps)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        body_field = self.body_field
        parameters = list(inspect.signature(self.endpoint).parameters.values())
        # This handler solves no dependencies: refuse what it would silently skip.
        if (body_field is None or [p.annotation for p in parameters][1:] != [Request]
                or not inspect.iscoroutinefunction(self.endpoint) or self.dependencies):
            raise TypeError(f"{self.path}: a DirectJSONRoute endpoint is async (body, "
                            "request: Request), with no dependencies")
        endpoint: Callable[[Any, Request], Awaitable[Response]] = self.endpoint
        body_type = body_field.field_info.annotation
        counted = (TypeAdapter(body_type) if isinstance(body_type, type)
                   and issubclass(body_type, CountedBody) else None)

        async def direct_handler(request: Request) -> Response:
            if not _is_json(request.headers.get("content-type")):
                problem = {"field": "body", "message": "Content-Type must be application/json"}
                return JSONResponse({"detail": [problem]}, status_code=415)
            try:
                raw = await request.body()
            except ClientDisconnect:
                raise HTTPException(400, "There was an error parsing the body") from None
            if counted is not None and (body := validate_counted(counted, raw)) is not None:
                return await endpoint(body, request)
            if not raw:
                raise RequestValidationError([{"type": "missing", "loc": ("body",),
                                               "msg": "Field required", "input": None}])
            try:
                parsed = parse_json(raw)
            except json.JSONDecodeError as error:
                raise RequestValidationError([{
                    "type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error",
                    "input": {}, "ctx": {"error": error.msg}}]) from None
            body, errors = body_field.validate(parsed, loc=("body",))
            if errors:
                raise RequestValidationError(errors)
            return await endpoint(body, request)

        return direct_handler
