"""The log partitioned by month (migration 0007) on a real PostgreSQL: a populated 1.1 database
upgrades with every row, id and outcome; months are created ahead and adopt rows the default
partition caught; prune drops whole months and deletes rows only in the straddling one; the
app role reaches the partitions through the log only."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from app.ops import operations
from app.store import partitions, retention
from app.store.partitions import add_months, month_start, partition_name
from tests.support.servers import Database


# The revision before 0007's (1.1's schema plus whatever came between), read from the chain.
def revision_before_partitioning() -> str:
    script = ScriptDirectory.from_config(operations.alembic_config()).get_revision("0007")
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision

ROWS = "SELECT id, created_at, age, salary, purchased, probability, model_version, gender," \
       " request_id FROM predictions ORDER BY id"


def empty_database(server: Database, name: str) -> Engine:
    owner = server.env["DB_OWNER_USER"]
    server.server.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"', database="postgres")
    server.server.psql(f'GRANT CONNECT ON DATABASE "{name}" TO "{server.env["APP_DB_USER"]}"',
                       database=name)
    return create_engine(server.settings(name).database_url(as_owner=True))


def app_engine(server: Database, name: str) -> Engine:
    return create_engine(server.settings(name).database_url(), isolation_level="AUTOCOMMIT")


def attached(connection: Connection) -> set[str]:
    return set(connection.scalars(text(
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'predictions'::regclass")))


def log_rows(connection: Connection, moments: list[datetime], per_moment: int,
             request_id: str = "") -> list[int]:
    """Rows created at each of `moments` (as the owner, who may set created_at)."""
    ids: list[int] = []
    for moment in moments:
        ids += connection.scalars(text(
            "INSERT INTO predictions (created_at, age, salary, purchased, probability,"
            " model_version, gender, request_id)"
            " SELECT :at, 20 + g % 40, 1000 * g, g % 3 = 0, (g % 10) / 10.0, 1,"
            " CASE WHEN g % 2 = 0 THEN 'Female' END, :rid || g"
            " FROM generate_series(1, :n) g RETURNING id"),
            {"at": moment, "n": per_moment, "rid": request_id or "req-"}).all()
    return ids


def add_outcomes(connection: Connection, ids: list[int], recorded_at: datetime) -> None:
    connection.execute(text(
        "INSERT INTO outcomes (prediction_id, purchased, recorded_at)"
        " SELECT id, id % 2 = 0, :at FROM unnest(CAST(:ids AS bigint[])) id"),
        {"ids": ids, "at": recorded_at})


@pytest.fixture(scope="module")
def populated_1_1(prepared_database: Database) -> Iterator[dict[str, Any]]:
    """A database at the revision before 0007 with rows over 14 months and outcomes for a third,
    upgraded to head afterwards; what it held before the upgrade."""
    engine = empty_database(prepared_database, "upgrade_1_1")
    role = prepared_database.env["APP_DB_USER"]
    now = datetime.now(UTC)
    moments = [now - timedelta(days=30 * months + 3) for months in (13, 6, 2, 1, 0)]
    moments.append(month_start(now))  # the first instant of this month: on a bound
    with engine.connect() as connection:
        command.upgrade(operations.alembic_config(connection, role),
                        revision_before_partitioning())
        connection.commit()
        ids = log_rows(connection, moments, 40)
        add_outcomes(connection, ids[::3], now)
        connection.commit()
        before = {
            "rows": connection.execute(text(ROWS)).all(),
            "outcomes": connection.execute(text(
                "SELECT * FROM outcomes ORDER BY prediction_id")).all(),
            "counts": connection.execute(text(
                "SELECT * FROM outcome_counts ORDER BY model_version")).all(),
            "moments": moments,
        }
        operations.migrate(connection, role)
    yield {**before, "engine": engine}
    engine.dispose()


def test_the_upgrade_keeps_every_row_id_and_outcome(populated_1_1: dict[str, Any]) -> None:
    with populated_1_1["engine"].connect() as connection:
        assert connection.execute(text(ROWS)).all() == populated_1_1["rows"]
        outcomes = connection.execute(text(
            "SELECT prediction_id, purchased, recorded_at FROM outcomes"
            " ORDER BY prediction_id")).all()
        assert outcomes == populated_1_1["outcomes"]
        assert connection.execute(text(
            "SELECT * FROM outcome_counts ORDER BY model_version")).all() \
            == populated_1_1["counts"]
        # Each outcome names its prediction's whole key (its month, for retention).
        assert connection.scalar(text(
            "SELECT count(*) FROM outcomes o JOIN predictions p"
            " ON (p.id, p.created_at) = (o.prediction_id, o.prediction_created_at)")) \
            == len(outcomes)
        assert len(populated_1_1["rows"]) == 240 and len(outcomes) == 80


def test_the_upgrade_partitions_by_month(populated_1_1: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    expected = {partition_name(month_start(m)) for m in populated_1_1["moments"]}
    expected |= {partition_name(add_months(month_start(now), n)) for n in range(3)}
    with populated_1_1["engine"].connect() as connection:
        assert attached(connection) == expected | {partitions.DEFAULT_PARTITION}
        # Every row in its month's partition, none in the default one.
        misplaced = connection.scalar(text(
            "SELECT count(*) FROM predictions WHERE tableoid::regclass::text"
            " <> 'predictions_y' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY\"m\"MM')"))
        assert misplaced == 0
        for p in partitions.partitions(connection):
            assert (p.start is None) == (p.name == partitions.DEFAULT_PARTITION)
            if p.start is not None:
                assert p.end == add_months(p.start, 1) and p.name == partition_name(p.start)


def test_ids_continue_from_the_same_sequence(prepared_database: Database,
                                             populated_1_1: dict[str, Any]) -> None:
    """The app role writes and records an outcome as before; new ids follow the old ones."""
    largest = max(row.id for row in populated_1_1["rows"])
    engine = app_engine(prepared_database, "upgrade_1_1")
    try:
        with engine.connect() as connection:
            new_id = connection.scalar(text(
                "INSERT INTO predictions (age, salary, purchased, probability, model_version)"
                " VALUES (30, 50000, false, 0.2, 1) RETURNING id"))
            oldest = populated_1_1["rows"][0].id
            connection.execute(text(
                "INSERT INTO outcomes (prediction_id, purchased, recorded_at)"
                " VALUES (:id, true, now()) ON CONFLICT DO NOTHING"), {"id": oldest})
            with pytest.raises(IntegrityError, match="there is no prediction"):
                connection.execute(text(
                    "INSERT INTO outcomes (prediction_id, purchased, recorded_at)"
                    " VALUES (:id, true, now())"), {"id": largest + 10_000})
    finally:
        engine.dispose()
    assert new_id == largest + 1
    with populated_1_1["engine"].connect() as connection:
        assert connection.scalar(text(
            "SELECT count(*) = count(DISTINCT id) FROM predictions"))


def test_months_ahead_are_created_once(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        before = attached(connection)
        assert partitions.ensure_ahead(connection) == []
        three_ahead = partitions.ensure_ahead(connection, months_ahead=3)
        assert partitions.ensure_ahead(connection, months_ahead=3) == []
        later = add_months(month_start(datetime.now(UTC)), 3)
        assert three_ahead == [partition_name(later)]
        assert attached(connection) == before | {partition_name(later)}


def test_a_month_created_late_adopts_its_rows_and_outcomes(owner_engine: Engine) -> None:
    """Rows that arrived while their month had no partition sit in the default one; creating
    the month moves them, outcomes included."""
    long_ago = datetime(2001, 5, 17, 12, tzinfo=UTC)
    with owner_engine.connect() as connection:
        ids = log_rows(connection, [long_ago], 25)
        add_outcomes(connection, ids[:5], long_ago)
        connection.commit()
        assert connection.scalar(text(
            "SELECT count(*) FROM predictions_default WHERE id = ANY(:ids)"), {"ids": ids}) == 25
        assert partitions.create_month(connection, month_start(long_ago))
        assert connection.scalar(text(
            "SELECT count(*) FROM predictions_y2001m05 WHERE id = ANY(:ids)"),
            {"ids": ids}) == 25
        assert connection.scalar(text(
            "SELECT count(*) FROM predictions_default WHERE id = ANY(:ids)"), {"ids": ids}) == 0
        assert set(connection.scalars(text(
            "SELECT prediction_id FROM outcomes WHERE prediction_id = ANY(:ids)"),
            {"ids": ids})) == set(ids[:5])
        # Pruned whole, like any past month.
        assert retention.prune(connection, timedelta(days=3650)) == 25
        assert "predictions_y2001m05" not in attached(connection)


def test_prune_drops_whole_months_and_deletes_only_in_the_straddling_one(
        populated_1_1: dict[str, Any]) -> None:
    """Cutoff in the middle of the month two months ago: the older months go whole, that
    month loses the rows before the cutoff, the rest keep every row and outcome."""
    engine = populated_1_1["engine"]
    now = datetime.now(UTC)
    straddling = add_months(month_start(now), -2)
    with engine.connect() as connection:
        partitions.create_month(connection, straddling)  # whatever day of the month it is
        log_rows(connection, [straddling + timedelta(days=2), straddling + timedelta(days=24)],
                 30)
        connection.commit()
        cutoff_age = now - (straddling + timedelta(days=13))
        rows = {r.id: r.created_at for r in connection.execute(text(
            "SELECT id, created_at FROM predictions"))}
        outcomes_before = set(connection.scalars(text("SELECT prediction_id FROM outcomes")))
        months_before = attached(connection)
        removed = retention.prune(connection, timedelta(days=cutoff_age.days), chunk_rows=7)
        cutoff = now - timedelta(days=cutoff_age.days)
        old = {i for i, at in rows.items() if at < cutoff - timedelta(minutes=5)}
        kept = {i for i, at in rows.items() if at >= cutoff + timedelta(minutes=5)}
        left = set(connection.scalars(text("SELECT id FROM predictions")))
        months_after = attached(connection)
        outcomes_after = set(connection.scalars(text("SELECT prediction_id FROM outcomes")))
    dropped = months_before - months_after
    assert dropped and all(p < partition_name(straddling) for p in dropped)
    assert partition_name(straddling) in months_after
    assert removed == len(rows) - len(left) and old and kept
    assert not left & old and kept <= left
    assert outcomes_after == outcomes_before & left


def test_outcomes_keep_their_predictions(owner_engine: Engine) -> None:
    """The foreign key's rule, held by migration 0007's triggers: a prediction with an outcome
    can be neither deleted nor re-keyed; without its outcome it can be deleted."""
    with owner_engine.connect() as connection:
        [with_outcome, without] = log_rows(connection, [datetime.now(UTC)], 2)
        add_outcomes(connection, [with_outcome], datetime.now(UTC))
        connection.commit()
        for statement in ("DELETE FROM predictions WHERE id = :id",
                          "UPDATE predictions SET created_at = created_at - interval '1 day'"
                          " WHERE id = :id",
                          "UPDATE predictions SET id = -id WHERE id = :id"):
            with pytest.raises(IntegrityError, match="has an outcome"):
                connection.execute(text(statement), {"id": with_outcome})
            connection.rollback()
        connection.execute(text("UPDATE predictions SET probability = 0.9 WHERE id = :id"),
                           {"id": with_outcome})  # not its key: allowed
        assert connection.execute(text("DELETE FROM predictions WHERE id = :id"),
                                  {"id": without}).rowcount == 1
        connection.execute(text("DELETE FROM outcomes WHERE prediction_id = :id"),
                           {"id": with_outcome})
        assert connection.execute(text("DELETE FROM predictions WHERE id = :id"),
                                  {"id": with_outcome}).rowcount == 1
        connection.commit()


@pytest.mark.parametrize("statement", [
    "SELECT * FROM predictions_default",
    "INSERT INTO predictions_default (age, salary, purchased, probability, model_version)"
    " VALUES (30, 1, false, 0.5, 1)",
    "ALTER TABLE predictions DETACH PARTITION predictions_default",
    "DROP TABLE predictions_default",
])
def test_the_app_role_reaches_partitions_only_through_the_log(prepared_database: Database,
                                                               statement: str) -> None:
    engine = create_engine(prepared_database.settings().database_url(),
                           isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection, pytest.raises(
                ProgrammingError, match=r"permission denied|must be owner"):
            connection.execute(text(statement))
    finally:
        engine.dispose()


def test_a_new_month_needs_no_grant(owner_engine: Engine, prepared_database: Database) -> None:
    """A partition made after the migration (so after its GRANTs) takes the app role's rows
    through the log, with no grant of its own."""
    far = datetime(2099, 3, 1, tzinfo=UTC)
    with owner_engine.connect() as connection:
        assert partitions.create_month(connection, far)
    engine = create_engine(prepared_database.settings().database_url(),
                           isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            new_id = connection.scalar(text(
                "INSERT INTO predictions (created_at, age, salary, purchased, probability,"
                " model_version) VALUES ('2099-03-15 00:00+00', 30, 1, false, 0.5, 1)"
                " RETURNING id"))
            assert connection.scalar(text(
                "SELECT tableoid::regclass::text FROM predictions WHERE id = :id"),
                {"id": new_id}) == "predictions_y2099m03"
    finally:
        engine.dispose()
    with owner_engine.connect() as connection:
        grants = connection.scalar(text(
            "SELECT relacl IS NULL FROM pg_class WHERE relname = 'predictions_y2099m03'"))
        assert grants  # no privileges of its own: the parent's decide
        connection.execute(text("DELETE FROM predictions WHERE id = :id"), {"id": new_id})
        connection.commit()


def test_downgrade_and_upgrade_again_keep_every_row(prepared_database: Database,
                                                    populated_1_1: dict[str, Any]) -> None:
    """Last in this module (it rebuilds the log): 0007's downgrade restores the plain table
    with the same rows and outcomes, and upgrading again partitions them again."""
    engine = populated_1_1["engine"]
    role = prepared_database.env["APP_DB_USER"]
    with engine.connect() as connection:
        rows = connection.execute(text(ROWS)).all()
        outcomes = connection.execute(text(
            "SELECT prediction_id, purchased, recorded_at FROM outcomes"
            " ORDER BY prediction_id")).all()
        config = operations.alembic_config(connection, role)
        command.downgrade(config, revision_before_partitioning())
        connection.commit()
        assert not partitions.is_partitioned(connection)
        assert connection.execute(text(ROWS)).all() == rows
        operations.migrate(connection, role)
        assert partitions.is_partitioned(connection)
        assert connection.execute(text(ROWS)).all() == rows
        assert connection.execute(text(
            "SELECT prediction_id, purchased, recorded_at FROM outcomes"
            " ORDER BY prediction_id")).all() == outcomes
