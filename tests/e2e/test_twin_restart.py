"""`make local` after a crash: PostgreSQL SIGKILLed (postmaster and backends) and its
postmaster left a zombie, as on a host whose init does not reap at once. The twin's `up` must
see that nothing runs, clear the stale postmaster.pid and bring the stack back."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_up_restarts_postgres_killed_and_left_a_zombie() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.e2e.crash_as_subreaper"], cwd=ROOT,
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nPostgreSQL SIGKILLed ({seen['killed']} processes), postmaster left a zombie; "
          f"`up` had the stack answering again in {seen['up_seconds']} s")
    assert seen["our_child"], "the postmaster was not the helper's child: no zombie shown"
    assert seen["state_after_kill"] == "Z"
    assert seen["new_postmaster"] not in (None, seen["postmaster"])
    assert seen["answers"] == "1"
