"""The comparison of the migrated schema with `app.store.tables` (what Alembic's autogenerate
would change), for the schema-drift checks: one definition of what is compared."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData

from app.store.partitions import include_name
from app.store.tables import Base


def differences(connection: Connection, metadata: MetaData = Base.metadata) -> list[Any]:
    """Empty when the database is the tables; the log's partitions (made at run time) are
    left out."""
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "include_name": include_name})
    found: list[Any] = compare_metadata(context, metadata)
    return found
