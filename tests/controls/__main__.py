"""`make test-controls`: each negative control of tests/controls/breakages.py, in sequence.

For each: copy the checkout's files (tracked and not ignored, as `git ls-files` lists them) to
a temporary folder, apply the breakage there, run the proving test there in a pytest process
of its own, and count the control as passed only if that test FAILED and its output matches
the control's `expect` (the failure names the claim, not some unrelated error). The real
checkout is never changed. Prints one row per control; exits 1 if any control did not fail
as expected.

    python -m tests.controls                 every control
    python -m tests.controls NAME ...        these
    python -m tests.controls --baseline ...  the proving tests without the breakage (must pass)
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.controls.breakages import CONTROLS, Control, Edit

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600


class StaleControl(Exception):
    """A breakage that no longer applies: its pattern matches nothing."""


@dataclass
class Result:
    control: Control
    failed_as_expected: bool
    seconds: float
    why: str
    output: str


def checkout_files(root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, capture_output=True).stdout.decode()
    return [name for name in listed.split("\0") if name]


def copy_checkout(root: Path, target: Path) -> None:
    for name in checkout_files(root):
        source = root / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted, not yet committed
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)


def apply(edit: Edit, root: Path) -> None:
    path = root / edit.path
    text = path.read_text()
    changed, count = re.subn(edit.pattern, edit.replacement, text, flags=re.MULTILINE)
    if count == 0:
        raise StaleControl(f"{edit.path}: no match for {edit.pattern!r}")
    path.write_text(changed)


def pytest_command(control: Control) -> list[str]:
    command = [sys.executable, "-m", "pytest", *control.tests, "-x", "-q", "-rfE",
               "-p", "no:cacheprovider", "--tb=short"]
    return command + (["-k", control.keyword] if control.keyword else [])


def summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def judge(control: Control, code: int, output: str, baseline: bool) -> tuple[bool, str]:
    summary = summary_line(output)
    if baseline:
        return code == 0, summary
    if code != 1 or " failed" not in summary:
        return False, f"exit code {code}, not a test failure: {summary}"
    if " error" in summary:
        return False, f"errors, not only failures: {summary}"
    if not re.search(control.expect, output):
        return False, f"failed, but the output does not match {control.expect!r}: {summary}"
    return True, summary


def run(control: Control, baseline: bool) -> Result:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"control-{control.name}-") as folder:
        copy = Path(folder)
        copy.chmod(0o755)  # the postgres system user reads db/init from here
        copy_checkout(ROOT, copy)
        try:
            if not baseline:
                for edit in control.edits:
                    apply(edit, copy)
        except StaleControl as stale:
            return Result(control, False, time.monotonic() - started, f"stale: {stale}", "")
        try:
            done = subprocess.run(pytest_command(control), cwd=copy, capture_output=True,
                                  text=True, timeout=TIMEOUT_S)
            code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as timeout:
            code, output = -1, f"timed out after {TIMEOUT_S} s: {timeout.stdout!r}"
    ok, why = judge(control, code, output, baseline)
    return Result(control, ok, time.monotonic() - started, why, output)


def table(results: list[Result], baseline: bool) -> str:
    heading = "passed unbroken" if baseline else "failed as expected"
    rows = [("control", "test", heading, "seconds")]
    for r in results:
        test = " ".join(t.replace("tests/", "", 1) for t in r.control.tests)
        test += f" -k '{r.control.keyword}'" if r.control.keyword else ""
        rows.append((r.control.name, test, "yes" if r.failed_as_expected else "NO",
                     f"{r.seconds:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.controls")
    parser.add_argument("names", nargs="*", help="controls to run (default: all)")
    parser.add_argument("--baseline", action="store_true",
                        help="run the proving tests without the breakages: they must pass")
    args = parser.parse_args()
    known = {control.name: control for control in CONTROLS}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown controls {unknown}; known: {sorted(known)}")
    chosen = [known[name] for name in args.names] if args.names else list(CONTROLS)
    results = []
    for control in chosen:
        print(f"--- {control.name}: {control.claim}", flush=True)
        result = run(control, args.baseline)
        results.append(result)
        print(f"    {'yes' if result.failed_as_expected else 'NO'} in {result.seconds:.0f} s: "
              f"{result.why}", flush=True)
        if not result.failed_as_expected:
            print("\n".join(result.output.splitlines()[-60:]), flush=True)
    print()
    print(table(results, args.baseline))
    total = sum(r.seconds for r in results)
    bad = [r.control.name for r in results if not r.failed_as_expected]
    print(f"\n{len(results) - len(bad)} of {len(results)} controls as expected in {total:.0f} s"
          + (f"; NOT: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
