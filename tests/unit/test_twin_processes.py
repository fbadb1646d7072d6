"""How the twin tells a running server from a crashed one: a zombie is not running, and a
pid file naming another program (its PID reused after a crash) is not a running PostgreSQL."""

import os
import subprocess
import sys
import time
from pathlib import Path

from local.twin.db import Postgres
from local.twin.processes import pid_alive, process_stat


def test_a_zombie_is_not_running() -> None:
    # Not waited on: once it exits it stays a zombie, as a killed postmaster does whose
    # parent does not reap it.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while (process_stat(child.pid) or ["?"])[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (process_stat(child.pid) or ["?"])[0] == "Z"
    os.kill(child.pid, 0)  # signal 0 still reaches it: the probe alone would say "running"
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid)


def test_a_running_process_is_running() -> None:
    assert pid_alive(os.getpid())


def test_a_pid_file_naming_another_program_is_stale(tmp_path: Path) -> None:
    server = Postgres(tmp_path, 5432, {}, bin_dir=Path("/nonexistent"))
    server.data_dir.mkdir()
    server.pid_file.write_text(f"{os.getpid()}\n{server.data_dir}\n")  # this python, alive
    assert server.pid() is None
    server.remove_stale_lock_files()
    assert not server.pid_file.exists()
