"""The hot routes' own handler (DirectJSONRoute) answers every body exactly as FastAPI's
generic handler does (StrictJSONRoute): the same statuses and the same JSON, for good bodies
and for each way a body can be bad. Only the speed may differ (docs/benchmarks.md)."""

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.web import errors
from app.web.schemas import BatchPredictRequest, PredictRequest
from app.web.strict_json import DirectJSONRoute, StrictJSONRoute


class Note(BaseModel):
    """A body that is not a CountedBody: the direct handler takes the strict steps only."""

    text: str
    stars: int = 0


def echo_app(route_class: type[StrictJSONRoute], *, raw_errors: bool = False) -> TestClient:
    """/one, /many and /plain echo their validated body and the request's path. `raw_errors`:
    a 422 carries FastAPI's own error items verbatim (type, loc, msg, input, ctx), not the
    API's rendering of them, so the two handlers are compared on everything they raise, not
    only on what shows."""
    router = APIRouter(route_class=route_class)

    if route_class is DirectJSONRoute:
        @router.post("/one")
        async def one_direct(body: PredictRequest, request: Request) -> JSONResponse:
            return JSONResponse({**body.model_dump(exclude_none=True), "at": request.url.path})

        @router.post("/many")
        async def many_direct(body: BatchPredictRequest, request: Request) -> JSONResponse:
            return JSONResponse({"rows": body.rows, "at": request.url.path})

        @router.post("/plain")
        async def plain_direct(body: Note, request: Request) -> JSONResponse:
            return JSONResponse({**body.model_dump(), "at": request.url.path})
    else:
        @router.post("/one")
        async def one_generic(body: PredictRequest, request: Request) -> dict[str, Any]:
            return {**body.model_dump(exclude_none=True), "at": request.url.path}

        @router.post("/many")
        async def many_generic(body: BatchPredictRequest, request: Request) -> dict[str, Any]:
            return {"rows": body.rows, "at": request.url.path}

        @router.post("/plain")
        async def plain_generic(body: Note, request: Request) -> dict[str, Any]:
            return {**body.model_dump(), "at": request.url.path}

    app = FastAPI(max_body_size=8192)
    errors.install(app)
    if raw_errors:
        async def verbatim(_: Request, error: Exception) -> JSONResponse:
            assert isinstance(error, RequestValidationError)
            return JSONResponse(jsonable_encoder(error.errors()), status_code=422)

        app.add_exception_handler(RequestValidationError, verbatim)
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


JSON = {"Content-Type": "application/json"}
BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("good", b'{"age": 30, "salary": 87000}', JSON),
    ("good, optional input", b'{"age": 30.5, "salary": 1, "gender": "Female"}', JSON),
    ("empty", b"", JSON),
    ("not JSON", b"{age: 30}", JSON),
    ("truncated", b'{"age": 30, "salary":', JSON),
    ("NaN", b'{"age": NaN, "salary": 1}', JSON),
    ("out of float range", b'{"age": 1e400, "salary": 1}', JSON),
    ("repeated key", b'{"age": 30, "age": 31, "salary": 1}', JSON),
    ("huge integer", b'{"age": ' + b"9" * 5000 + b', "salary": 1}', JSON),
    ("UTF-16", '{"age": 30, "salary": 1}'.encode("utf-16"), JSON),
    ("byte order mark", b'\xef\xbb\xbf{"age": 30, "salary": 1}', JSON),
    ("a list", b"[1, 2]", JSON),
    ("a string", b'"30"', JSON),
    ("null", b"null", JSON),
    ("missing input", b'{"age": 30}', JSON),
    ("extra input", b'{"age": 30, "salary": 1, "colour": "red"}', JSON),
    ("number as text", b'{"age": "30", "salary": 1}', JSON),
    ("boolean", b'{"age": true, "salary": 1}', JSON),
    ("null input", b'{"age": null, "salary": 1}', JSON),
    ("out of bounds", b'{"age": -1, "salary": 1e9}', JSON),
    ("unknown category", b'{"age": 30, "salary": 1, "gender": "Robot"}', JSON),
    ("too large", b'{"age": 30, "salary": 1, "pad": "' + b"x" * 9000 + b'"}', JSON),
    ("no content type", b'{"age": 30, "salary": 1}', {}),
    ("text/plain", b'{"age": 30, "salary": 1}', {"Content-Type": "text/plain"}),
    ("+json", b'{"age": 30, "salary": 1}', {"Content-Type": "application/problem+json"}),
    ("two slashes", b'{"age": 30, "salary": 1}', {"Content-Type": "application/x/y+json"}),
]
BATCHES: list[tuple[str, bytes]] = [
    ("good", b'{"rows": [{"age": 30, "salary": 1}, {"age": 40, "salary": 2, "gender": "Male"}]}'),
    ("no rows", b'{"rows": []}'),
    ("a bad row", b'{"rows": [{"age": 30, "salary": 1}, {"age": "x", "salary": 1}]}'),
    ("rows not a list", b'{"rows": {"age": 30}}'),
    ("a repeated input", b'{"rows": [{"age": 30, "salary": 1, "age": 31}]}'),
    ("rows repeated", b'{"rows": [{"age": 30, "salary": 1}], "rows": [{"age": 1, "salary": 1}]}'),
    ("spaces and escapes", b'{ "rows" : [ {"\\u0061ge" :30 , "salary":\t1e3 } ] }'),
]


