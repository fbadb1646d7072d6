"""Nothing acknowledged is lost, nothing is stored twice, under crashes of every tier."""

import os
import signal
import time
from collections.abc import Callable

import pytest

from local.twin import Stack, process_tree, wait_gone
from tests.faults.load import Load


def last_id(stack: Stack) -> int:
    return int(stack.postgres.psql("SELECT coalesce(max(id), 0) FROM predictions"))


def check_oracle(stack: Stack, load: Load, since_id: int) -> dict[str, int]:
    """Compare the acknowledgements with the rows logged since the load began (earlier tests
    wrote rows of their own); returns the figures for the report."""
    stored = stack.postgres.psql(
        f"SELECT id || ':' || salary::bigint FROM predictions WHERE id > {since_id}"
        f" AND salary > {load.salary_base} AND salary < {load.salary_base + 1_000_000}"
    ).split()
    rows = [(int(a), int(b)) for a, b in (line.split(":") for line in stored)]
    by_id = dict(rows)
    acknowledged = load.acknowledged()
    missing = [pid for pid, salary in acknowledged.items() if by_id.get(pid) != salary]
    salaries = [salary for _, salary in rows]
    duplicates = len(salaries) - len(set(salaries))
    statuses = load.statuses()
    figures = {"requests": len(load.outcomes), "acknowledged": len(acknowledged),
               "missing": len(missing), "duplicates": duplicates,
               "stored_unacknowledged": len(rows) - len(acknowledged),
               **{f"status_{code}": n for code, n in sorted(statuses.items())}}
    assert missing == [], f"acknowledged but not stored: {missing[:10]}"
    assert duplicates == 0
    assert statuses[500] == 0, [o.body for o in load.outcomes if o.status == 500][:3]
    return figures


def run_with_faults(stack: Stack, seconds: float, faults: int,
                    inject: Callable[[], float]) -> tuple[Load, list[float]]:
    """Load for `seconds`, injecting `faults` faults evenly; returns recovery times."""
    load = Load(stack.https_url, stack.nginx.ssl_context())
    load.since_id = last_id(stack)
    workers = load.start(seconds)
    recoveries_from: list[float] = []
    interval = seconds / (faults + 1)
    for _ in range(faults):
        time.sleep(interval)
        recoveries_from.append(inject())
    for worker in workers:
        worker.join(seconds + 30)
    recoveries = []
    for moment in recoveries_from:
        recovered = load.first_success_after(moment)
        assert recovered is not None, "the service never answered 200 again"
        recoveries.append(recovered)
    return load, recoveries


def test_postgres_runs_durably(fault_stack: Stack) -> None:
    settings = fault_stack.postgres.psql(
        "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings "
        "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')"
    )
    assert settings == "fsync=on,full_page_writes=on,synchronous_commit=on"


def test_postgres_killed_three_times(fault_stack: Stack) -> None:
    outage_statuses: list[int] = []

    def crash_and_restart() -> float:
        fault_stack.postgres.crash()
        down_since = time.monotonic()
        time.sleep(2)
        outage_statuses.extend(o.status for o in load_ref[0].outcomes
                               if o.sent_at > down_since + 0.5)
        fault_stack.postgres.start()
        return time.monotonic()

    load_ref: list[Load] = []
    load = Load(fault_stack.https_url, fault_stack.nginx.ssl_context())
    load_ref.append(load)
    load.since_id = last_id(fault_stack)
    workers = load.start(60)
    restarted_at = []
    for _ in range(3):
        time.sleep(12)
        restarted_at.append(crash_and_restart())
    for worker in workers:
        worker.join(90)
    recoveries = [load.first_success_after(moment) for moment in restarted_at]
    figures = check_oracle(fault_stack, load, load.since_id)
    print(f"\nPostgreSQL SIGKILLed 3 times during 60 s: {figures}; "
          f"recovered in {[round(r or -1, 2) for r in recoveries]} s")
    assert all(r is not None and r <= 5 for r in recoveries), recoveries
    # While it was down, the API said 503 (nginx never had to say 502/504).
    assert outage_statuses and set(outage_statuses) <= {200, 503}, set(outage_statuses)
    assert 503 in outage_statuses


def test_gunicorn_worker_killed_three_times(fault_stack: Stack) -> None:
    master = fault_stack.api.pid()
    assert master is not None

    def kill_a_worker() -> float:
        workers = [pid for pid in process_tree(master) if pid != master]
        os.kill(workers[0], signal.SIGKILL)
        wait_gone(workers[0], 5)
        return time.monotonic()

    load, recoveries = run_with_faults(fault_stack, 20, 3, kill_a_worker)
    figures = check_oracle(fault_stack, load, load.since_id)
    print(f"\ngunicorn worker SIGKILLed 3 times during 20 s: {figures}; "
          f"recovered in {[round(r, 2) for r in recoveries]} s")
    assert all(r <= 5 for r in recoveries)
    assert fault_stack.api.pid() == master  # the master restarted its workers itself


def test_app_sessions_terminated_three_times(fault_stack: Stack) -> None:
    role = fault_stack.env["APP_DB_USER"]

    def terminate_sessions() -> float:
        fault_stack.postgres.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE usename = '{role}'"
        )
        return time.monotonic()

    load, recoveries = run_with_faults(fault_stack, 20, 3, terminate_sessions)
    figures = check_oracle(fault_stack, load, load.since_id)
    print(f"\nevery app session terminated 3 times during 20 s: {figures}; "
          f"recovered in {[round(r, 2) for r in recoveries]} s")
    assert all(r <= 5 for r in recoveries)
    assert set(load.statuses()) <= {200, 503}


@pytest.fixture(autouse=True)
def _service_ready_between_tests(fault_stack: Stack) -> None:
    from local.twin import wait_http

    wait_http(f"https://127.0.0.1:{fault_stack.ports.https}/readyz", 30,
              fault_stack.nginx.ssl_context())
