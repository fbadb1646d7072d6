"""The edge limits as docs/operations.md states them, enforced with nginx/limits.env as it is
(no override): each figure is checked from both sides, so raising or lowering a value in
limits.env fails here (tests/controls raises and lowers them and checks that it does).

A zone is measured twice: a burst at once (1 + burst admitted, plus what the rate refills
meanwhile), then a paced stream four times the documented rate, in which nginx admits one
request per refill: the count is the rate times the stream's length, within a refill or so,
which a rate set a quarter higher or lower misses."""

import concurrent.futures
import itertools
import math
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

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
# The paced stream's length per zone: many refills at 20 and 10 r/s; for 12 a minute (one
# refill every 5 s), five.
PACED_SECONDS = {"predict": 2.0, "batch": 25.0, "reads": 2.0}
# nginx's clock is cached per event-loop turn, and a request takes a moment to arrive: what a
# client's clock may be off from nginx's, in seconds.
CLOCK_SLACK = 0.02


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


@dataclass(frozen=True)
class Exchange:
    sent: float  # time.monotonic() just before the request was sent
    received: float  # ... just after its answer came: nginx saw it between the two
    status: int


def paced(stack: Stack, method: str, path: str, body: dict[str, object] | None,
          rate: float, seconds: float) -> list[Exchange]:
    """One request at a time, four per refill interval of `rate`, for `seconds`."""
    interval = 1 / (4 * rate)
    exchanges: list[Exchange] = []
    with https_client(stack) as client:
        started = time.monotonic()
        while (now := time.monotonic()) - started < seconds:
            status = client.request(method, path, json=body).status_code
            exchanges.append(Exchange(now, time.monotonic(), status))
            time.sleep(max(0.0, started + len(exchanges) * interval - time.monotonic()))
    return exchanges


def assert_stream_admits(zone: str, stream: list[Exchange]) -> None:
    """nginx refills one request per 1/rate seconds and keeps what nobody has used yet (up to
    the burst); a refused request changes nothing. So, in nginx's time:
    - admitted = saved at the start (0 or more) + refilled during the stream - left at the end.
      Left at the end: under one refill, plus what each gap between requests refilled beyond
      the one refill its next request could take. That bounds the fewest.
    - from a refused request (under one refill saved) to the last admission, at most the
      refills in between, counting the admission after the refusal. That bounds the most.
    Each request reached nginx between its send and its answer, so the bounds take the wider
    of the two times wherever they would otherwise be too tight."""
    rate, _ = DOCUMENTED[zone]
    assert {e.status for e in stream} <= {200, 429}, stream
    admitted = [e for e in stream if e.status == 200]
    length = stream[-1].sent - stream[0].received - CLOCK_SLACK
    unusable = sum(max(0.0, rate * (b.received - a.sent) - 1)
                   for a, b in itertools.pairwise(stream))
    fewest = math.ceil(rate * length - 1 - unusable)
    after_refusal = [i for i in range(1, len(stream))
                     if stream[i].status == 200 and stream[i - 1].status == 429]
    # None refused: the rate is higher than documented, or this client too slow to exceed it.
    assert after_refusal, (
        f"zone {zone} admitted {len(admitted)} of {len(stream)} paced requests, sent at "
        f"{len(stream) / length:.1f}/s against the documented {rate:g}/s")
    first = after_refusal[0]
    later = sum(e.status == 200 for e in stream[first + 1:])
    span = admitted[-1].received - stream[first - 1].sent + CLOCK_SLACK
    most_later = math.floor(rate * span)
    print(f"\n{zone}, paced for {length:.2f} s: {len(admitted)} of {len(stream)} admitted "
          f"(documented rate {rate:g}/s: at least {fewest}), {later} after the first admission "
          f"that followed a refusal (at most {most_later})")
    assert len(admitted) >= fewest and later <= most_later, (
        f"zone {zone} admitted {len(admitted)} paced requests in {length:.2f} s, {later} of them "
        f"after the first admission that followed a refusal; documented: at least {fewest}, "
        f"at most {most_later} after it")


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
    rate, _ = DOCUMENTED[zone]
    assert_stream_admits(zone, paced(documented, method, path, body, rate, PACED_SECONDS[zone]))


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
