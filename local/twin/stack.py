"""The whole twin in compose's start order: db healthy -> migrate exits 0 -> api -> nginx."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from local.twin.api import Api
from local.twin.compose import all_env_files, ensure_env_files, read_env_file, service_env
from local.twin.db import Postgres
from local.twin.migrate import Migrate
from local.twin.nginx import Nginx
from local.twin.processes import free_port


@dataclass
class Ports:
    http: int = 8080
    https: int = 8443
    api: int = 8000
    postgres: int = 55432

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            http=int(os.environ.get("HTTP_PORT", 8080)),
            https=int(os.environ.get("HTTPS_PORT", 8443)),
            api=int(os.environ.get("API_PORT", 8000)),
            postgres=int(os.environ.get("LOCAL_POSTGRES_PORT", 55432)),
        )

    @classmethod
    def free(cls) -> Ports:
        return cls(http=free_port(), https=free_port(), api=free_port(), postgres=free_port())


class Stack:
    def __init__(self, state_dir: Path, env_dir: Path, ports: Ports,
                 extra_env: dict[str, str] | None = None, api_replicas: int = 1) -> None:
        self.state_dir = state_dir.resolve()
        self.env_dir = env_dir
        self.ports = ports
        # What differs from compose: addresses. Names and everything else are the same.
        self.overrides = {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(ports.postgres),
            "API_BIND": f"127.0.0.1:{ports.api}",
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            **(extra_env or {}),
        }
        self.postgres = Postgres(self.state_dir, ports.postgres, self.service_env("db"))
        self.migrate = Migrate(self.state_dir, self.service_env("migrate"))
        self.api = Api(self.state_dir, ports.api, self.service_env("api"),
                       replicas=api_replicas)
        self.nginx = Nginx(self.state_dir, ports.http, ports.https, ports.api)

    def service_env(self, name: str) -> dict[str, str]:
        """The environment compose gives service `name`, pointed at the twin's addresses."""
        overrides = {} if name == "db" else self.overrides
        return service_env(name, self.env_dir, overrides)

    @property
    def env(self) -> dict[str, str]:
        """Every value of every env file: what tests look for where it must not be."""
        ensure_env_files(self.env_dir)
        merged: dict[str, str] = {}
        for file in all_env_files():
            merged.update(read_env_file(self.env_dir / file))
        return merged

    def up(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.migrate.run()
        self.api.start()
        self.nginx.api_ports = self.api.ports()
        self.nginx.start()

    def down(self) -> None:
        self.nginx.stop()
        self.api.stop()
        self.postgres.stop()

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.ports.https}"

    @property
    def http_url(self) -> str:
        return f"http://localhost:{self.ports.http}"
