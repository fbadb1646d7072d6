"""The `api` service: N replicas of the api image's CMD (gunicorn -c gunicorn.conf.py), each
with only the app role's credentials, each on an address of its own as compose's replicas
are; nginx lists them all as peers of its upstream, as `resolve` lists compose's."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from local.twin import compose
from local.twin.migrate import code_path, venv_path
from local.twin.processes import (
    TwinError,
    base_environment,
    free_port,
    in_netns,
    kill_tree,
    read_pid,
    stop_pid,
    wait_http,
)


@dataclass
class Api:
    state_dir: Path
    port: int
    env: dict[str, str]
    netns: str | None = None
    replicas: int = 1
    bind_host: str = "127.0.0.1"
    # The image's /app: the API's code (a test points it at a changed copy).
    api_dir: Path = compose.ROOT / "api"

    def pid_file(self, replica: int) -> Path:
        return self.state_dir / f"api-{replica}.pid"

    def log_file(self, replica: int = 1) -> Path:
        return self.state_dir / f"api-{replica}.log"

    def pid(self, replica: int = 1) -> int | None:
        return read_pid(self.pid_file(replica))

    def pids(self) -> list[int]:
        return [pid for r in range(1, self.replicas + 1) if (pid := self.pid(r)) is not None]

    def replica_port(self, replica: int) -> int:
        """Replica 1 listens on `port` (API_PORT); the others on free ports, kept across
        restarts so nginx's configuration stays right."""
        if replica == 1:
            return self.port
        path = self.state_dir / f"api-{replica}.port"
        if not path.exists():
            path.write_text(str(free_port()))
        return int(path.read_text())

    def ports(self) -> list[int]:
        return [self.replica_port(r) for r in range(1, self.replicas + 1)]

    def start(self, timeout: float = 60, wait: bool = True) -> None:
        for replica in range(1, self.replicas + 1):
            if self.pid(replica) is None:
                self._spawn(replica)
        if wait:
            for replica in range(1, self.replicas + 1):
                self.wait_ready(replica, timeout)

    def _spawn(self, replica: int) -> None:
        bind = f"{self.bind_host}:{self.replica_port(replica)}"
        with self.log_file(replica).open("ab") as log:
            process = subprocess.Popen(
                [*in_netns(self.netns), *compose.command("api")],
                env={**base_environment(), **self.env, "API_BIND": bind, "PATH": venv_path(),
                     **code_path(self.api_dir),
                     # compose: /tmp/prometheus in each replica's own tmpfs.
                     "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir(replica))},
                cwd=self.api_dir, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file(replica).write_text(str(process.pid))

    def metrics_dir(self, replica: int) -> Path:
        return self.state_dir / f"prometheus-{replica}"

    def wait_ready(self, replica: int, timeout: float) -> None:
        if self.netns:  # the fault tests probe from inside the namespace themselves
            return
        try:
            wait_http(f"http://127.0.0.1:{self.replica_port(replica)}/readyz", timeout)
        except TwinError as error:
            raise TwinError(f"{error}\n--- {self.log_file(replica)} ---\n"
                            f"{self.tail_log(replica)}") from None

    def tail_log(self, replica: int = 1, lines: int = 30) -> str:
        text = self.log_file(replica).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, replica: int) -> None:
        """SIGKILL one replica's master and workers at once (a crashed container)."""
        pid = self.pid(replica)
        if pid is not None:
            kill_tree(pid)

    def recorded_replicas(self) -> list[int]:
        """Every replica with a pid file, however many `up --scale-api` started."""
        return sorted(int(path.stem.split("-")[1]) for path in self.state_dir.glob("api-*.pid"))

    def stop(self) -> None:
        for replica in self.recorded_replicas():
            pid = self.pid(replica)
            if pid is not None:
                stop_pid(pid, timeout=25)
            self.pid_file(replica).unlink(missing_ok=True)
