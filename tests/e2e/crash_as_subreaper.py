"""Run by tests/e2e/test_twin_restart.py in a process of its own:

    python -m tests.e2e.crash_as_subreaper

Becomes the child subreaper (prctl), so the postmaster that pg_ctl leaves behind is its child,
starts the twin as `make local` does, SIGKILLs PostgreSQL (postmaster and backends) and does
not reap it: the postmaster stays a zombie, as on a host whose init does not reap at once.
Then it runs the twin's `up` again and prints, as one JSON line, what it saw and how long
`up` took. A process of its own, because a subreaper collects every orphan of the session.
"""

import contextlib
import ctypes
import json
import os
import signal
import time
from pathlib import Path

from local.twin.processes import process_tree
from tests.support.servers import running_twin

PR_SET_CHILD_SUBREAPER = 36


def process_state(pid: int) -> str:
    """The state letter in /proc/PID/stat ("Z" for a zombie), "gone" without the process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def kill_without_reaping(root: int) -> list[str]:
    """SIGKILL the postmaster and every backend at once; wait until none runs, reap none."""
    tree = process_tree(root)
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = [process_state(member) for member in tree]
        if all(state in ("Z", "gone") for state in states):
            break
        time.sleep(0.02)
    return states


def main() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    with running_twin("restart", LOG_LEVEL="warning") as stack:
        postmaster = stack.postgres.pid()
        assert postmaster is not None
        parent = int(Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()[1])
        states = kill_without_reaping(postmaster)
        zombie = process_state(postmaster)
        os.kill(postmaster, 0)  # the old probe: a zombie still "answers" signal 0
        started = time.monotonic()
        stack.up()
        seconds = time.monotonic() - started
        print(json.dumps({
            "postmaster": postmaster, "our_child": parent == os.getpid(),
            "state_after_kill": zombie, "killed": len(states), "up_seconds": round(seconds, 2),
            "new_postmaster": stack.postgres.pid(),
            "answers": stack.postgres.psql("SELECT 1"),
        }))


if __name__ == "__main__":
    main()
