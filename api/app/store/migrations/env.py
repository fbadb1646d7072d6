"""Alembic environment: runs on the connection the prestart step passes in (it holds the lock)."""

from alembic import context
from sqlalchemy import Connection

from app.core.database import make_engine
from app.core.settings import get_settings
from app.store.partitions import include_name
from app.store.tables import Base


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    if "app_role" not in config.attributes:  # run from the `alembic` command line
        config.attributes["app_role"] = get_settings().app_db_user
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = make_engine(get_settings(), as_owner=True)
    with engine.connect() as own_connection:
        run(own_connection)
    engine.dispose()


main()
