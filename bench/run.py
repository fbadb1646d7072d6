"""Benchmark: /predict through nginx with durable logging, against the stack's floor and a
naive reference, plus a 10,000-row batch and the cold start. `make bench` runs it.

Writes bench/results/results.json, results.md and results.png. Every load is bounded
(fixed duration, 16 connections) and goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain import dataset  # noqa: E402
from app.domain.features import FEATURES, CategoricalFeature  # noqa: E402
from local.twin import (  # noqa: E402
    TICKS,
    Ports,
    ProcessSample,
    Stack,
    TwinError,
    stop_pid,
    unlimited,
    wait_http,
)
from local.twin.db import Postgres, postgres_bin_dir  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONNECTIONS = 16
ROUNDS = 3  # floor and /predict alternate; each figure is the median of its rounds
TARGETS = {
    "predict_vs_floor": 0.70,
    "predict_p99_vs_floor_p99": 2.0,
    "batch_rows_vs_single": 60.0,
    "predict_vs_naive": 3.0,
    "batch_server_ms": 50.0,
    "cold_start_s": 5.0,
}


@dataclass
class LoadResult:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float
    # Whether the machine was quiet (shares of all its cores over the run, from /proc/stat):
    # busy with anything, busy with processes other than the stack and wrk, and stolen by
    # the hypervisor (a virtual CPU ready to run while the host ran something else: its other
    # guests, its own device emulation; docs/benchmarks.md, issue 19's sixth sitting).
    machine_busy: float = 0.0
    other_processes: float = 0.0
    steal: float = 0.0
    # CPU ms per request of each service: in one run the parts of cpu_ms_per_request; over
    # rounds (median_result) each is its own median.
    cpu_ms_by_service: dict[str, float] = field(default_factory=dict)
    # PostgreSQL's WAL flushes over the run (pg_stat_wal): requests per flush (the log's rows
    # per group commit, near enough) and the mean time of one flush once the bench has turned
    # the timing on (time_wal_flushes). Both 0 when nothing was flushed; flush_ms also 0 when
    # the timing is off.
    requests_per_flush: float = 0.0
    flush_ms: float = 0.0


# --- CPU accounting -------------------------------------------------------------------------------


def cpu_seconds(roots: list[int]) -> float:
    """CPU time of the process trees under `roots`, reaped children included."""
    return ProcessSample.now().cpu_seconds(roots)


def machine_ticks() -> list[int]:
    """/proc/stat's first line: user nice system idle iowait irq softirq steal (all cores)."""
    return [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def others_cpu(before: ProcessSample, after: ProcessSample, ours: set[int]) -> float:
    """CPU seconds processes not in `ours` used between two samples. One that started meanwhile
    counts whole. One that ended was reaped, with its whole life, into the children's ticks of
    its nearest ancestor still running (through any that ended too: `make` running `sh`
    running `mypy`), so the part it had used before the first sample is taken off again."""
    # max: a number reused by a new process must not subtract.
    used = sum(max(ticks - before.ticks.get(pid, 0), 0) for pid, ticks in after.ticks.items()
               if pid not in ours)
    ended = sum(ticks for pid, ticks in before.ticks.items()
                if pid not in after.ticks and pid not in ours
                and surviving_ancestor(pid, before, after) not in ours)
    return max(used - ended, 0) / TICKS


def surviving_ancestor(pid: int, before: ProcessSample, after: ProcessSample) -> int:
    """The nearest ancestor of `pid` (as `before` knew it) that still runs in `after`; 0 if
    none does (the kernel's own threads descend from pid 0)."""
    ancestor = before.parent.get(pid, 0)
    while ancestor and ancestor not in after.ticks:
        ancestor = before.parent.get(ancestor, 0)
    return ancestor


def services(stack: Stack, api: list[int] | None = None) -> dict[str, list[int]]:
    """Each service's root processes; `api`: the naive app's, standing in for the API's."""
    return {"postgres": [pid for pid in [stack.postgres.pid()] if pid],
            "api": stack.api.pids() if api is None else api,
            "nginx": [pid for pid in [stack.nginx.pid()] if pid]}


# --- the WAL's flushes ---------------------------------------------------------------------------


def time_wal_flushes(server: Postgres) -> None:
    """PostgreSQL times its WAL writes and flushes from now on (track_wal_io_timing: a clock
    read around each, no change of behaviour), so each /predict round can report what a flush
    took. On the development machine, a virtual one, flushes slowed down when its cores were
    busy, and the slow /predict rounds were the ones with slow flushes (docs/benchmarks.md,
    issue 19's tenth sitting)."""
    server.psql("ALTER SYSTEM SET track_wal_io_timing = on")
    server.psql("SELECT pg_reload_conf()")


def wal_counters(server: Postgres) -> tuple[int, float]:
    """PostgreSQL's WAL flushes since its statistics were reset, and the ms they took. A busy
    backend reports its share at most once a second, and one that goes idle up to 10 s later
    (PostgreSQL 15): a /predict round's reading shifts by up to a second of the same load (its
    warm-up), and the load after it may receive that round's last second."""
    flushes, ms = server.psql("SELECT wal_sync, wal_sync_time FROM pg_stat_wal").split("|")
    return int(flushes), float(ms)


def flush_figures(before: tuple[int, float], after: tuple[int, float], requests: int
                  ) -> tuple[float, float]:
    """(requests per flush, mean ms per flush) between two readings of wal_counters; each 0
    where there was no flush to count or no time to divide."""
    flushes, ms = after[0] - before[0], after[1] - before[1]
    if flushes <= 0:
        return 0.0, 0.0
    return requests / flushes, ms / flushes


# --- load -----------------------------------------------------------------------------------------


def sample_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Request rows with every core input (what every model version needs; app.domain.features),
    drawn over the range the data set covers, as people would send them."""
    seeded = dataset.read_csv(dataset.default_csv_path())
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for feature in FEATURES:
        if not feature.core:
            continue
        if isinstance(feature, CategoricalFeature):
            for row in rows:
                row[feature.name] = rng.choice(feature.categories)
            continue
        values = [r.values[feature.name] for r in seeded if r.values[feature.name] is not None]
        low, high = min(values), max(values)
        for row in rows:
            row[feature.name] = (rng.randint(int(low), int(high)) if feature.whole
                                 else rng.uniform(low, high))
    return rows


def wrk(url: str, seconds: int, mode: str, bodies: Path) -> dict[str, Any]:
    wrk_binary = shutil.which("wrk")
    if wrk_binary is None:
        raise TwinError("wrk not found: apt-get install wrk")
    result = subprocess.run(
        [wrk_binary, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s",
         # nginx serves its configured name only (the twin's: localhost).
         "-H", "Host: localhost", "-s", str(ROOT / "bench" / "wrk.lua"), url],
        env={**os.environ, "WRK_MODE": mode, "WRK_BODIES": str(bodies)},
        capture_output=True, text=True, check=True,
    )
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def median_result(runs: list[LoadResult]) -> LoadResult:
    """Each figure's median over the rounds (a slow moment on a shared machine is one round)."""
    def mid(key: str) -> float:
        return float(statistics.median(getattr(run, key) for run in runs))
    return LoadResult(name=runs[0].name, requests=int(mid("requests")), rps=mid("rps"),
                      p50_ms=mid("p50_ms"), p99_ms=mid("p99_ms"),
                      errors=sum(r.errors for r in runs),
                      cpu_ms_per_request=mid("cpu_ms_per_request"),
                      machine_busy=mid("machine_busy"), other_processes=mid("other_processes"),
                      steal=mid("steal"),
                      requests_per_flush=mid("requests_per_flush"), flush_ms=mid("flush_ms"),
                      cpu_ms_by_service={service: statistics.median(
                          run.cpu_ms_by_service[service] for run in runs)
                          for service in runs[0].cpu_ms_by_service})


def measure(stack: Stack, name: str, path: str, mode: str, seconds: int,
            api: list[int] | None = None,
            on_load: Callable[[], None] | None = None) -> LoadResult:
    """One load after a warm-up; `api`: the processes serving in place of the stack's API;
    `on_load`: called as the measured load starts (make profile starts its sampler)."""
    url = f"https://127.0.0.1:{stack.ports.https}{path}"
    bodies = stack.state_dir / "bodies.jsonl"
    if not bodies.exists():
        bodies.write_text("".join(json.dumps(row) + "\n" for row in sample_rows(1000)))
    wrk(url, 3, mode, bodies)  # warm-up: connections, worker caches, the pool
    if on_load is not None:
        on_load()
    # Read outside the CPU window: psql's login costs PostgreSQL a few ms of CPU.
    wal_before = wal_counters(stack.postgres)
    before, ticks_before = ProcessSample.now(), machine_ticks()
    raw = wrk(url, seconds, mode, bodies)
    after, ticks_after = ProcessSample.now(), machine_ticks()
    wal_after = wal_counters(stack.postgres)
    requests_per_flush, flush_ms = flush_figures(wal_before, wal_after, raw["requests"])
    ticks = [a - b for a, b in zip(ticks_after, ticks_before, strict=True)]
    # The stack's processes before and after: those that started meanwhile (an autovacuum
    # worker, a respawned worker) are the stack's too; one that ended was reaped into its
    # parent's children's ticks.
    service_roots = services(stack, api)
    roots = [pid for pids in service_roots.values() for pid in pids]
    per_request = 1000 / max(raw["requests"], 1)
    by_service = {service: per_request * (after.cpu_seconds(pids) - before.cpu_seconds(pids))
                  for service, pids in service_roots.items()}
    # Everything else is other processes: not the stack's, and not this one's (wrk is its
    # child, reaped into its ticks).
    ours = before.trees([*roots, os.getpid()]) | after.trees([*roots, os.getpid()])
    others = others_cpu(before, after, ours)
    idle, iowait, steal = ticks[3], ticks[4], ticks[7]
    capacity = max(sum(ticks), 1)  # every core's ticks over the run
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                  "status_errors", "timeouts"))
    result = LoadResult(
        name=name,
        requests=raw["requests"],
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        cpu_ms_per_request=sum(by_service.values()),
        machine_busy=(capacity - idle - iowait - steal) / capacity,
        other_processes=others * TICKS / capacity,
        steal=steal / capacity,
        cpu_ms_by_service=by_service,
        requests_per_flush=requests_per_flush,
        flush_ms=flush_ms,
    )
    # Only where the load writes: the floor's figures are mostly the previous /predict round's
    # last second, reported late (wal_counters).
    wal = (f"  WAL {requests_per_flush:.1f} req/flush, {flush_ms:.2f} ms/flush"
           if flush_ms and mode == "predict" else "")
    print(f"  {name:28} {result.rps:8.0f} req/s  p50 {result.p50_ms:5.2f} ms  "
          f"p99 {result.p99_ms:5.2f} ms  errors {errors}  "
          f"cpu {result.cpu_ms_per_request:.3f} ms/req  machine busy "
          f"{result.machine_busy:.0%} (others {result.other_processes:.1%}, "
          f"steal {result.steal:.1%}){wal}")
    return result


