"""More databases on the test server, for tests that need a model of their own."""

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app import cli, dataset, registry
from app.config import Settings

if TYPE_CHECKING:
    from tests.conftest import Database

API = Path(__file__).resolve().parents[2] / "api"


def fresh_copy(server: "Database", name: str) -> Settings:
    """A new database on the same server, prepared as prestart leaves one (version 1
    trained and served); returns the settings that reach it."""
    owner = server.env["DB_OWNER_USER"]
    server.server.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"', database="postgres")
    server.server.psql(f'GRANT CONNECT ON DATABASE "{name}" TO "{server.env["APP_DB_USER"]}"')
    settings = Settings.model_validate(
        {key.lower(): value for key, value in {**server.env, "POSTGRES_DB": name}.items()})
    with cli.owner_connection(settings) as connection:
        cli.prestart(connection, dataset.default_csv_path(), settings.app_db_user)
    return settings


def run_cli(server: "Database", name: str, *args: str) -> "subprocess.CompletedProcess[str]":
    """`python -m app ARGS` as the owner against database `name` on the test server."""
    env = {**os.environ, **server.env, "POSTGRES_DB": name}
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=API,
                          capture_output=True, text=True, check=False, timeout=120)


def prepared_copy(server: "Database", name: str, features: tuple[str, ...]) -> Settings:
    """`fresh_copy`, then version 2 trained on `features` and served."""
    settings = fresh_copy(server, name)
    with cli.owner_connection(settings) as connection:
        version = cli.train(connection, features)
        with Session(bind=connection) as session, session.begin():
            registry.promote(session, version.version, force=True)
    return settings
