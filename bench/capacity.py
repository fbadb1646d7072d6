"""Capacity model, database side: rows per second one PostgreSQL commits through the API's own
group-commit log writer (`app.store.prediction_log.PredictionLog`) at 1, 4, 16 and 64
concurrent writers. Not run by the tests; `make capacity` (or `.venv/bin/python
bench/capacity.py`) runs it and prints a table (docs/capacity.md explains the model).

One PostgreSQL is started as the twin starts it (`local.twin.Postgres`: fsync,
synchronous_commit and full_page_writes on) in a temporary folder, on a free loopback port,
and migrated. A writer is what each gunicorn worker has: one PredictionLog, one connection,
one commit in flight. The writers are spread over one process per core; each is kept busy
by IN_FLIGHT requests of one row each that re-submit as soon as their row is committed (as
/predict's clients would at saturation), so each commit takes every row waiting at that
moment. Counted: rows and commits whose commit completed inside the measured window (after
a warm-up), the write latency a request saw, and the CPU the PostgreSQL processes used over
the window (from /proc). Every row is checked against the table afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.database import app_dsn  # noqa: E402
from app.core.settings import Settings  # noqa: E402
from app.ops import operations  # noqa: E402
from app.store.prediction_log import LogRows, PredictionLog  # noqa: E402
from bench.run import cpu_seconds  # noqa: E402
from local.twin import Postgres, free_port, service_env  # noqa: E402

WRITERS = (1, 4, 16, 64)


@dataclass
class Point:
    writers: int
    rows: int
    commits: int
    seconds: float
    db_cpu_s: float
    p50_ms: float
    p99_ms: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def commits_per_s(self) -> float:
        return self.commits / self.seconds


def one_row(number: int) -> LogRows:
    return LogRows(inputs={"age": [30.0 + number % 30], "salary": [20_000.0 + number % 90_000]},
                   purchased=[number % 3 == 0], probabilities=[0.25], model_version=1)


async def drive(dsn: str, writers: int, in_flight: int, start: float, end: float
                ) -> tuple[int, int, list[float]]:
    """`writers` logs on this process's event loop, each fed by `in_flight` requests until
    `end`; returns the rows and commits completed in [start, end] and the latencies."""
    counted = [0, 0]

    def on_commit(_version: int, rows: int, _purchased: int, _seconds: float) -> None:
        if start <= time.time() <= end:
            counted[0] += rows
            counted[1] += 1

    logs = [PredictionLog(dsn, max_batch_rows=20_000, max_waiting=1_000_000, timeout=30,
                          on_commit=on_commit) for _ in range(writers)]
    latencies: list[float] = []

    async def request(log: PredictionLog, number: int) -> None:
        while time.time() < end:
            sent = time.perf_counter()
            await log.write(one_row(number))
            if start <= time.time() <= end:
                latencies.append(time.perf_counter() - sent)

    for log in logs:
        log.start()
    try:
        await asyncio.gather(*(request(log, n) for log in logs for n in range(in_flight)))
    finally:
        for log in logs:
            await log.stop()
    return counted[0], counted[1], latencies


def child(dsn: str, writers: int, in_flight: int, start: float, end: float,
          results: mp.Queue[tuple[int, int, list[float]]]) -> None:
    results.put(asyncio.run(drive(dsn, writers, in_flight, start, end)))


def measure(server: Postgres, dsn: str, writers: int, args: argparse.Namespace) -> Point:
    processes = min(writers, args.processes)
    shares = [writers // processes + (i < writers % processes) for i in range(processes)]
    start = time.time() + args.warmup + 0.5 * processes  # after every process has connected
    end = start + args.seconds
    results: mp.Queue[tuple[int, int, list[float]]] = mp.Queue()
    workers = [mp.Process(target=child, args=(dsn, share, args.in_flight, start, end, results))
               for share in shares]
    for worker in workers:
        worker.start()
    postmaster = server.pid()
    assert postmaster is not None
    time.sleep(max(0.0, start - time.time()))
    cpu_before = cpu_seconds([postmaster])
    time.sleep(max(0.0, end - time.time()))
    cpu = cpu_seconds([postmaster]) - cpu_before
    gathered = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(60)
    latencies = sorted(x for _, _, lat in gathered for x in lat)
    return Point(writers, sum(r for r, _, _ in gathered), sum(c for _, c, _ in gathered),
                 args.seconds, cpu, 1000 * statistics.median(latencies),
                 1000 * latencies[int(0.99 * (len(latencies) - 1))])


def table(points: list[Point]) -> str:
    lines = ["| writers | rows/s | commits/s | rows per commit | PostgreSQL CPU ms/row |"
             " write p50 ms | write p99 ms |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {p.writers} | {p.rows_per_s:,.0f} | {p.commits_per_s:,.0f} |"
              f" {p.rows / max(p.commits, 1):.1f} | {1000 * p.db_cpu_s / max(p.rows, 1):.4f} |"
              f" {p.p50_ms:.2f} | {p.p99_ms:.2f} |" for p in points]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", default=",".join(map(str, WRITERS)),
                        help="comma-separated writer counts (default 1,4,16,64)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per point")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--in-flight", type=int, default=16,
                        help="one-row requests waiting on each writer (default 16)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="client processes (default: one per core)")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="social-ads-capacity-"))
    state_dir.chmod(0o755)  # the postgres user enters it when this runs as root
    env = service_env("migrate", state_dir, {"POSTGRES_HOST": "127.0.0.1",
                                              "POSTGRES_PORT": str(free_port()),
                                              "DB_STATEMENT_TIMEOUT_MS": "30000"})
    server = Postgres(state_dir, int(env["POSTGRES_PORT"]), service_env("db", state_dir, {}))
    settings = Settings.model_validate({key.lower(): value for key, value in env.items()})
    points = []
    try:
        server.start()
        with operations.owner_connection(settings) as connection:
            operations.migrate(connection, settings.app_db_user)
        dsn = app_dsn(settings, "capacity")
        for writers in (int(w) for w in args.writers.split(",")):
            points.append(measure(server, dsn, writers, args))
            print(f"{writers} writers: {points[-1].rows_per_s:,.0f} rows/s", flush=True)
        stored = int(server.psql("SELECT count(*) FROM predictions"))
        assert stored >= sum(p.rows for p in points), "fewer rows stored than counted"
    finally:
        server.stop("fast")
        shutil.rmtree(state_dir, ignore_errors=True)
    print(f"\n{os.cpu_count()} cores; {args.seconds:g} s per point after {args.warmup:g} s of "
          f"warm-up; {args.in_flight} one-row requests in flight per writer\n")
    print(table(points))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
