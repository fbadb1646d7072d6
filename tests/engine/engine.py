"""The engine tier's own Docker engine: Debian's dockerd, started by the tier and by nothing
else, with a runtime folder of its own (exec root, pidfile, socket, client config) and a data
root in the tier's cache, with no iptables rules, no forwarding, no masquerading and no default
bridge. The system's engine and the default socket are never touched: every command gets
DOCKER_HOST pointing at this socket.

Forwarding is checked before and after every step (`assert_no_forwarding`): the tier fails
loudly the moment net.ipv4.ip_forward is not 0. `stop` removes every container, network and
volume, ends the daemon by its PID, then removes any mount, interface or process left and the
runtime folder, also after a failure. The data root keeps only images (the stand-ins and the
build cache of the project's images, so a second run rebuilds only what changed; emptied past
DATA_ROOT_LIMIT_MB); one run at a time uses it (a lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from local.twin.processes import wait_gone

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
DOCKERD = "/usr/sbin/dockerd"
# The docker.io package's client (the same major version as the daemon), whatever else is on
# PATH; the Makefile's `docker compose` finds it first through the runtime folder's bin/.
DOCKER = "/usr/bin/docker"
# Runtime folders are short paths: containerd's sockets live under the exec root, and a Unix
# socket path has at most 107 bytes.
RUNTIME_PREFIX = "sa-engine-"
# Networks the engine picks itself (the `front` network) come from the range reserved for
# tests (DEVELOPERS.md); the db network's subnet is pinned in docker-compose.yml.
ADDRESS_POOL = "base=198.18.0.0/16,size=24"
DATA_ROOT_LIMIT_MB = 8000
DAEMON_FLAGS = (
    "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
    "--bridge=none", f"--default-address-pool={ADDRESS_POOL}", "--log-level=warn",
)


class ForwardingOn(RuntimeError):
    """net.ipv4.ip_forward is not 0: the machine could route between networks."""


class EngineError(RuntimeError):
    pass


def assert_no_forwarding(step: str) -> None:
    value = IP_FORWARD.read_text().strip()
    if value != "0":
        raise ForwardingOn(
            f"net.ipv4.ip_forward is {value} {step}: this machine now forwards packets between "
            "networks. The engine tier never enables it; stop whatever did, and set it back "
            "with `sysctl -w net.ipv4.ip_forward=0`.")


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """A step of the tier, with forwarding checked before and after it."""
    assert_no_forwarding(f"before {name}")
    try:
        yield
    finally:
        assert_no_forwarding(f"after {name}")


def links() -> set[str]:
    out = subprocess.run(["ip", "-json", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def is_dockerd(pid: int, data_root: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (bool(cmdline) and cmdline[0].endswith(b"dockerd")
            and f"--data-root={data_root}".encode() in cmdline)


@dataclass
class Engine:
    root: Path  # the runtime folder, removed at the end
    data_root: Path  # images only, kept between runs
    plugins: Path  # a folder holding the docker-compose CLI plugin
    process: subprocess.Popen[bytes] | None = None
    lock: int | None = None
    # The bridges of the networks this engine made: br- and the network id's first 12 digits.
    bridges: set[str] = field(default_factory=set)

    @classmethod
    def create(cls, data_root: Path, plugins: Path) -> Engine:
        root = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX, dir="/tmp"))
        return cls(root=root, data_root=data_root, plugins=plugins)

    # --- where things are --------------------------------------------------------------------

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def pidfile(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def env(self) -> dict[str, str]:
        """What every docker and make command of the tier runs with."""
        env = dict(os.environ)
        env.update({
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.root / "config"),
            # BuildKit wants the default bridge, which is off: the classic builder.
            "DOCKER_BUILDKIT": "0",
            "COMPOSE_BAKE": "false",
            "PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}",
        })
        env.pop("DOCKER_CONTEXT", None)
        return env

    # --- lifecycle ---------------------------------------------------------------------------

    def take_lock(self) -> None:
        if self.lock is not None:
            return
        self.data_root.parent.mkdir(parents=True, exist_ok=True)
        self.lock = os.open(self.data_root.parent / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise EngineError(f"another engine tier run uses {self.data_root}") from error

    def start(self, timeout: float = 90) -> None:
        """Starts the daemon; a data root it cannot start with (a run killed at a bad moment)
        is emptied and the start tried once more. Engines a killed run left on this data root
        are ended first (the lock says no other run uses it)."""
        self.take_lock()
        for stale in stop_stale_engines(self.data_root, self.plugins, exclude=self.root):
            print(f"ended an engine a killed run left: {stale}", flush=True)
        # Images are kept, build stages too (their leaves are untagged: a prune would drop
        # the build cache); past a bound the data root starts again empty.
        if disk_use_mb(self.data_root) > DATA_ROOT_LIMIT_MB:
            print(f"{self.data_root} is past {DATA_ROOT_LIMIT_MB} MB: emptied", flush=True)
            shutil.rmtree(self.data_root, ignore_errors=True)
        try:
            self._start(timeout)
        except EngineError as error:
            print(f"{error}\nstarting again with an empty data root", flush=True)
            self.stop()
            self.take_lock()
            shutil.rmtree(self.data_root, ignore_errors=True)
            self._start(timeout)

    def _start(self, timeout: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with step("starting the engine"):
            for binary in (DOCKERD, DOCKER, "/usr/bin/containerd", "/usr/sbin/runc"):
                if not Path(binary).exists():
                    raise EngineError(f"{binary} is missing: `python3 "
                                      "scripts/ensure_system_packages.py engine` installs it")
            (self.root / "config" / "cli-plugins").mkdir(parents=True, exist_ok=True)
            plugin = self.root / "config" / "cli-plugins" / "docker-compose"
            if not plugin.is_symlink():
                plugin.symlink_to(self.plugins / "docker-compose")
            self.bin_dir.mkdir(exist_ok=True)
            if not (self.bin_dir / "docker").is_symlink():
                (self.bin_dir / "docker").symlink_to(DOCKER)
            command = [DOCKERD, *DAEMON_FLAGS, f"--data-root={self.data_root}",
                       f"--exec-root={self.exec_root}", f"--pidfile={self.pidfile}",
                       f"--host=unix://{self.socket}"]
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise EngineError(f"dockerd exited ({self.process.returncode}):\n"
                                      + self.log.read_text()[-3000:])
                probe = subprocess.run([DOCKER, "version", "--format", "{{.Server.Version}}"],
                                       env=self.env(), capture_output=True, text=True,
                                       check=False)
                if probe.returncode == 0:
                    return
                time.sleep(0.5)
            raise EngineError(f"dockerd did not answer within {timeout:.0f} s:\n"
                              + self.log.read_text()[-3000:])

    def run(self, *args: str, cwd: Path | None = None, check: bool = True,
            timeout: float = 600, input_text: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A command against this engine (docker, make, a script), forwarding checked around
        it. `check`: a non-zero exit raises, with the command's output."""
        with step(" ".join(args[:4])):
            result = subprocess.run(list(args), cwd=cwd, env={**self.env(), **(env or {})},
                                    capture_output=True, text=True, timeout=timeout,
                                    input=input_text, check=False)
        if check and result.returncode != 0:
            raise EngineError(f"{' '.join(args)} exited {result.returncode}\n"
                              f"--- stdout\n{result.stdout[-6000:]}\n"
                              f"--- stderr\n{result.stderr[-6000:]}")
        return result

    def docker(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run(DOCKER, *args, **kwargs)  # type: ignore[arg-type]

    @property
    def pid(self) -> int | None:
        """The daemon's PID while it runs: the one this object started, or (a run that was
        killed) the one in its pidfile, if that process is still this engine's dockerd."""
        if self.process is not None:
            return self.process.pid if self.process.poll() is None else None
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text().strip())
            if is_dockerd(pid, self.data_root):
                return pid
        return None

    def stop(self) -> list[str]:
        """Removes everything this engine made and ends it by its PID; returns what it had to
        force (empty when all went cleanly)."""
        forced: list[str] = []
        with step("stopping the engine"):
            pid = self.pid
            if pid is not None:
                self._remove_objects(forced)
                self._end_daemon(pid, forced)
            self._remove_leftovers(forced)
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None
        return forced

    def _remove_objects(self, forced: list[str]) -> None:
        def ids(*args: str) -> list[str]:
            result = self.run(DOCKER, *args, check=False, timeout=60)
            return result.stdout.split() if result.returncode == 0 else []

        containers = ids("ps", "-aq")
        if containers:
            self.run(DOCKER, "rm", "-f", "-v", *containers, check=False, timeout=120)
        networks = ids("network", "ls", "-q", "--no-trunc", "--filter", "type=custom")
        self.bridges |= {f"br-{network[:12]}" for network in networks}
        if networks:
            self.run(DOCKER, "network", "rm", *networks, check=False, timeout=60)
        volumes = ids("volume", "ls", "-q")
        if volumes:
            self.run(DOCKER, "volume", "rm", "-f", *volumes, check=False, timeout=60)
        if ids("ps", "-aq") or ids("network", "ls", "-q", "--filter", "type=custom"):
            forced.append("containers or networks left after removal")

    def _end_daemon(self, pid: int, forced: list[str]) -> None:
        # The twin's process helpers: a zombie counts as gone, our own child is reaped. Killed
        # only while the PID is still this engine's dockerd (never a process given it after).
        os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, 60) and is_dockerd(pid, self.data_root):
            forced.append(f"dockerd {pid} killed after 60 s")
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 30)
        if self.process is not None:
            self.process.poll()  # wait_gone reaped it: let Popen know it ended
        # dockerd's own containerd and shims are in its session: none may outlive it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, 0)
            forced.append(f"processes of dockerd's session {pid} outlived it")
            os.killpg(pid, signal.SIGKILL)

    def _remove_leftovers(self, forced: list[str]) -> None:
        # containerd and its shims name the runtime folder on their command lines.
        for pid in processes_naming(self.root) + processes_naming(self.data_root):
            forced.append(f"process {pid} of this engine killed")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for mount in reversed(mounts_under(self.root) + mounts_under(self.data_root)):
            forced.append(f"unmounted {mount}")
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        for link in sorted(links() & self.bridges):
            forced.append(f"removed interface {link}")
            subprocess.run(["ip", "link", "del", link], check=False, capture_output=True)
        if not mounts_under(self.root):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            forced.append(f"{self.root} kept: mounts remain under it")


