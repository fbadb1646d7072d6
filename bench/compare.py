"""Compare code revisions (and settings) in one sitting: the floor and /predict of each,
measured in interleaved rounds so a machine that slows down mid-run slows every variant
alike. `make bench-compare VARIANTS="9c0b93d HEAD HEAD:WEB_CONCURRENCY=3"` runs it.

A variant is a git revision, optionally with settings for the api after a colon
(`REV:NAME=VALUE,NAME=VALUE`). Each revision is checked out in a temporary git worktree and
its own twin (local.twin of that revision) is started there, so old code is measured with
its own stack; the load, the CPU accounting and the report are this file's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3


def measure_here(seconds: int, settings: dict[str, str]) -> dict[str, Any]:
    """Run inside a revision's worktree (its code first on sys.path): one stack, the floor and
    /predict, CPU per request by service."""
    from bench.run import cpu_seconds, sample_rows, wrk
    from local.twin import Ports, Stack, unlimited

    state_dir = Path(tempfile.mkdtemp(prefix="social-ads-compare-"))
    state_dir.chmod(0o755)
    stack = Stack(state_dir, state_dir, Ports.free(),
                  extra_env={"LOG_LEVEL": "warning", **settings})
    stack.nginx.limits = unlimited()
    results: dict[str, Any] = {}
    try:
        stack.up()
        bodies = state_dir / "bodies.jsonl"
        bodies.write_text("".join(json.dumps(row) + "\n" for row in sample_rows(1000)))
        for name, path, mode in (("floor", "/healthz", "get"), ("predict", "/predict", "predict")):
            url = f"https://127.0.0.1:{stack.ports.https}{path}"
            wrk(url, 3, mode, bodies)
            roles = {"db": [stack.postgres.pid() or 0], "api": stack.api.pids(),
                     "nginx": [stack.nginx.pid() or 0]}
            before = {role: cpu_seconds(pids) for role, pids in roles.items()}
            raw = wrk(url, seconds, mode, bodies)
            n = max(raw["requests"], 1)
            results[name] = {
                "rps": raw["requests"] / (raw["duration_us"] / 1e6),
                "p99_ms": raw["p99_us"] / 1000,
                "errors": sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                               "status_errors", "timeouts")),
                **{f"cpu_{role}_ms": 1000 * (cpu_seconds(pids) - before[role]) / n
                   for role, pids in roles.items()},
            }
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)
    return results


def worktree(revision: str, folder: Path) -> Path:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", revision],
                            capture_output=True, text=True, check=True).stdout.strip()
    path = folder / commit
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(path),
                        commit], check=True)
    return path


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    revision, _, settings = text.partition(":")
    pairs = [item.split("=", 1) for item in settings.split(",") if item]
    return revision, {name: value for name, value in pairs}


def run_variant(path: Path, settings: dict[str, str], seconds: int) -> dict[str, Any]:
    # This file, not the revision's (old revisions have none), run with the revision first on
    # sys.path: its bench.run, local.twin and api/app are the ones imported.
    first = [str(path), str(path / "api"), str(ROOT / "bench")]
    code = (f"import sys, json; sys.path[:0] = {first!r}; import compare; "
            f"print(json.dumps(compare.measure_here({seconds}, {settings!r})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=path, capture_output=True,
                            text=True, check=True)
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def median(runs: list[dict[str, Any]], load: str, key: str) -> float:
    return float(statistics.median(run[load][key] for run in runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="REV or REV:NAME=VALUE,...")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--seconds", type=int, default=12)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="social-ads-compare-trees-"))
    variants = [(text, *parse_variant(text)) for text in args.variants]
    paths = {text: worktree(revision, folder) for text, revision, _ in variants}
    runs: dict[str, list[dict[str, Any]]] = {text: [] for text, _, _ in variants}
    try:
        for round_number in range(1, args.rounds + 1):
            for text, _, settings in variants:
                result = run_variant(paths[text], settings, args.seconds)
                runs[text].append(result)
                print(f"round {round_number} {text:40} floor {result['floor']['rps']:6.0f}  "
                      f"predict {result['predict']['rps']:6.0f}  "
                      f"÷ {result['predict']['rps'] / result['floor']['rps']:.3f}", flush=True)
    finally:
        for path in set(paths.values()):
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                           check=False)
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\nmedians of {args.rounds} interleaved rounds, {args.seconds} s each")
    print("| variant | floor req/s | /predict req/s | ÷ floor | p99 floor, /predict ms "
          "| CPU ms/req floor | CPU ms/req /predict (api, db, nginx) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for text, _, _ in variants:
        rs = runs[text]
        ratio = statistics.median(r["predict"]["rps"] / r["floor"]["rps"] for r in rs)
        floor_cpu = sum(median(rs, "floor", f"cpu_{role}_ms") for role in ("api", "db", "nginx"))
        parts = [median(rs, "predict", f"cpu_{role}_ms") for role in ("api", "db", "nginx")]
        print(f"| {text} | {median(rs, 'floor', 'rps'):,.0f} | {median(rs, 'predict', 'rps'):,.0f} "
              f"| {ratio:.3f} | {median(rs, 'floor', 'p99_ms'):.1f}, "
              f"{median(rs, 'predict', 'p99_ms'):.1f} | {floor_cpu:.3f} | "
              f"{sum(parts):.3f} ({', '.join(f'{p:.3f}' for p in parts)}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
