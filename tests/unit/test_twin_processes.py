"""The twin's processes: a zombie is not running, a pid file naming another program (its PID
reused after a crash) is not a running PostgreSQL, and a free port stays free for its server."""

import os
import subprocess
import sys
import time
from pathlib import Path

from local.twin import processes
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


def test_a_free_port_is_outside_the_range_outgoing_connections_take() -> None:
    # A port from that range could be taken by any client's connection before the server
    # binds it: CI once saw nginx fail with "Address already in use" so.
    ephemeral = processes.ephemeral_ports()
    ports = {processes.free_port() for _ in range(50)}
    assert not ports & set(ephemeral)
    assert len(ports) > 40  # drawn at random: parallel suites rarely pick the same one
