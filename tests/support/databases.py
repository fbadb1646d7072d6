"""More databases on the test server, for tests that need a model of their own."""

from typing import TYPE_CHECKING

from app import cli, dataset
from app.config import Settings

if TYPE_CHECKING:
    from tests.conftest import Database


def prepared_copy(server: "Database", name: str, features: tuple[str, ...]) -> Settings:
    """A new database on the same server, prepared as prestart leaves one, whose newest
    version is trained on `features`; returns the settings that reach it."""
    owner = server.env["DB_OWNER_USER"]
    server.server.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"', database="postgres")
    server.server.psql(f'GRANT CONNECT ON DATABASE "{name}" TO "{server.env["APP_DB_USER"]}"')
    settings = Settings.model_validate(
        {key.lower(): value for key, value in {**server.env, "POSTGRES_DB": name}.items()})
    with cli.owner_connection(settings) as connection:
        cli.prestart(connection, dataset.default_csv_path(), settings.app_db_user)
        cli.train(connection, features)
    return settings
