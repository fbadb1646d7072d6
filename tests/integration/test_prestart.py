"""Prestart: migrate, seed and train from PostgreSQL; idempotent and safe under concurrency."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from app.domain import dataset
from app.ops import operations
from app.store import training_data
from app.store.tables import ModelVersion, dataset_rows
from tests.support.paths import ROOT
from tests.support.servers import Database


def test_data_set_seeded_from_the_csv(owner_engine: Engine) -> None:
    with Session(owner_engine) as session:
        assert training_data.count_rows(session) == 400
        purchases = session.scalar(
            select(func.count()).select_from(dataset_rows).where(dataset_rows.c.purchased)
        )
        assert purchases == 143


def test_seeding_twice_adds_nothing(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        assert operations.seed(connection, dataset.default_csv_path()) == 0
    with Session(owner_engine) as session:
        assert training_data.count_rows(session) == 400


def test_a_bad_csv_loads_nothing(owner_engine: Engine, tmp_path: Path) -> None:
    good = dataset.default_csv_path().read_text().splitlines()
    # 50 new, valid-looking rows, then one bad row: none of them may be stored.
    new_rows = [f"{90000000 + i},Male,30,50000,0" for i in range(50)]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([good[0], *new_rows, "90000999,Male,thirty,50000,0"]) + "\n")
    with owner_engine.connect() as connection, pytest.raises(
        dataset.DatasetError, match="line 52: Age"
    ):
        operations.seed(connection, bad)
    with Session(owner_engine) as session:
        assert training_data.count_rows(session) == 400


def test_the_stored_model_version_is_the_workshop_model(owner_engine: Engine) -> None:
    with Session(owner_engine) as session:
        version = session.scalars(select(ModelVersion).order_by(ModelVersion.version)).first()
    assert version is not None
    assert version.algorithm == "Logistic Regression"
    assert version.holdout.accuracy == 0.89
    assert version.holdout.confusion_matrix == [[65, 3], [8, 24]]
    assert version.features == ["age", "salary"]
    assert len(version.pipeline) > 0


def test_concurrent_prestarts_do_the_work_once(prepared_database: Database) -> None:
    fresh_db = "prestart_race"
    owner = prepared_database.env["DB_OWNER_USER"]
    prepared_database.server.psql(f'CREATE DATABASE "{fresh_db}" OWNER "{owner}"',
                                  database="postgres")
    prepared_database.server.psql(
        f'GRANT CONNECT ON DATABASE "{fresh_db}" TO "{prepared_database.env["APP_DB_USER"]}"'
    )
    env = {**os.environ, **prepared_database.env, "POSTGRES_DB": fresh_db}

    def run_prestart(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", "prestart"], env=env,
                              cwd=ROOT / "api", capture_output=True, text=True, check=False)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run_prestart, range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    counts = prepared_database.server.psql(
        "SELECT (SELECT count(*) FROM dataset_rows) || ','"
        " || (SELECT count(*) FROM model_versions)",
        database=fresh_db,
    )
    assert counts == "400,1"


def test_evaluate_prints_the_workshop_lines(prepared_database: Database) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "evaluate"], env={**os.environ, **prepared_database.env},
        cwd=ROOT / "api", capture_output=True, text=True, check=True,
    )
    assert result.stdout == "Model: Logistic Regression\nAccuracy: 89.0%\n"


def test_durability_settings_are_on(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            assert connection.execute(text(f"SHOW {setting}")).scalar() == "on"
