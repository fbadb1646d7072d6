"""Where /predict's time goes: the bench's twin under wrk load, one worker sampled by py-spy
and the whole machine's CPU split by process (from /proc). `make profile` runs it.

Writes bench/results/profile-*.txt (py-spy's hottest frames) next to the benchmark results.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import bench_stack, measure  # noqa: E402
from local.twin import ProcessSample, TwinError  # noqa: E402

NATIVE: list[str] = []


def py_spy() -> str:
    # A PyPI tool (requirements-dev.txt), installed next to this interpreter.
    sampler = Path(sys.executable).with_name("py-spy")
    if not sampler.exists():
        raise TwinError(f"{sampler} not found: make venv installs requirements-dev.txt")
    return str(sampler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--path", default="/predict")
    parser.add_argument("--mode", default="predict", choices=("predict", "get"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--native", action="store_true", help="C frames too (slower)")
    args = parser.parse_args()
    if args.native:
        NATIVE.append("--native")

    state_dir = Path(tempfile.mkdtemp(prefix="social-ads-profile-"))
    state_dir.chmod(0o755)
    stack = bench_stack(state_dir)
    try:
        stack.up()
        worker = ProcessSample.now().children[stack.api.pids()[0]][0]  # a worker
        raw = state_dir / "py-spy.txt"
        sampler = threading.Thread(target=subprocess.run, args=([
            py_spy(), "record", "--pid", str(worker), "--duration", str(args.seconds - 2),
            "--rate", "250", "--format", "raw", *NATIVE, "--output", str(raw), "--nonblocking"],),
            kwargs={"check": True, "capture_output": True})
        # Sampled from the measured load's start (after measure's warm-up), ending 2 s before it.
        result = measure(stack, args.path, args.path, args.mode, args.seconds,
                         on_load=sampler.start)
        sampler.join()
        for service, ms in result.cpu_ms_by_service.items():
            print(f"  {service:8} {ms:.3f} ms CPU per request")
        args.out.mkdir(parents=True, exist_ok=True)
        name = args.path.strip("/").replace("/", "-") or "root"
        summary = args.out / f"profile-{name}.txt"
        summary.write_text(summarise(read_folded(raw)))
        shutil.copy(raw, args.out / f"profile-{name}.folded")
        print(f"  hottest frames: {summary}")
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


def read_folded(path: Path) -> str:
    """py-spy's folded stacks. Their bytes need not be UTF-8 (seen in issue 19's ninth sitting,
    probably a frame's name read while it changed: --nonblocking samples without pausing the
    worker), so such bytes are replaced rather than fail the whole report."""
    return path.read_text(encoding="utf-8", errors="replace")


def summarise(folded: str, top: int = 40) -> str:
    """Self and total share of each function from py-spy's folded stacks."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in folded.splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    lines = [f"{samples} samples (idle included)", "", "self %  function"]
    lines += [f"{100 * n / samples:5.1f}  {f}" for f, n in
              sorted(own.items(), key=lambda kv: -kv[1])[:top]]
    lines += ["", "total %  function"]
    lines += [f"{100 * n / samples:5.1f}  {f}" for f, n in
              sorted(total.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
