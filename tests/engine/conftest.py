"""The engine tier's fixtures: its own Docker engine with the stand-in base images, and the
project (a copy of this working tree) run on it with the Makefile and docker compose, as the
README's Docker path does. `make test-engine` runs this folder; `make test` does not.

Safety: forwarding is checked before and after every test and every command (engine.step);
traffic goes to 127.0.0.1 (nginx's published ports) and to the containers' own addresses on
bridges this engine made (checked with `ip route get` before any packet is sent). Everything
is removed at the end, after a failure or a SIGTERM too.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.engine import standins
from tests.engine.engine import Engine, EngineError, assert_no_forwarding, disk_use_mb, step

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
TIMINGS: dict[str, float] = {}
# Per container: its memory peak and its mem_limit in MiB (the burst test), quoted in the
# summary and written to artifacts/engine-memory.json.
MEMORY: dict[str, dict[str, float | str]] = {}
# nginx's 80 and 443; Prometheus's 9090 on the loopback address (`--profile monitoring`).
PUBLISHED_PORTS = (80, 443, 9090)


@dataclass
class Stack:
    """The compose project on the tier's engine, run from a copy of the working tree."""

    engine: Engine
    project: Path
    record: Path = field(init=False)

    def __post_init__(self) -> None:
        self.record = self.project / "smoke-record.json"

    def run(self, *command: str, check: bool = True, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.engine.run(*command, cwd=self.project, check=check, timeout=timeout,
                               env=env)

    def compose(self, *args: str, check: bool = True,
                timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run("docker", "compose", *args, check=check, timeout=timeout)

    def env_file(self, name: str) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in (self.project / name).read_text().splitlines()
                 if "=" in line and not line.lstrip().startswith("#"))
        return {key.strip(): value.strip() for key, value in pairs}

    def containers(self, service: str) -> list[dict[str, Any]]:
        ids = self.compose("ps", "-q", service).stdout.split()
        if not ids:
            return []
        found: list[dict[str, Any]] = json.loads(self.engine.docker("inspect", *ids).stdout)
        return found

    def smoke(self, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """scripts/smoke.py, as the GitHub workflow runs it."""
        token = self.env_file(".env_api")["API_TOKEN"]
        return self.run(sys.executable, "scripts/smoke.py", command, "--record",
                        str(self.record), *extra, check=False, timeout=300,
                        env={"API_TOKEN": token})


def copy_working_tree(target: Path) -> None:
    """The tracked and the new (not ignored) files: what a clone of this change would hold,
    never the developer's .env files, virtualenvs or caches."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def timed(name: str, started: float) -> None:
    TIMINGS[name] = round(time.monotonic() - started, 1)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The tier's engine with the stand-in images: prepared (from the cache when it is
    there), started, and at the end emptied and ended by its PID, whatever happened."""
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    started = time.monotonic()
    with step("preparing the engine tier"):
        for port in PUBLISHED_PORTS:
            if port_in_use(port):
                raise EngineError(f"port {port} is in use on this machine: compose publishes "
                                  "nginx (80:8080, 443:8443) and Prometheus (127.0.0.1:9090) "
                                  "there; stop what listens on it")
        plugin, tarballs, wheels = standins.prepare_files()
        timed("prepare (compose, root filesystems, wheelhouse)", started)
    tier = Engine.create(standins.CACHE / "data-root", plugin)
    try:
        begun = time.monotonic()
        tier.start()
        timed("engine start", begun)
        begun = time.monotonic()
        built = standins.build_images(tier.docker, tarballs, wheels)
        TIMINGS["stand-ins built (not cached)"] = len(built)
        timed("stand-in images", begun)
        yield tier
    finally:
        begun = time.monotonic()
        forced = tier.stop()
        timed("engine removal", begun)
        TIMINGS["data root kept (MB)"] = disk_use_mb(tier.data_root)
        signal.signal(signal.SIGTERM, previous)
        assert_no_forwarding("after the engine tier")
        if forced:
            print(f"engine removal had to force: {forced}", file=sys.stderr)


@pytest.fixture(scope="session")
def stack(engine: Engine) -> Iterator[Stack]:
    project = engine.root / "project"
    copy_working_tree(project)
    deployed = Stack(engine, project)
    try:
        yield deployed
    finally:
        logs = deployed.compose("--profile", "monitoring", "logs", "--no-color", "--timestamps",
                                check=False, timeout=120)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "engine-compose.log").write_text(logs.stdout + logs.stderr)
        # With the profile: Prometheus too, when a test left it running.
        deployed.compose("--profile", "monitoring", "down", "--volumes", "--remove-orphans",
                         check=False, timeout=300)


@pytest.fixture(autouse=True)
def no_forwarding(request: pytest.FixtureRequest) -> Iterator[None]:
    """Forwarding checked before and after every test."""
    with step(request.node.name):
        yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.write_line("engine tier: " + ", ".join(
            f"{name} {value}" for name, value in TIMINGS.items()))
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "engine-tier-timings.json").write_text(json.dumps(TIMINGS, indent=2))
    if MEMORY:
        terminalreporter.write_line("engine tier memory, peak / mem_limit (MiB): " + ", ".join(
            f"{name} {use['peak']} / {use['limit']:.0f}" for name, use in MEMORY.items()))
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "engine-memory.json").write_text(json.dumps(MEMORY, indent=2))
