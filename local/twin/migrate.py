"""The one-shot `migrate` service: the compose service's command (migrate, seed, train the first
version), with the owner's credentials; it must exit 0 before any api instance starts."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from local.twin import compose
from local.twin.processes import TwinError, base_environment, in_netns


def venv_path() -> str:
    """PATH with the running virtualenv first: it provides python, gunicorn and the app."""
    return f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"


def code_path(api_dir: Path) -> dict[str, str]:
    """The API's code from `api_dir` when it is not the checkout the virtualenv installed (a
    changed copy): first on the path, before the installed package."""
    return {} if api_dir == compose.ROOT / "api" else {"PYTHONPATH": str(api_dir)}


@dataclass
class Migrate:
    state_dir: Path
    env: dict[str, str]
    netns: str | None = None
    # The image's /app: the API's code (a test points it at a changed copy).
    api_dir: Path = compose.ROOT / "api"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "migrate.log"

    def operator(self, *command: str, capture: bool = False,
                 timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """An operator command (`python -m app versions`, ...) with this service's environment,
        as `docker compose run --rm migrate ...` runs it; never raises on its exit code."""
        return subprocess.run(
            [*in_netns(self.netns), *command],
            env={**base_environment(), **self.env, "PATH": venv_path(),
                 **code_path(self.api_dir)},
            cwd=self.api_dir, capture_output=capture, text=True, timeout=timeout,
            check=False,
        )

    def run(self, timeout: float = 120) -> None:
        with self.log_file.open("ab") as log:
            result = subprocess.run(
                [*in_netns(self.netns), *compose.command("migrate")],
                env={**base_environment(), **self.env, "PATH": venv_path(),
                     **code_path(self.api_dir)},
                cwd=self.api_dir,
                stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False,
            )
        if result.returncode != 0:
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
            raise TwinError(f"migrate exited {result.returncode}:\n{tail}")