def disk_use_mb(path: Path) -> float:
    result = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True,
                            check=False)
    return float(result.stdout.split()[0]) if result.returncode == 0 and result.stdout else 0.0


def processes_naming(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if str(root).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def mounts_under(root: Path) -> list[str]:
    prefix = f"{root}/"
    lines = Path("/proc/self/mounts").read_text().splitlines()
    return [line.split()[1] for line in lines
            if line.split()[1].startswith(prefix) or line.split()[1] == str(root)]


def stop_stale_engines(data_root: Path, plugins: Path, exclude: Path,
                       tmp: Path = Path("/tmp")) -> list[str]:
    """Runtime folders a killed run left: one whose pidfile names a dockerd on this data root
    is emptied and ended by that PID like any other; one that no process names any more is
    removed. Others (another data root's live run) are left alone."""
    found: list[str] = []
    for root in sorted(tmp.glob(f"{RUNTIME_PREFIX}*")):
        if root == exclude:
            continue
        engine = Engine(root=root, data_root=data_root, plugins=plugins)
        if engine.pid is not None:
            found.append(f"{root} (dockerd {engine.pid})")
            engine.stop()
        elif not processes_naming(root) and not mounts_under(root):
            found.append(f"{root} (no process)")
            shutil.rmtree(root, ignore_errors=True)
    return found
