"""What one round trip to PostgreSQL costs on this machine: the backend's CPU per statement
for `SELECT 1` and for the prediction log's own prepared INSERT of a group of rows (with
`synchronous_commit` on, and off for comparison only: the share of the commit's WAL flush),
the writer's side, the CPU of psycopg2's asynchronous `execute` (quoting, then the `send`
that wakes the backend), and the whole writer's CPU per group: `PredictionLog` itself, with 4
coroutines writing one row each in a loop on uvloop, as a worker runs it (the fifth sitting's
measure of what the writer costs per group). Not run by the tests; `make bench-roundtrip`
runs it (docs/benchmarks.md, issue 19's fourth and fifth sittings).

One PostgreSQL as the twin starts it (fsync, synchronous_commit, full_page_writes on), in a
temporary folder on a free loopback port, migrated; the statements are the ones
`app.store.log_sql` gives the API, with parameters written by its own array writers.
"""

from __future__ import annotations

import argparse
import asyncio
import select
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402
import uvloop  # noqa: E402

from app.core.database import app_dsn  # noqa: E402
from app.core.settings import Settings  # noqa: E402
from app.domain.features import FEATURES  # noqa: E402
from app.ops import operations  # noqa: E402
from app.store.log_sql import (  # noqa: E402
    ARRAY_WRITERS,
    bool_array,
    execute_sql,
    float_array,
    id_array,
    index_array,
    prepare_sql,
)
from app.store.prediction_log import LogRows, PredictionLog  # noqa: E402
from bench.run import cpu_seconds, sample_rows  # noqa: E402
from local.twin import Postgres, free_port, service_env  # noqa: E402


def group_parameters(n_rows: int) -> tuple[Any, ...]:
    """The log's group INSERT parameters for n_rows one-row requests (the bench's own request
    rows: whole ages, every core input, gender where drawn), as the writer builds them."""
    rows = sample_rows(n_rows)
    parameters: list[Any] = [1, id_array([f"roundtrip-{i:04d}" for i in range(n_rows)])]
    for feature in FEATURES:
        parameters.append(ARRAY_WRITERS[feature.kind]([row.get(feature.name) for row in rows]))
    parameters.append(bool_array([i % 2 == 0 for i in range(n_rows)]))
    parameters.append(float_array([(i + 0.5) / n_rows for i in range(n_rows)]))
    parameters.append(index_array([1] * n_rows))
    return tuple(parameters)


def wait(connection: Any) -> None:
    while True:
        state = connection.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            select.select([connection.fileno()], [], [])
        else:
            select.select([], [connection.fileno()], [])


def backend_cpu_us(backend: int, statement: Callable[[], None], n: int) -> float:
    before = cpu_seconds([backend])
    for _ in range(n):
        statement()
    return 1e6 * (cpu_seconds([backend]) - before) / n


def measure(dsn: str, n: int, rows: int) -> list[tuple[str, float]]:
    sync = psycopg2.connect(dsn)
    sync.autocommit = True
    cursor = sync.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    [(backend,)] = cursor.fetchall()
    cursor.execute(prepare_sql(FEATURES))
    group, sql = group_parameters(rows), execute_sql(FEATURES)

    def insert() -> None:
        cursor.execute(sql, group)

    figures = [("backend CPU per SELECT 1", backend_cpu_us(
                    backend, lambda: cursor.execute("SELECT 1"), n)),
               (f"backend CPU per log INSERT of {rows} rows", backend_cpu_us(
                    backend, insert, n))]
    cursor.execute("SET synchronous_commit = off")  # for comparison only, never served so
    figures.append(("  the same, synchronous_commit off", backend_cpu_us(
        backend, insert, n)))
    cursor.execute("SET synchronous_commit = on")
    started = time.thread_time()
    for _ in range(n):
        cursor.mogrify(sql, group)
    figures.append(("writer CPU: quoting the parameters",
                    1e6 * (time.thread_time() - started) / n))
    figures.append(("writer CPU: asynchronous execute (quoting and send)", async_execute_us(
        dsn, sql, group, n)))
    sync.close()
    return figures


