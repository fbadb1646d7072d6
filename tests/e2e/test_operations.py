"""Operating the twin through nginx: metrics, one request id end to end, the token, limits."""

import concurrent.futures
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from local.twin import Stack
from tests.support.auth import bearer
from tests.support.clients import https_client
from tests.support.metrics import value
from tests.support.servers import running_twin


def scrape(stack: Stack) -> str:
    """/metrics on the API's own port, as Prometheus on the compose network reads it."""
    return httpx.get(f"http://127.0.0.1:{stack.ports.api}/metrics", timeout=10).text


def wait_for(find: Callable[[], list[dict[str, object]]], timeout: float = 5) -> list[
        dict[str, object]]:
    deadline = time.monotonic() + timeout
    while not (found := find()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def json_lines(path: str, **match: object) -> list[dict[str, object]]:
    lines = []
    with open(path) as log:
        for line in log:
            if line.startswith("{"):
                record = json.loads(line)
                if all(record.get(k) == v for k, v in match.items()):
                    lines.append(record)
    return lines


def test_metrics_are_not_served_through_nginx(https: httpx.Client) -> None:
    response = https.get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_metrics_count_every_worker_exactly(stack: Stack, https: httpx.Client) -> None:
    before = scrape(stack)
    codes = []
    for i in range(32):
        time.sleep(0.03)  # under the fixture's 50 requests a second
        body = {"age": 40, "salary": 50000 + i} if i < 30 else {"age": -1, "salary": 1}
        codes.append(https.post("/predict", json=body).status_code)
    assert codes == [200] * 30 + [422] * 2
    after = scrape(stack)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Two gunicorn workers share the load; the multiprocess files add both up.
    assert delta("http_requests_total", route="/predict", status="200") == 30
    assert delta("http_requests_total", route="/predict", status="422") == 2
    assert delta("predictions_total", model_version="1") == 30
    assert delta("prediction_log_batch_rows_sum") == 30
    workers = {labels for (name, labels) in _served(after)}
    assert len(workers) == 2  # one served_model_version sample per live worker


def _served(text: str) -> list[tuple[str, frozenset[tuple[str, str]]]]:
    from tests.support.metrics import samples

    return [key for key in samples(text) if key[0] == "served_model_version"]


# docs/operations.md: an id of 8 to 64 characters from [A-Za-z0-9._-] is kept, else replaced.
@pytest.mark.parametrize(("sent", "kept"), [
    (None, False), ("trace-me.e2e-0001", True), ("bad id!", False),
    ("idlen-08", True), ("idlen-7", False),
    ("idlen-64" + "x" * 56, True), ("idlen-65" + "x" * 57, False),
], ids=["none", "well-formed", "bad-character", "8-chars", "7-chars", "64-chars", "65-chars"])
def test_one_answer_followed_from_nginx_to_the_app_to_its_row(
    stack: Stack, https: httpx.Client, sent: str | None, kept: bool
) -> None:
    headers = {"X-Request-ID": sent} if sent else {}
    response = https.post("/predict", json={"age": 33, "salary": 33333}, headers=headers)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    if kept:
        assert request_id == sent
    else:
        assert request_id != sent and len(request_id) == 32  # nginx's own $request_id

    edge = wait_for(lambda: json_lines(str(stack.nginx.prefix / "access.log"),
                                       request_id=request_id))
    assert [(e["method"], e["uri"], e["status"]) for e in edge] == [("POST", "/predict", 200)]
    app = wait_for(lambda: json_lines(str(stack.api.log_file(1)), request_id=request_id))
    assert [(a["logger"], a["route"], a["status"]) for a in app] == [
        ("app.access", "/predict", 200)]
    row = stack.postgres.psql(
        f"SELECT id FROM predictions WHERE request_id = '{request_id}'")
    assert row == str(response.json()["prediction_id"])


def test_reading_the_log_needs_the_token(stack: Stack, https: httpx.Client) -> None:
    refused = https.get("/predictions")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "x-request-id" in refused.headers
    allowed = https.get("/predictions", headers=bearer(stack.env["API_TOKEN"]))
    assert allowed.status_code == 200 and isinstance(allowed.json(), list)


# --- limits: each zone refuses a burst with 429 and never a 5xx ---------------------------------

SMALL_LIMITS = {
    "NGINX_PREDICT_RATE": "2r/s", "NGINX_PREDICT_BURST": "10",
    "NGINX_BATCH_RATE": "1r/m", "NGINX_BATCH_BURST": "2",
    "NGINX_READ_RATE": "1r/s", "NGINX_READ_BURST": "4",
    "NGINX_CONN_PER_CLIENT": "4",
}


@pytest.fixture(scope="module")
def limited() -> Iterator[Stack]:
    with running_twin("limits", SMALL_LIMITS) as twin:
        yield twin


def burst(stack: Stack, requests: list[tuple[str, str, dict[str, object] | None]],
          workers: int = 8) -> list[int]:
    def send(request: tuple[str, str, dict[str, object] | None]) -> int:
        method, path, body = request
        with https_client(stack) as client:
            return client.request(method, path, json=body).status_code

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(send, requests))


def refused_by(stack: Stack, zone: str) -> int:
    log = (stack.nginx.prefix / "error.log").read_text()
    return log.count(f'by zone "{zone}"')


@pytest.mark.parametrize(("zone", "method", "path", "body", "allowed"), [
    ("predict", "POST", "/predict", {"age": 30, "salary": 1}, 11),
    ("batch", "POST", "/predict/batch", {"rows": [{"age": 30, "salary": 1}]}, 3),
    ("reads", "GET", "/accuracy", None, 5),
])
def test_each_zone_answers_a_burst_with_429_and_no_5xx(
    limited: Stack, zone: str, method: str, path: str, body: dict[str, object] | None,
    allowed: int,
) -> None:
    codes = burst(limited, [(method, path, body)] * 30, workers=4)
    assert not [code for code in codes if code >= 500], codes
    assert set(codes) == {200, 429}
    # The first `allowed` (rate + burst) pass: a few more may, as the rate refills meanwhile.
    assert allowed <= codes.count(200) <= allowed + 2, codes
    assert refused_by(limited, zone) >= 1


def test_too_many_requests_in_progress_from_one_client_get_429(limited: Stack) -> None:
    # Hold four requests open (headers sent, body still to come), then ask for a fifth. They
    # go to a location without a request rate, so only the connection cap can refuse them.
    import socket

    context = limited.nginx.ssl_context()
    held = []
    try:
        for _ in range(4):
            raw = socket.create_connection(("127.0.0.1", limited.ports.https), timeout=10)
            tls = context.wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            held.append(tls)
        time.sleep(0.3)
        fifth = httpx.get(f"{limited.https_url}/healthz", verify=context, timeout=10)
        assert fifth.status_code == 429
        assert refused_by(limited, "perclient") >= 1
    finally:
        for tls in held:
            tls.close()
    assert httpx.get(f"{limited.https_url}/healthz", verify=context,
                     timeout=10).status_code == 200
