"""Compare code revisions (and settings) in one sitting: every variant's stack is up at once,
and each round runs the same short window of load on each in turn, so a machine whose speed
drifts (by up to 40 % between 4-s windows in issue 19's fifth sitting, docs/benchmarks.md)
slows the variants of a round alike. `make bench-compare VARIANTS="9c0b93d HEAD
HEAD:WEB_CONCURRENCY=3"` runs it.

A variant is a git revision, optionally with settings for the api after a colon
(`REV:NAME=VALUE,NAME=VALUE`). Each revision is checked out in a temporary git worktree and
its own twin (local.twin of that revision) is started there by a child process, so old code
is measured with its own stack; the load, the CPU accounting and the report are this file's.
The report gives each variant's medians over the rounds and, against the first variant, the
median (and range) of two per-round ratios: /predict's rate, and /predict ÷ floor (issue 19's
figure, each variant's floor measured in the same round). Read both. The first credits a
variant with a stack that ran faster at both loads: in issue 19's ninth sitting a variant whose
change the floor never runs had its floor at 1.12 times the first's and its /predict at 1.116,
but 1.006 against its own floor. The second adds the floor's own noise: an A/A run of 10 rounds
gave 1.031 (0.80 to 1.20) and 0.982 (0.76 to 1.28). A few per cent is inside both. The
second fits variants that cannot touch the floor's path; one that does changes the floor too.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import sample_rows, wrk  # noqa: E402
from local.twin import ProcessSample  # noqa: E402

ROLES = ("api", "db", "nginx")
LOADS = (("floor", "/healthz", "get"), ("predict", "/predict", "predict"))
STARTUP_S = 300  # a twin starts in seconds; a hung one is killed after this

# Run by a child process in a revision's worktree (its code first on sys.path): start its
# stack, say where it is, keep it up until this process closes the child's stdin.
CHILD = """
import json, shutil, sys, tempfile
from pathlib import Path
from local.twin import Ports, Stack, unlimited
state_dir = Path(tempfile.mkdtemp(prefix="social-ads-compare-"))
state_dir.chmod(0o755)
settings = {{"LOG_LEVEL": "warning", **{settings!r}}}
stack = Stack(state_dir, state_dir, Ports.free(), extra_env=settings)
stack.nginx.limits = unlimited()
try:
    stack.up()
    print("STACK " + json.dumps({{"https": stack.ports.https,
                                  "db": [pid for pid in [stack.postgres.pid()] if pid],
                                  "api": stack.api.pids(),
                                  "nginx": [pid for pid in [stack.nginx.pid()] if pid]}}),
          flush=True)
    sys.stdin.read()
finally:
    stack.down()
    shutil.rmtree(state_dir, ignore_errors=True)
"""


class Variant:
    def __init__(self, text: str, path: Path, settings: dict[str, str]) -> None:
        self.text = text
        self.runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in LOADS}
        first = [str(path), str(path / "api")]
        self.child = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path[:0] = {first!r}\n"
             + CHILD.format(settings=settings)],
            cwd=path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.child.stdout is not None
        # A stack that hangs while starting is killed, which ends its output.
        watchdog = threading.Timer(STARTUP_S, self.child.kill)
        watchdog.start()
        try:
            for line in self.child.stdout:
                if line.startswith("STACK "):
                    self.stack: dict[str, Any] = json.loads(line.removeprefix("STACK "))
                    return
        finally:
            watchdog.cancel()
        self.child.wait()
        raise RuntimeError(f"{text}: its stack did not start (see its output above)")

    def measure(self, name: str, path: str, mode: str, seconds: int, bodies: Path) -> None:
        url = f"https://127.0.0.1:{self.stack['https']}{path}"
        wrk(url, 1, mode, bodies)  # warm-up: connections, caches
        before = ProcessSample.now()
        raw = wrk(url, seconds, mode, bodies)
        after = ProcessSample.now()
        n = max(raw["requests"], 1)
        self.runs[name].append({
            "rps": raw["requests"] / (raw["duration_us"] / 1e6),
            "p99_ms": raw["p99_us"] / 1000,
            "errors": sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                           "status_errors", "timeouts")),
            **{f"cpu_{role}_ms": 1000 * (after.cpu_seconds(self.stack[role])
                                         - before.cpu_seconds(self.stack[role])) / n
               for role in ROLES},
        })

    def median(self, name: str, key: str) -> float:
        return float(statistics.median(run[key] for run in self.runs[name]))

    def stop(self) -> None:
        """Close the child's stdin (its stack comes down); kill it if it does not exit."""
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.close()
        try:
            self.child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        self.child.stdout.close()


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
    if any(len(pair) != 2 for pair in pairs):
        raise SystemExit(f"{text}: settings are NAME=VALUE, separated by commas")
    return revision, {name: value for name, value in pairs}


