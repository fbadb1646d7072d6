"""The migrations and the tables say the same thing: after `upgrade head`, Alembic's autogenerate
finds nothing to change (so a column added to the tables without its migration, or the other
way round, fails here)."""

from typing import Any

from sqlalchemy import Column, Double, Engine, MetaData

from app.store import schema_drift
from app.store.tables import Base


def differences(engine: Engine, metadata: MetaData = Base.metadata) -> list[Any]:
    with engine.connect() as connection:
        return schema_drift.differences(connection, metadata)


def test_the_migrated_schema_is_the_tables(owner_engine: Engine) -> None:
    assert differences(owner_engine) == []


def test_a_column_without_its_migration_is_found(owner_engine: Engine) -> None:
    """The control: the same comparison notices a column only the tables declare."""
    tables = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(tables)
    tables.tables["predictions"].append_column(Column("visits", Double))
    [(action, *_, column)] = differences(owner_engine, tables)
    assert (action, column.name) == ("add_column", "visits")