def async_execute_us(dsn: str, sql: str, parameters: tuple[Any, ...], n: int) -> float:
    connection = psycopg2.connect(dsn, async_=True)
    wait(connection)
    setup = connection.cursor()
    setup.execute(prepare_sql(FEATURES))
    wait(connection)
    spent = 0.0
    for _ in range(n):
        cursor = connection.cursor()
        # This thread's CPU, not the wall clock: the backend it wakes may take the core.
        started = time.thread_time()
        cursor.execute(sql, parameters)
        spent += time.thread_time() - started
        wait(connection)
        cursor.fetchall()
    connection.close()
    return 1e6 * spent / n


async def writer_per_group(dsn: str, backend_of: Callable[[], int], clients: int, seconds: float
                           ) -> tuple[float, float, float]:
    """(writer CPU µs per group, its backend's CPU µs per group, rows per group): `clients`
    coroutines each writing one row at a time through one PredictionLog."""
    groups: list[int] = []
    log = PredictionLog(dsn, max_batch_rows=10_000, max_waiting=1_000, timeout=5.0,
                        on_commit=lambda _v, rows, _p, _s: groups.append(rows))
    log.start()
    rows = [{**row, "purchased": i % 2 == 0} for i, row in enumerate(sample_rows(100))]

    def one(i: int) -> LogRows:
        row = rows[i % len(rows)]
        return LogRows(inputs={f.name: [row.get(f.name)] for f in FEATURES},
                       purchased=[row["purchased"]], probabilities=[0.25], model_version=1)

    try:
        await log.write(one(0))  # connected and prepared
        backend = backend_of()
        groups.clear()
        stop = time.perf_counter() + seconds

        async def client(first: int) -> None:
            i = first
            while time.perf_counter() < stop:
                await log.write(one(i))
                i += clients

        # The backend's CPU read outside this process's clock (cpu_seconds scans /proc).
        backend_cpu = cpu_seconds([backend])
        cpu = time.process_time()
        await asyncio.gather(*(client(i) for i in range(clients)))
        cpu = time.process_time() - cpu
        backend_cpu = cpu_seconds([backend]) - backend_cpu
    finally:
        await log.stop()
    return 1e6 * cpu / len(groups), 1e6 * backend_cpu / len(groups), sum(groups) / len(groups)


def writer_figures(dsn: str, clients: int) -> list[tuple[str, float]]:
    name = "roundtrip-writer"
    watcher = psycopg2.connect(dsn)
    watcher.autocommit = True

    def backend_of() -> int:
        with watcher.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                           (name,))
            [(pid,)] = cursor.fetchall()
            return int(pid)

    try:
        writer_dsn = psycopg2.extensions.make_dsn(dsn, application_name=name)
        cpu, backend, rows = uvloop.run(writer_per_group(writer_dsn, backend_of, clients, 5.0))
    finally:
        watcher.close()
    return [(f"writer CPU per group ({clients} writers, {rows:.1f} rows per group)", cpu),
            ("  its backend's CPU per group", backend)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=2000, help="per figure")
    parser.add_argument("--rows", type=int, default=3, help="rows per group (default 3)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--writers", type=int, default=4,
                        help="coroutines writing through the PredictionLog (default 4)")
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="social-ads-roundtrip-"))
    state_dir.chmod(0o755)  # the postgres user enters it when this runs as root
    env = service_env("migrate", state_dir, {"POSTGRES_HOST": "127.0.0.1",
                                              "POSTGRES_PORT": str(free_port())})
    server = Postgres(state_dir, int(env["POSTGRES_PORT"]), service_env("db", state_dir, {}))
    settings = Settings.model_validate({key.lower(): value for key, value in env.items()})
    try:
        server.start()
        with operations.owner_connection(settings) as connection:
            operations.migrate(connection, settings.app_db_user)
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} ({args.statements} statements per figure)")
            dsn = app_dsn(settings, "roundtrip")
            for label, micros in [*measure(dsn, args.statements, args.rows),
                                  *writer_figures(dsn, args.writers)]:
                print(f"  {label:50} {micros:7.1f} µs")
    finally:
        server.stop("fast")
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
