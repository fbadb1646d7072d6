"""More databases on the test server, for tests that need a model of their own."""

from sqlalchemy.orm import Session

from app.core.settings import Settings
from app.domain import dataset
from app.ops import operations
from app.store import registry
from tests.support.servers import Database


def fresh_copy(server: Database, name: str) -> Settings:
    """A new database on the same server, prepared as prestart leaves one (version 1
    trained and served); returns the settings that reach it."""
    owner = server.env["DB_OWNER_USER"]
    server.server.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"', database="postgres")
    server.server.psql(f'GRANT CONNECT ON DATABASE "{name}" TO "{server.env["APP_DB_USER"]}"')
    settings = server.settings(name)
    with operations.owner_connection(settings) as connection:
        operations.prestart(connection, dataset.default_csv_path(), settings.app_db_user)
    return settings


def prepared_copy(server: Database, name: str, features: tuple[str, ...]) -> Settings:
    """`fresh_copy`, then version 2 trained on `features` and served."""
    settings = fresh_copy(server, name)
    with operations.owner_connection(settings) as connection:
        version = operations.train(connection, features)
        with Session(bind=connection) as session, session.begin():
            registry.promote(session, version.version, force=True)
    return settings
