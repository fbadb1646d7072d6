"""The role the web workers use can read the data and models and append to the log: no more."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import ProgrammingError

from tests.support.servers import Database


@pytest.fixture(scope="module")
def app_engine(prepared_database: Database) -> Iterator[Engine]:
    engine = create_engine(prepared_database.settings().database_url(),
                           isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE predictions",
        "ALTER TABLE predictions ADD COLUMN x int",
        "TRUNCATE predictions",
        "UPDATE predictions SET probability = 0",
        "DELETE FROM predictions",
        "UPDATE dataset_rows SET age = 1",
        "DELETE FROM dataset_rows",
        "INSERT INTO dataset_rows VALUES (1, 999, 'Male', 30, 1, false)",
        "INSERT INTO model_versions (algorithm, metrics, train_user_ids, pipeline) "
        "VALUES ('x', '{}', '[]', '')",
        "DELETE FROM model_versions",
        "SELECT * FROM alembic_version",
        "SELECT * FROM outcomes",
        "UPDATE outcomes SET purchased = true",
        "DELETE FROM outcomes",
        "INSERT INTO outcomes (prediction_id, purchased, recorded_at) VALUES (1, true, now()) "
        "ON CONFLICT (prediction_id) DO UPDATE SET purchased = false",
        "INSERT INTO serving (version, action) VALUES (1, 'promote')",
        "DELETE FROM serving",
        "UPDATE model_versions SET metrics = '{}'",
        "CREATE ROLE intruder",
        "CREATE DATABASE intruder",
    ],
)
def test_app_role_is_denied(app_engine: Engine, statement: str) -> None:
    with app_engine.connect() as connection, pytest.raises(ProgrammingError,
                                                           match=r"permission denied|must be"):
        connection.execute(text(statement))


def test_app_role_can_do_its_job(app_engine: Engine) -> None:
    with app_engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM dataset_rows")).scalar() == 400
        assert connection.execute(text("SELECT count(*) FROM model_versions")).scalar() == 1
        new_id = connection.execute(text(
            "INSERT INTO predictions (age, salary, purchased, probability, model_version) "
            "VALUES (30, 87000, false, 0.1, 1) RETURNING id"
        )).scalar()
        assert new_id is not None
        assert connection.execute(text("SELECT version FROM serving")).scalar() == 1
        for _ in range(2):  # an outcome, once: the second is a conflict, not an error
            connection.execute(text(
                "INSERT INTO outcomes (prediction_id, purchased, recorded_at) "
                "VALUES (:id, true, now()) ON CONFLICT DO NOTHING"), {"id": new_id})
        counts = connection.execute(text("SELECT sum(n_outcomes) FROM outcome_counts")).scalar()
        assert counts is not None and counts >= 1


def test_app_role_uses_scram(prepared_database: Database) -> None:
    role = prepared_database.env["APP_DB_USER"]
    stored = prepared_database.server.psql(
        f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
    )
    assert stored.startswith("SCRAM-SHA-256$")
