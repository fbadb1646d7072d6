"""A frozen database (SIGSTOP on the postmaster and its backends): unlike a stopped server
(tests/integration/test_outage.py) or a blackholed one (test_network.py), its TCP connections
stay up (the kernel still acknowledges and answers keepalives), so only a client-side deadline
can end a read. Every read route, and /predict (whose log row cannot commit), answers 503
within the database bound, then recovers by itself after SIGCONT."""

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

import httpx

from local.twin import Stack, process_tree
from tests.support.auth import bearer
from tests.support.clients import https_client

# Routes that read the database, and /model and /metrics, which must not wait on it either.
READS = ["/accuracy", "/models", "/predictions", "/drift", "/readyz", "/model", "/metrics"]
# Allowed beyond the API's bound (DB_CONNECT_TIMEOUT_S + DB_STATEMENT_TIMEOUT_MS) for the
# request itself on a busy machine; nginx would answer 504 only after 15 s.
MARGIN_S = 2.0


def postgres_processes(stack: Stack) -> list[int]:
    """The postmaster named by the test server's own postmaster.pid, and its children."""
    lines = stack.postgres.pid_file.read_text().splitlines()
    postmaster = int(lines[0])
    assert stack.postgres.pid() == postmaster  # a live postgres process, ours
    return process_tree(postmaster)


@contextmanager
def frozen(stack: Stack) -> Iterator[list[int]]:
    """SIGSTOP on the test's PostgreSQL processes; SIGCONT on every one of them at the end,
    whatever happens."""
    stopped: list[int] = []
    try:
        for _ in range(2):  # again, for a backend forked while the first pass ran
            for pid in postgres_processes(stack):
                if pid not in stopped:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
        yield stopped
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def get(client: httpx.Client, path: str, token: str) -> tuple[str, int, float]:
    started = time.monotonic()
    try:
        status = client.get(path, headers=bearer(token)).status_code
    except httpx.TimeoutException:
        status = 0  # no answer within the client's 20 s
    return path, status, time.monotonic() - started


def predict(client: httpx.Client) -> tuple[str, int, float]:
    started = time.monotonic()
    try:
        status = client.post("/predict", json={"age": 30, "salary": 87000}).status_code
    except httpx.TimeoutException:
        status = 0
    return "/predict", status, time.monotonic() - started


def predictions_at_once(client: httpx.Client, count: int = 4) -> list[tuple[str, int, float]]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: predict(client), range(count)))


def every_route(client: httpx.Client, token: str) -> list[tuple[str, int, float]]:
    """Each read route twice, all at once: the first of each takes a pooled connection to a
    frozen backend, the later ones find the pool held by them."""
    with ThreadPoolExecutor(len(READS) * 2) as pool:
        return list(pool.map(lambda path: get(client, path, token), READS * 2))


def test_a_frozen_database_gives_503_within_the_bound_and_recovers(
        fault_stack: Stack) -> None:
    env = fault_stack.service_env("api")
    bound = int(env["DB_CONNECT_TIMEOUT_S"]) + int(env["DB_STATEMENT_TIMEOUT_MS"]) / 1000
    token = fault_stack.env["API_TOKEN"]
    direct = httpx.Client(base_url=f"http://127.0.0.1:{fault_stack.ports.api}", timeout=20)
    with direct, https_client(fault_stack) as through_nginx:
        before = every_route(direct, token)  # warm: every worker's pool holds connections
        assert {status for _, status, _ in before} == {200}, before
        with frozen(fault_stack) as stopped:
            during = every_route(direct, token)
            predicted_during = predictions_at_once(direct)
            nginx_during = [get(through_nginx, path, token) for path in ("/accuracy", "/models")]
        thawed_at = time.monotonic()
        print(f"\nfrozen {len(stopped)} postgres processes; direct: "
              + ", ".join(f"{p} {s} {t:.2f}s" for p, s, t in during)
              + "; /predict: " + ", ".join(f"{s} {t:.2f}s" for _, s, t in predicted_during)
              + "; through nginx: " + ", ".join(f"{p} {s} {t:.2f}s" for p, s, t in nginx_during))
        slow = [(p, s, t) for p, s, t in [*during, *predicted_during, *nginx_during]
                if t > bound + MARGIN_S]
        assert slow == [], f"over {bound + MARGIN_S} s: {slow}"
        # /model answers from memory; /metrics leaves the database's figures out.
        expected = {p: 200 if p in ("/model", "/metrics") else 503 for p in READS}
        assert [(p, s) for p, s, _ in during if s != expected[p]] == []
        assert {s for _, s, _ in nginx_during} == {503}
        assert {s for _, s, _ in predicted_during} == {503}  # never acknowledged uncommitted

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if get(direct, "/readyz", token)[1] == 200:
                break
            time.sleep(0.2)
        print(f"ready {time.monotonic() - thawed_at:.2f} s after SIGCONT")
        after = every_route(direct, token)
        assert {status for _, status, _ in after} == {200}, after
        predicted_after = predictions_at_once(direct)
        assert {status for _, status, _ in predicted_after} == {200}, predicted_after