def round_ratios(runs: dict[str, list[dict[str, float]]]) -> list[float]:
    """/predict ÷ floor of each round, both loads measured on the same stack in that round;
    NaN for a round whose floor served nothing."""
    return [divide(p["rps"], f["rps"])
            for p, f in zip(runs["predict"], runs["floor"], strict=True)]


def divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def spread(values: list[float]) -> str:
    """Median and range; "n/a" when a round had nothing to divide by (a stack that served no
    request: its errors are reported on its own row)."""
    if any(math.isnan(value) for value in values):
        return "n/a"
    return f"{statistics.median(values):.3f} ({min(values):.2f} to {max(values):.2f})"


def report(variants: list[Variant], rounds: int, seconds: int) -> None:
    base = variants[0]
    print(f"\nmedians of {rounds} rounds, each variant {seconds} s per load per round")
    print(f"| variant | floor req/s | /predict req/s | ÷ floor | /predict ÷ {base.text} "
          f"(range) | ÷ floor against {base.text} (range) | p99 floor, /predict ms | "
          "CPU ms/req floor | CPU ms/req /predict (api, db, nginx) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for variant in variants:
        runs = variant.runs
        errors = sum(run["errors"] for name, _, _ in LOADS for run in runs[name])
        if errors:  # a variant that fails requests can look fast: say so first
            print(f"| {variant.text} | {errors:.0f} failed requests: not comparable |")
            continue
        ratios = round_ratios(runs)
        against = [divide(p["rps"], b["rps"]) for p, b in
                   zip(runs["predict"], base.runs["predict"], strict=True)]
        against_floor = [divide(r, b)
                         for r, b in zip(ratios, round_ratios(base.runs), strict=True)]
        floor_cpu = sum(variant.median("floor", f"cpu_{role}_ms") for role in ROLES)
        parts = [variant.median("predict", f"cpu_{role}_ms") for role in ROLES]
        print(f"| {variant.text} | {variant.median('floor', 'rps'):,.0f} | "
              f"{variant.median('predict', 'rps'):,.0f} | {statistics.median(ratios):.3f} | "
              f"{spread(against)} | {spread(against_floor)} | "
              f"{variant.median('floor', 'p99_ms'):.1f}, {variant.median('predict', 'p99_ms'):.1f}"
              f" | {floor_cpu:.3f} | {sum(parts):.3f} ({', '.join(f'{p:.3f}' for p in parts)}) |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="REV or REV:NAME=VALUE,...")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="social-ads-compare-trees-"))
    bodies = folder / "bodies.jsonl"
    bodies.write_text("".join(json.dumps(row) + "\n" for row in sample_rows(1000)))
    parsed = [(text, *parse_variant(text)) for text in args.variants]
    variants: list[Variant] = []
    try:
        for text, revision, settings in parsed:
            variants.append(Variant(text, worktree(revision, folder), settings))
        for round_number in range(1, args.rounds + 1):
            # Every other round backwards, so no variant always runs first after the other load.
            order = variants if round_number % 2 else variants[::-1]
            for name, path, mode in LOADS:
                for variant in order:
                    variant.measure(name, path, mode, args.seconds, bodies)
            print(f"round {round_number}: " + "  ".join(
                f"{v.text} floor {v.runs['floor'][-1]['rps']:,.0f} predict "
                f"{v.runs['predict'][-1]['rps']:,.0f}" for v in variants), flush=True)
    finally:
        for variant in variants:
            try:
                variant.stop()
            except Exception as error:  # noqa: BLE001  # stop the others, remove the trees
                print(f"{variant.text}: {error}", file=sys.stderr)
        for tree in (entry for entry in folder.iterdir() if entry.is_dir()):
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)
        shutil.rmtree(folder, ignore_errors=True)
    report(variants, args.rounds, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
