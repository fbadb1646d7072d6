"""Starting, finding and stopping the twin's processes; only PIDs the twin recorded."""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import random
import signal
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# What a process of the twin inherits from the shell that started it; everything else comes
# from the env files compose gives that service, as in a container. OPENBLAS_*: some hosts
# need them for a correct numpy (see the README of the machine).
INHERITED = ("PATH", "HOME", "LANG", "TZ", "TMPDIR")
INHERITED_PREFIXES = ("LC_", "OPENBLAS_")


def base_environment() -> dict[str, str]:
    """The caller's environment without anything a container would not have: a test that
    put the owner's password in os.environ must not hand it to the api."""
    return {key: value for key, value in os.environ.items()
            if key in INHERITED or key.startswith(INHERITED_PREFIXES)}


class TwinError(RuntimeError):
    """Something the twin needs is missing or did not come up; the message says what to do."""


def ephemeral_ports() -> range:
    """The ports the kernel hands out to outgoing connections."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32_768, 60_999  # Linux's default
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range: a port asked of the
    kernel (bind to 0) comes from that range, and any outgoing connection (a client, a
    worker's database connection) could take it before the server binds it (CI saw nginx
    fail so: Address already in use)."""
    ephemeral = ephemeral_ports()
    candidates = (range(20_000, ephemeral.start) if ephemeral.start > 21_000
                  else range(ephemeral.stop, 65_536))
    for port in random.sample(candidates, min(500, len(candidates))):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise TwinError(f"no free loopback port in {candidates.start}-{candidates.stop - 1}")


def process_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, parent, ...; None where unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """The process runs. A zombie does not: killed, it answers signal 0 until its parent reaps
    it, and on a host whose init does not reap at once a crashed postmaster lingers so."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = process_stat(pid)
    return stat is None or stat[0] not in ("Z", "X")


def process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def processes_in(folder: Path) -> list[int]:
    """Running processes whose working folder is `folder` (a server's backends are so)."""
    target = str(folder.resolve())
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError):
            if os.readlink(entry / "cwd") == target and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not leave in time. Only PIDs we recorded."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, 5)


def kill_tree(root: int) -> None:
    """SIGKILL `root` and every descendant at once, as the OOM killer or a host crash would."""
    tree = process_tree(root)
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
    for member in tree:
        wait_gone(member, 10)


TICKS = os.sysconf("SC_CLK_TCK")  # /proc's CPU times count these per second


@dataclass(frozen=True)
class ProcessSample:
    """Every process on the machine at one moment: its parent and its CPU ticks (utime, stime,
    and its reaped children's cutime, cstime). `ProcessSample.now()` scans /proc once; the
    crash tests find a service's processes with it, the benchmarks its CPU time."""

    parent: dict[int, int]
    ticks: dict[int, int]

    @classmethod
    def now(cls) -> ProcessSample:
        parent, ticks = {}, {}
        for entry in Path("/proc").glob("[0-9]*"):
            pid = int(entry.name)
            stat = process_stat(pid)
            if stat is None:  # gone meanwhile
                continue
            parent[pid] = int(stat[1])
            ticks[pid] = sum(int(field) for field in stat[11:15])
        return cls(parent, ticks)

    @functools.cached_property
    def children(self) -> dict[int, list[int]]:
        """Each process's children, built once per sample (a benchmark walks it often)."""
        children: dict[int, list[int]] = {}
        for pid, parent in self.parent.items():
            children.setdefault(parent, []).append(pid)
        return children

    def tree(self, root: int) -> list[int]:
        """`root` first, then all its descendants (`root` even if it has just ended)."""
        tree, pending, seen = [], [root], {root}
        while pending:
            pid = pending.pop()
            tree.append(pid)
            # A parent map read while numbers are reused could loop: never walk a pid twice.
            fresh = [child for child in self.children.get(pid, []) if child not in seen]
            seen.update(fresh)
            pending.extend(fresh)
        return tree

    def trees(self, roots: list[int]) -> set[int]:
        """`roots` that run and all their descendants (a root that does not run has none
        worth counting: pid 0's children would be the whole machine)."""
        return {pid for root in roots if root in self.ticks for pid in self.tree(root)}

    def cpu_seconds(self, roots: list[int]) -> float:
        """CPU time of the process trees under `roots` at this moment."""
        return sum(self.ticks[pid] for pid in self.trees(roots)) / TICKS


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants now, `root` first."""
    return ProcessSample.now().tree(root)


def in_netns(netns: str | None) -> list[str]:
    """The prefix that runs a command inside a network namespace (the fault tests' hosts)."""
    return ["ip", "netns", "exec", netns] if netns else []


def wait_http(url: str, timeout: float, context: ssl.SSLContext | None = None,
              host: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    headers = {"Host": host} if host else {}
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except OSError as error:
            last = str(error)
        time.sleep(0.1)
    raise TwinError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")


def make_traversable(path: Path) -> None:
    """As root, servers run as other users (postgres, nginx's workers): let them reach `path`."""
    if os.geteuid() != 0:
        return
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o001 == 0:
            folder.chmod(mode | 0o711)


def as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: then run them as the postgres system user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise TwinError("running as root needs a 'postgres' system user for the server") from None
    return ["runuser", "-u", "postgres", "--"]