def measure_batch(stack: Stack, rounds: int = 20) -> dict[str, float]:
    rows = sample_rows(10_000, seed=1)
    body = json.dumps({"rows": rows}).encode()
    server, client = [], []
    with httpx.Client(verify=stack.nginx.ssl_context(), timeout=30) as http:
        for _ in range(rounds + 2):
            started = time.perf_counter()
            response = http.post(f"{stack.https_url}/predict/batch", content=body,
                                 headers={"Content-Type": "application/json"})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            assert len(response.json()["prediction_ids"]) == 10_000
            timing = re.search(r"dur=([\d.]+)", response.headers["server-timing"])
            assert timing is not None
            server.append(float(timing[1]))
            client.append(elapsed * 1000)
    server, client = server[2:], client[2:]  # the first two warm up
    result = {
        "rows": 10_000,
        "body_kib": len(body) / 1024,
        "server_ms_median": statistics.median(server),
        "server_ms_max": max(server),
        "client_ms_median": statistics.median(client),
    }
    print(f"  batch of 10,000 rows: server {result['server_ms_median']:.1f} ms (median), "
          f"client round trip {result['client_ms_median']:.1f} ms")
    return result


# --- stacks ---------------------------------------------------------------------------------------


def bench_stack(state_dir: Path) -> Stack:
    stack = Stack(state_dir, state_dir, Ports.free(), extra_env={"LOG_LEVEL": "warning"})
    # The rate limit protects production; here it would measure nginx's 429s instead.
    stack.nginx.limits = unlimited()
    return stack