# Built for each test, not once per module: the route's handler is made when the app is, and
# mutmut (make mutation) runs a mutant of it only against the tests that built it.
@pytest.fixture
def apps() -> tuple[TestClient, TestClient]:
    return echo_app(StrictJSONRoute), echo_app(DirectJSONRoute)


@pytest.mark.parametrize(("body", "headers"), [(b, h) for _, b, h in BODIES],
                         ids=[name for name, _, _ in BODIES])
def test_one_row_answers_as_fastapi_would(apps: tuple[TestClient, TestClient], body: bytes,
                                          headers: dict[str, str]) -> None:
    generic, direct = (app.post("/one", content=body, headers=headers) for app in apps)
    assert (direct.status_code, direct.text) == (generic.status_code, generic.text)
    assert direct.status_code != 500


@pytest.mark.parametrize("body", [b for _, b in BATCHES], ids=[name for name, _ in BATCHES])
def test_a_batch_answers_as_fastapi_would(apps: tuple[TestClient, TestClient],
                                          body: bytes) -> None:
    generic, direct = (app.post("/many", content=body, headers=JSON) for app in apps)
    assert (direct.status_code, direct.text) == (generic.status_code, generic.text)


PLAIN_BODIES: list[tuple[str, bytes]] = [
    ("good", b'{"text": "hello", "stars": 3}'),
    ("default", b'{"text": "a: b"}'),
    ("empty", b""),
    ("not JSON", b'{"text": hello}'),
    ("wrong type", b'{"text": "x", "stars": "many"}'),
    ("missing field", b'{"stars": 1}'),
    ("repeated key", b'{"text": "x", "text": "y"}'),
]


@pytest.mark.parametrize("body", [b for _, b in PLAIN_BODIES],
                         ids=[name for name, _ in PLAIN_BODIES])
def test_a_body_without_a_count_answers_as_fastapi_would(body: bytes) -> None:
    """A body model that is no CountedBody never takes the one-pass validation."""
    generic, direct = (echo_app(route).post("/plain", content=body, headers=JSON)
                       for route in (StrictJSONRoute, DirectJSONRoute))
    assert (direct.status_code, direct.text) == (generic.status_code, generic.text)
    assert direct.status_code in (200, 422)


@pytest.mark.parametrize(("path", "body", "headers"), [
    *(("/one", b, h) for _, b, h in BODIES), *(("/many", b, JSON) for _, b in BATCHES),
    *(("/plain", b, JSON) for _, b in PLAIN_BODIES)])
def test_the_errors_raised_are_fastapis_own(path: str, body: bytes,
                                            headers: dict[str, str]) -> None:
    """Every field of every error item, including those the API's rendering leaves out."""
    generic, direct = (echo_app(route, raw_errors=True).post(path, content=body, headers=headers)
                       for route in (StrictJSONRoute, DirectJSONRoute))
    assert (direct.status_code, direct.text) == (generic.status_code, generic.text)


def test_a_client_gone_before_its_body_is_answered_as_fastapi_would() -> None:
    """The body never arrives (the client disconnected): both handlers raise the same 400."""
    def answer(route_class: type[StrictJSONRoute]) -> list[dict[str, Any]]:
        app = echo_app(route_class).app
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/one", "raw_path": b"/one",
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80), "headers": [(b"content-type", b"application/json")]}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        async def run() -> None:
            await app(scope, receive, send)

        asyncio.run(run())
        return sent

    generic, direct = answer(StrictJSONRoute), answer(DirectJSONRoute)
    assert direct == generic
    assert direct[0]["status"] == 400


def test_the_statuses_cover_every_kind_of_answer(apps: tuple[TestClient, TestClient]) -> None:
    # Guards the table above: it must reach the 200, 413, 415 and 422 paths, or the
    # comparison could pass on bodies that never leave the happy path.
    _, direct = apps
    statuses = {direct.post("/one", content=b, headers=h).status_code for _, b, h in BODIES}
    assert statuses == {200, 413, 415, 422}


def test_an_endpoint_must_take_the_body_and_the_request() -> None:
    router = APIRouter(route_class=DirectJSONRoute)
    with pytest.raises(TypeError, match="body, request: Request"):
        @router.post("/wrong")
        async def wrong(body: PredictRequest) -> None:
            return None


def test_what_the_direct_handler_would_skip_is_refused() -> None:
    # It solves no dependencies and awaits the endpoint: a dependency or a plain def would
    # be silently skipped or fail on every request, so the route refuses them at start.
    async def dependency() -> None:
        return None

    router = APIRouter(route_class=DirectJSONRoute)
    with pytest.raises(TypeError, match="no dependencies"):
        @router.post("/guarded", dependencies=[Depends(dependency)])
        async def guarded(body: PredictRequest, request: Request) -> JSONResponse:
            return JSONResponse({})
    with pytest.raises(TypeError, match="async"):
        @router.post("/plain")
        def plain(body: PredictRequest, request: Request) -> JSONResponse:
            return JSONResponse({})
