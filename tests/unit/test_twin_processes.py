"""The twin's processes: a zombie is not running, a pid file naming another program (its PID
reused after a crash) is not a running PostgreSQL, a free port stays free for its server, and a
process tree (the crash tests' and the benchmarks' view of a service) holds its grandchildren
and counts their CPU."""

import os
import subprocess
import sys
import time
from pathlib import Path

from local.twin import processes
from local.twin.db import Postgres
from local.twin.processes import ProcessSample, pid_alive, process_stat, process_tree


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


# A child that starts a grandchild which uses 0.5 s of CPU and ends, prints the grandchild's
# pid, reaps it, says so, and waits for its stdin to close.
CHILD_OF_A_SPINNING_GRANDCHILD = (
    "import subprocess, sys\n"
    "spin = subprocess.Popen([sys.executable, '-c', 'import time\\n'\n"
    "    'while time.process_time() < 0.5: pass'])\n"
    "print(spin.pid, flush=True)\n"
    "spin.wait()\n"
    "print('reaped', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_a_process_tree_holds_grandchildren_and_counts_their_cpu_after_they_end() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD_OF_A_SPINNING_GRANDCHILD],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        grandchild = int(child.stdout.readline())
        before = ProcessSample.now()
        tree = process_tree(child.pid)
        assert tree[0] == child.pid and grandchild in tree and os.getpid() not in tree
        assert before.trees([child.pid]) == {child.pid, grandchild}
        assert child.stdout.readline() == "reaped\n"
        after = ProcessSample.now()
        assert after.trees([child.pid]) == {child.pid}
        # The grandchild's CPU stays with its parent once reaped (cutime): nearly 0.5 s of it
        # came after the first sample (ticks are 10 ms).
        used = after.cpu_seconds([child.pid]) - before.cpu_seconds([child.pid])
        assert 0.2 <= used <= 1.0
    finally:
        child.stdin.close()
        child.wait()
    # A root that does not run counts nothing, not its former children nor pid 0's (the machine).
    gone = ProcessSample.now()
    message = "a root that does not run counted itself or its former children"
    assert gone.trees([child.pid]) == set(), message
    assert gone.trees([0]) == set(), message
    assert gone.cpu_seconds([child.pid, 0]) == 0