def cold_start() -> dict[str, float]:
    state_dir = Path(tempfile.mkdtemp(prefix="social-ads-bench-cold-"))
    state_dir.chmod(0o755)
    stack = bench_stack(state_dir)
    try:
        timings = {}
        for label in ("first_start_s", "restart_s"):
            started = time.perf_counter()
            stack.up()
            wait_http(f"https://127.0.0.1:{stack.ports.https}/readyz", 30,
                      stack.nginx.ssl_context(), host=stack.nginx.server_name)
            timings[label] = time.perf_counter() - started
            stack.down()
        print(f"  cold start to /readyz: {timings['first_start_s']:.2f} s on an empty data "
              f"directory, {timings['restart_s']:.2f} s on an existing one")
        return timings
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)


def start_naive_api(stack: Stack) -> subprocess.Popen[bytes]:
    """The naive app under the same gunicorn config, in place of the real API."""
    stack.api.stop()
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    log = (stack.state_dir / "naive-api.log").open("ab")
    process = subprocess.Popen(
        ["gunicorn", "-c", "gunicorn.conf.py", "bench.naive_app:create_app()"],
        cwd=ROOT / "api",
        env={**os.environ, **stack.service_env("api"), "PATH": path, "PYTHONPATH": str(ROOT)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{stack.ports.api}/readyz", 60)
    return process


# --- report ---------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    def first_line(command: list[str]) -> str:
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            return "not found"
        return (result.stdout or result.stderr).strip().splitlines()[0]

    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "machine": f"{os.cpu_count()} cores, {cpu}, "
                   f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "nginx": first_line(["nginx", "-v"]),
        "postgres": first_line([str(postgres_bin_dir() / "postgres"), "--version"]),
        "wrk": first_line(["wrk", "--version"]),
        **{name: version(name) for name in ("fastapi", "gunicorn", "uvicorn", "scikit-learn",
                                             "SQLAlchemy", "psycopg2-binary")},
    }


def write_report(report: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    loads = report["loads"]
    lines = [
        "| endpoint (16 connections, through nginx + TLS) | req/s | p50 ms | p99 ms | errors "
        "| CPU ms/req (postgres, api, nginx: each its own median) |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {r['name']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
          f"{r['errors']} | {r['cpu_ms_per_request']:.3f} ("
          + ", ".join(f"{ms:.3f}" for ms in r["cpu_ms_by_service"].values()) + ") |"
          for r in loads),
        "",
        "| target | measured | goal | met |",
        "|---|---:|---:|:-:|",
        *(f"| {t['name']} | {t['measured']:.2f} | {t['goal']} | {'yes' if t['met'] else 'NO'} |"
          for t in report["targets"]),
        "",
        f"Batch of 10,000 rows: {report['batch']['server_ms_median']:.1f} ms server time "
        f"(median of 20; max {report['batch']['server_ms_max']:.1f} ms), "
        f"{report['batch']['client_ms_median']:.1f} ms round trip for "
        f"{report['batch']['body_kib']:.0f} KiB.",
        quietness([*report["rounds"]["floor"], *report["rounds"]["predict"]],
                  report["loads"][2]),
        flushes(report["rounds"]["predict"], report["rounds"]["predict_vs_floor"]),
        f"Cold start (`make local` to /readyz 200 through nginx): "
        f"{report['cold_start']['first_start_s']:.2f} s on an empty data directory, "
        f"{report['cold_start']['restart_s']:.2f} s on an existing one.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        "",
    ]
    (RESULTS / "results.md").write_text("\n".join(lines))
    chart(loads)


def quietness(rounds: list[dict[str, Any]], naive: dict[str, Any]) -> str:
    """How quiet the machine was over the floor and /predict rounds, and the naive reference's
    run: other processes, or the hypervisor's steal, move every figure above
    (docs/benchmarks.md)."""
    def span(key: str) -> str:
        values = [r[key] for r in rounds]
        return f"{min(values):.1%} to {max(values):.1%}"
    return (f"The machine over the {len(rounds)} floor and /predict rounds: busy "
            f"{span('machine_busy')}, other processes than the stack and wrk together (kernel "
            f"threads included) {span('other_processes')}, stolen by the hypervisor "
            f"{span('steal')}; over the naive reference's run: busy {naive['machine_busy']:.1%}, "
            f"others {naive['other_processes']:.1%}, steal {naive['steal']:.1%}.")


def flushes(predicts: list[dict[str, Any]], ratios: list[float]) -> str:
    """PostgreSQL's WAL flushes in each /predict round, beside that round's ratio: on a virtual
    machine a slow flush, not the code, can be what a round lost (docs/benchmarks.md)."""
    rounds = "; ".join(f"{ratio:.2f} with {r['requests_per_flush']:.1f} requests per flush "
                       f"at {r['flush_ms']:.2f} ms" for r, ratio in zip(predicts, ratios,
                                                                         strict=True))
    return (f"PostgreSQL's WAL flushes (pg_stat_wal, timed for the bench) per /predict round, "
            f"after its ÷ floor: {rounds}.")


def chart(loads: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in loads]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.barh(names, [r["rps"] for r in loads], color="#1e5a96")
    left.set_xlabel("requests per second (higher is better)")
    right.barh(names, [r["p99_ms"] for r in loads], color="#b45309")
    right.set_xlabel("p99 latency, ms (lower is better)")
    right.set_yticklabels([])
    for axis in (left, right):
        axis.invert_yaxis()
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle(f"/predict through nginx + TLS, {CONNECTIONS} connections, every answer "
                    "committed to PostgreSQL first")
    figure.tight_layout()
    figure.savefig(RESULTS / "results.png", dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each measured run")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="floor and /predict rounds")
    args = parser.parse_args()

    print("cold start")
    cold = cold_start()

    state_dir = Path(tempfile.mkdtemp(prefix="social-ads-bench-"))
    state_dir.chmod(0o755)
    stack = bench_stack(state_dir)
    naive: subprocess.Popen[bytes] | None = None
    try:
        stack.up()
        time_wal_flushes(stack.postgres)
        durability = stack.postgres.psql(
            "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings "
            "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')"
        )
        print(f"load ({args.seconds} s each after a 3 s warm-up; PostgreSQL {durability})")
        floors, predicts, ratios = [], [], []
        for _ in range(args.rounds):
            floors.append(measure(stack, "GET /healthz (floor)", "/healthz", "get", args.seconds))
            predicts.append(measure(stack, "POST /predict", "/predict", "predict", args.seconds))
            ratios.append(predicts[-1].rps / floors[-1].rps)
        floor, predict = median_result(floors), median_result(predicts)
        batch = measure_batch(stack)
        naive = start_naive_api(stack)
        reference = measure(stack, "POST /predict, naive", "/predict", "predict", args.seconds,
                            api=[naive.pid])
    finally:
        if naive is not None:
            stop_pid(naive.pid)
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)

    def target(name: str, measured: float, goal: float, higher_is_better: bool) -> dict[str, Any]:
        met = measured >= goal if higher_is_better else measured <= goal
        return {"name": name, "measured": measured,
                "goal": f"{'≥' if higher_is_better else '≤'} {goal:g}", "met": met}

    batch_rows_per_s = batch["rows"] / (batch["server_ms_median"] / 1000)
    targets = [
        target(f"/predict req/s ÷ floor req/s (median of {args.rounds} rounds)",
               statistics.median(ratios), TARGETS["predict_vs_floor"], True),
        target("/predict p99 ÷ floor p99", predict.p99_ms / floor.p99_ms,
               TARGETS["predict_p99_vs_floor_p99"], False),
        target("batch rows/s ÷ /predict req/s", batch_rows_per_s / predict.rps,
               TARGETS["batch_rows_vs_single"], True),
        target("/predict req/s ÷ naive req/s", predict.rps / reference.rps,
               TARGETS["predict_vs_naive"], True),
        target("/predict errors", predict.errors, 0, False),
        target("batch of 10,000: server ms", batch["server_ms_median"],
               TARGETS["batch_server_ms"], False),
        target("cold start s", cold["first_start_s"], TARGETS["cold_start_s"], False),
    ]
    report = {
        "connections": CONNECTIONS,
        "seconds": args.seconds,
        "rounds": {"floor": [asdict(r) for r in floors], "predict": [asdict(r) for r in predicts],
                   "predict_vs_floor": ratios},
        "durability": durability,
        "loads": [asdict(r) for r in (floor, predict, reference)],
        "batch": batch,
        "cold_start": cold,
        "targets": targets,
        "versions": versions(),
    }
    write_report(report)
    print((RESULTS / "results.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
