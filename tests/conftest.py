"""Fixtures only (the helpers live in tests/support): real servers, PostgreSQL for the
integration tier, the whole local twin (PostgreSQL, gunicorn, nginx) for the end-to-end and
browser tiers.

Every server is started by the suite itself, in a temporary folder, on free loopback ports,
with the same code `make local` uses (the local.twin package). A missing binary fails with the
twin's message naming the package; nothing is skipped.
"""

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from app.core.settings import Settings, get_settings
from app.domain import dataset
from app.ops import operations
from local.twin import Stack
from tests.support.servers import Database, running_twin


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
    with operations.owner_connection(app_environment) as connection:
        operations.prestart(connection, dataset.default_csv_path(), app_environment.app_db_user)
    return database


@pytest.fixture(scope="session")
def owner_engine(prepared_database: Database) -> Iterator[Engine]:
    engine = prepared_database.owner_engine()
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # A rate the functional tests stay under; the burst tests still exceed it.
    with running_twin("twin", {"NGINX_PREDICT_RATE": "50r/s", "NGINX_PREDICT_BURST": "20"}) as twin:
        yield twin
