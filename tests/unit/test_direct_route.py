"""The hot routes' own handler (DirectJSONRoute) answers every body exactly as FastAPI's
generic handler does (StrictJSONRoute): the same statuses and the same JSON, for good bodies
and for each way a body can be bad. Only the speed may differ (docs/benchmarks.md)."""

from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from app.web import errors
from app.web.schemas import BatchPredictRequest, PredictRequest
from app.web.strict_json import DirectJSONRoute, StrictJSONRoute


def echo_app(route_class: type[StrictJSONRoute]) -> TestClient:
    router = APIRouter(route_class=route_class)

    if route_class is DirectJSONRoute:
        @router.post("/one")
        async def one_direct(body: PredictRequest, request: Request) -> JSONResponse:
            return JSONResponse(body.model_dump(exclude_none=True))

        @router.post("/many")
        async def many_direct(body: BatchPredictRequest, request: Request) -> JSONResponse:
            return JSONResponse({"rows": body.rows})
    else:
        @router.post("/one")
        async def one_generic(body: PredictRequest) -> dict[str, Any]:
            return body.model_dump(exclude_none=True)

        @router.post("/many")
        async def many_generic(body: BatchPredictRequest) -> dict[str, Any]:
            return {"rows": body.rows}

    app = FastAPI(max_body_size=8192)
    errors.install(app)
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


@pytest.fixture(scope="module")
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
