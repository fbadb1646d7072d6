"""Fixtures that start real servers: PostgreSQL for the integration tier, the whole local twin
(PostgreSQL, gunicorn, nginx) for the end-to-end and browser tiers.

Every server is started by the suite itself, in a temporary folder, on free loopback ports,
with the same code `make local` uses (the local.twin package). A missing binary fails with the
twin's message naming the package; nothing is skipped.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from app.config import Settings, get_settings
from local.twin import Ports, Postgres, Stack, free_port, service_env

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


def make_state_dir(prefix: str) -> Path:
    # Not pytest's tmp_path: that lives under a 0700 folder the postgres user cannot enter.
    path = Path(tempfile.mkdtemp(prefix=f"social-ads-{prefix}-"))
    path.chmod(0o755)
    return path


class Database:
    """A real PostgreSQL server plus the settings the migrate service would use to reach it
    (the owner's and the app role's credentials)."""

    def __init__(self, prefix: str) -> None:
        self.state_dir = make_state_dir(prefix)
        port = free_port()
        self.env = service_env("migrate", self.state_dir, {
            "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(port),
            "DB_CONNECT_TIMEOUT_S": "2", "DB_STATEMENT_TIMEOUT_MS": "2000"})
        self.server = Postgres(self.state_dir, port, service_env("db", self.state_dir, {}))

    def settings(self) -> Settings:
        return Settings.model_validate({key.lower(): value for key, value in self.env.items()})

    def owner_engine(self) -> Engine:
        return create_engine(self.settings().database_url(as_owner=True))

    def close(self) -> None:
        self.server.stop("immediate")
        shutil.rmtree(self.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    db = Database("pg")
    db.server.start()
    yield db
    db.close()


@pytest.fixture(scope="session")
def app_environment(database: Database) -> Iterator[Settings]:
    """The process environment the CLI and get_settings() read, pointed at the test server."""
    saved = dict(os.environ)
    os.environ.update(database.env)
    get_settings.cache_clear()
    yield get_settings()
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prepared_database(database: Database, app_environment: Settings) -> Database:
    """Migrated, seeded and trained: what the API's prestart step leaves behind."""
    from app import cli, dataset

    with cli.owner_connection(app_environment) as connection:
        cli.prestart(connection, dataset.default_csv_path(), app_environment.app_db_user)
    return database


@pytest.fixture(scope="session")
def owner_engine(prepared_database: Database) -> Iterator[Engine]:
    engine = prepared_database.owner_engine()
    yield engine
    engine.dispose()


@contextmanager
def running_twin(name: str, predict_rate: str, predict_burst: int, api_replicas: int = 1,
                 **extra_env: str) -> Iterator[Stack]:
    """The whole local twin, as `make local` starts it, on free ports; its logs are kept in
    artifacts/logs/ afterwards."""
    state_dir = make_state_dir(name)
    twin = Stack(state_dir, state_dir, Ports.free(),
                 extra_env={"DB_CONNECT_TIMEOUT_S": "2", "DB_STATEMENT_TIMEOUT_MS": "2000",
                            **extra_env}, api_replicas=api_replicas)
    twin.nginx.predict_rate, twin.nginx.predict_burst = predict_rate, predict_burst
    try:
        twin.up()
        yield twin
    finally:
        twin.down()
        logs = ["postgres.log", "migrate.log", "nginx/error.log",
                *(f"api-{r}.log" for r in range(1, api_replicas + 1))]
        for log in logs:
            if (state_dir / log).exists():
                (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
                shutil.copy(state_dir / log,
                            ARTIFACTS / "logs" / f"{name}-{log.replace('/', '-')}")
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # A rate the functional tests stay under; the burst tests still exceed it.
    with running_twin("twin", "50r/s", 20) as twin:
        yield twin
