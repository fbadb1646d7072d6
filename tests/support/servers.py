"""Real servers started by the suite: a PostgreSQL server (`Database`) and the whole local twin
(`running_twin`), each in a temporary folder, on free loopback ports, with the same code
`make local` uses (the local.twin package)."""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine

from app.core.settings import Settings
from local.twin import Ports, Postgres, Stack, free_port, service_env
from tests.support.paths import ARTIFACTS


def make_state_dir(prefix: str) -> Path:
    # Not pytest's tmp_path: that lives under a 0700 folder the postgres user cannot enter.
    path = Path(tempfile.mkdtemp(prefix=f"social-ads-{prefix}-"))
    path.chmod(0o755)
    return path


class Database:
    """A real PostgreSQL server plus the environment the migrate service would reach it with
    (`env`: the owner's and the app role's credentials, as the operator commands get them)
    and the api service's (`api_env`: the app role's and the API's token)."""

    def __init__(self, prefix: str) -> None:
        self.state_dir = make_state_dir(prefix)
        port = free_port()
        addresses = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(port),
                     "DB_CONNECT_TIMEOUT_S": "2", "DB_STATEMENT_TIMEOUT_MS": "2000"}
        self.env = service_env("migrate", self.state_dir, addresses)
        self.api_env = service_env("api", self.state_dir, addresses)
        self.server = Postgres(self.state_dir, port, service_env("db", self.state_dir, {}))

    def settings(self, database: str | None = None) -> Settings:
        """Both services' settings in one: the tests act as operator and as client."""
        env = {**self.api_env, **self.env, **({"POSTGRES_DB": database} if database else {})}
        return Settings.model_validate({key.lower(): value for key, value in env.items()})

    def owner_engine(self) -> Engine:
        return create_engine(self.settings().database_url(as_owner=True))

    def close(self) -> None:
        self.server.stop("immediate")
        shutil.rmtree(self.state_dir, ignore_errors=True)


@contextmanager
def running_twin(name: str, limits: dict[str, str] | None = None, api_replicas: int = 1,
                 **extra_env: str) -> Iterator[Stack]:
    """The whole local twin, as `make local` starts it, on free ports; `limits` overrides
    values of nginx/limits.env. Its logs are kept in artifacts/logs/ afterwards."""
    state_dir = make_state_dir(name)
    twin = Stack(state_dir, state_dir, Ports.free(),
                 extra_env={"DB_CONNECT_TIMEOUT_S": "2", "DB_STATEMENT_TIMEOUT_MS": "2000",
                            **extra_env}, api_replicas=api_replicas)
    twin.nginx.limits.update(limits or {})
    try:
        twin.up()
        yield twin
    finally:
        twin.down()
        logs = ["postgres.log", "migrate.log", "nginx/error.log", "nginx/access.log",
                *(f"api-{r}.log" for r in range(1, api_replicas + 1))]
        for log in logs:
            if (state_dir / log).exists():
                (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
                shutil.copy(state_dir / log,
                            ARTIFACTS / "logs" / f"{name}-{log.replace('/', '-')}")
        shutil.rmtree(state_dir, ignore_errors=True)
