"""The edge limits as docs/operations.md states them, enforced with nginx/limits.env as it is
(no override): each figure is checked from both sides, so raising or lowering a value in
limits.env fails here (tests/controls raises each one and checks that it does)."""

import concurrent.futures
import socket
import time
from collections.abc import Iterator

import pytest

from local.twin import Stack
from tests.support.clients import https_client
from tests.support.servers import running_twin

# docs/operations.md, "Limits": "Per client address: /predict 20 r/s (burst 40); /predict/batch
# ... 12 a minute (burst 3); the GET routes that query the database ... 10 r/s (burst 20); at
# most 32 requests in progress (limit_conn)."
DOCUMENTED = {
    "predict": (20.0, 40), "batch": (12 / 60, 3), "reads": (10.0, 20),
}
CONN_PER_CLIENT = 32


@pytest.fixture(scope="module")
def documented() -> Iterator[Stack]:
    with running_twin("documented-limits") as twin:  # limits.env untouched
        yield twin


def burst(stack: Stack, method: str, path: str, body: dict[str, object] | None,
          count: int) -> tuple[list[int], float]:
    """`count` requests from 8 threads at once: their statuses and the seconds they took."""
    with https_client(stack) as client:
        def one(_: int) -> int:
            return client.request(method, path, json=body).status_code

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, range(count)))
        return codes, time.monotonic() - started


def assert_zone_admits(zone: str, codes: list[int], seconds: float) -> None:
    """rate r/s with burst b admits 1 + b at once, plus what the rate refills meanwhile."""
    rate, burst_size = DOCUMENTED[zone]
    admitted = codes.count(200)
    most = 1 + burst_size + int(rate * seconds) + 1
    print(f"\n{zone}: {admitted} of {len(codes)} admitted in {seconds:.2f} s "
          f"(documented rate {rate:g}/s, burst {burst_size}: {1 + burst_size} to {most})")
    assert set(codes) <= {200, 429}, codes
    assert 1 + burst_size <= admitted <= most, (
        f"zone {zone} admitted {admitted} of {len(codes)}, documented {1 + burst_size}..{most}")


# The batch zone first: its burst refills only every 5 s.
@pytest.mark.parametrize(("zone", "method", "path", "body", "count"), [
    ("batch", "POST", "/predict/batch", {"rows": [{"age": 30, "salary": 1}]}, 10),
    ("predict", "POST", "/predict", {"age": 30, "salary": 1}, 90),
    ("reads", "GET", "/accuracy", None, 50),
], ids=["batch", "predict", "reads"])
def test_each_rate_limit_is_the_documented_one(
    documented: Stack, zone: str, method: str, path: str, body: dict[str, object] | None,
    count: int,
) -> None:
    time.sleep(2.5)  # a full burst again after the readiness checks and the other zones
    codes, seconds = burst(documented, method, path, body, count)
    assert_zone_admits(zone, codes, seconds)


def hold(stack: Stack) -> socket.socket:
    """A request in progress: headers sent, its body still to come (a location without a
    request rate, so only the connection cap counts it)."""
    raw = socket.create_connection(("127.0.0.1", stack.ports.https), timeout=10)
    tls = stack.nginx.ssl_context().wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    return tls


def test_the_connection_limit_is_the_documented_one(documented: Stack) -> None:
    held: list[socket.socket] = []
    try:
        with https_client(documented) as client:
            held.extend(hold(documented) for _ in range(CONN_PER_CLIENT - 1))
            time.sleep(0.3)
            under = client.get("/healthz").status_code
            held.append(hold(documented))
            time.sleep(0.3)
            over = client.get("/healthz").status_code
    finally:
        for tls in held:
            tls.close()
    print(f"\nin progress: {CONN_PER_CLIENT - 1} held + 1 -> {under}; "
          f"{CONN_PER_CLIENT} held + 1 -> {over}")
    assert under == 200, f"{CONN_PER_CLIENT} requests in progress refused: {under}"
    assert over == 429, f"{CONN_PER_CLIENT + 1} requests in progress admitted: {over}"
