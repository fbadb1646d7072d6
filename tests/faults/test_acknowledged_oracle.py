"""Nothing acknowledged is lost, nothing is stored twice, under crashes of every tier."""

import os
import signal
import time
from collections.abc import Callable

import pytest

from local.twin import Stack, process_tree, wait_gone, wait_http
from tests.support.load import SALARY_SPAN, Load


def last_id(stack: Stack) -> int:
    return int(stack.postgres.psql("SELECT coalesce(max(id), 0) FROM predictions"))


def check_oracle(stack: Stack, load: Load) -> dict[str, int]:
    """Compare the acknowledgements with the rows logged since the load began (earlier tests
    wrote rows of their own); returns the figures for the report."""
    stored = stack.postgres.psql(
        f"SELECT id || ':' || salary::bigint FROM predictions WHERE id > {load.since_id}"
        f" AND salary > {load.salary_base} AND salary < {load.salary_base + SALARY_SPAN}"
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


def run_with_faults(stack: Stack, label: str, seconds: float, faults: int,
                    inject: Callable[[Load], float]) -> Load:
    """Load for `seconds`, injecting `faults` faults evenly (each returns the moment the
    fault is over), then check the oracle and that each recovery took at most 5 s."""
    load = Load(stack, since_id=last_id(stack))
    started = time.monotonic()
    workers = load.start(seconds)
    fault_over = []
    for k in range(1, faults + 1):  # at fixed points, however long each fault lasts
        time.sleep(max(0.0, started + k * seconds / (faults + 1) - time.monotonic()))
        fault_over.append(inject(load))
    for worker in workers:
        worker.join(seconds + 30)
    recoveries = [load.first_success_after(moment) for moment in fault_over]
    figures = check_oracle(stack, load)
    print(f"\n{label}: {figures}; recovered in "
          f"{[None if r is None else round(r, 2) for r in recoveries]} s")
    assert all(r is not None and r <= 5 for r in recoveries), recoveries
    return load


def test_postgres_runs_durably(fault_stack: Stack) -> None:
    settings = fault_stack.postgres.psql(
        "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings "
        "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')"
    )
    assert settings == "fsync=on,full_page_writes=on,synchronous_commit=on"


def test_postgres_killed_three_times(fault_stack: Stack) -> None:
    outage_statuses: list[int] = []

    def crash_and_restart(load: Load) -> float:
        fault_stack.postgres.crash()
        down_since = time.monotonic()
        time.sleep(2)
        outage_statuses.extend(o.status for o in list(load.outcomes)
                               if o.sent_at > down_since + 0.5)
        fault_stack.postgres.start()
        return time.monotonic()

    run_with_faults(fault_stack, "PostgreSQL SIGKILLed 3 times during 60 s", 60, 3,
                    crash_and_restart)
    # While it was down, the API said 503 (nginx never had to say 502 or 504).
    assert 503 in outage_statuses
    assert set(outage_statuses) <= {200, 503}, set(outage_statuses)


def test_gunicorn_worker_killed_three_times(fault_stack: Stack) -> None:
    master = fault_stack.api.pid()
    assert master is not None

    def kill_a_worker(_: Load) -> float:
        workers = [pid for pid in process_tree(master) if pid != master]
        os.kill(workers[0], signal.SIGKILL)
        wait_gone(workers[0], 5)
        return time.monotonic()

    run_with_faults(fault_stack, "gunicorn worker SIGKILLed 3 times during 20 s", 20, 3,
                    kill_a_worker)
    assert fault_stack.api.pid() == master  # the master replaced its workers itself


def test_app_sessions_terminated_three_times(fault_stack: Stack) -> None:
    role = fault_stack.env["APP_DB_USER"]
    terminated: list[int] = []

    def terminate_sessions(_: Load) -> float:
        terminated.append(int(fault_stack.postgres.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE usename = '{role}'"
        )))
        return time.monotonic()

    load = run_with_faults(fault_stack, "every app session terminated 3 times during 20 s",
                           20, 3, terminate_sessions)
    print(f"sessions terminated each time: {terminated}")
    assert len(terminated) == 3 and min(terminated) >= 1  # each fault hit the pool
    assert set(load.statuses()) <= {200, 503}


@pytest.fixture(autouse=True)
def _service_ready_between_tests(fault_stack: Stack) -> None:
    wait_http(f"https://127.0.0.1:{fault_stack.ports.https}/readyz", 30,
              fault_stack.nginx.ssl_context(), host=fault_stack.nginx.server_name)
