"""Gender as an input: optional for the workshop's version, required for a version trained
with it, refused when unknown; stored in the log as given; served bitwise as sklearn."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from app.core.settings import Settings
from app.domain import training
from app.domain.features import FEATURES
from app.store.tables import ModelVersion, predictions
from app.web.main import create_app
from tests.integration.conftest import count_predictions
from tests.support.databases import prepared_copy
from tests.support.operator import database_command
from tests.support.servers import Database

WITH_GENDER = ("age", "salary", "gender")


@pytest.fixture(scope="module")
def gender_settings(prepared_database: Database) -> Settings:
    """A database of its own whose newest version uses gender."""
    return prepared_copy(prepared_database, "gender_model", WITH_GENDER)


@pytest.fixture(scope="module")
def gender_engine(gender_settings: Settings) -> Iterator[Engine]:
    engine = create_engine(gender_settings.database_url(as_owner=True))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def gender_client(gender_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(gender_settings), raise_server_exceptions=False) as client:
        yield client


def logged(engine: Engine, ids: list[int]) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        rows = session.execute(
            select(predictions.c.age, predictions.c.salary, predictions.c.gender)
            .where(predictions.c.id.in_(ids)).order_by(predictions.c.id))
        return [tuple(row) for row in rows]


def test_the_workshop_version_takes_gender_when_given_and_logs_it(
    client: TestClient, owner_engine: Engine, token_header: dict[str, str]
) -> None:
    given = client.post("/predict", json={"age": 30, "salary": 87000, "gender": "Female"})
    absent = client.post("/predict", json={"age": 30, "salary": 87000})
    assert given.status_code == absent.status_code == 200
    # The workshop's version does not use gender: the same answer either way.
    assert given.json()["probability"] == absent.json()["probability"]
    ids = [given.json()["prediction_id"], absent.json()["prediction_id"]]
    assert logged(owner_engine, ids) == [(30, 87000, "Female"), (30, 87000, None)]
    batch = client.post("/predict/batch", json={"rows": [
        {"age": 40, "salary": 50000}, {"age": 41, "salary": 51000, "gender": "Male"}]})
    assert batch.status_code == 200
    assert logged(owner_engine, batch.json()["prediction_ids"]) == [
        (40, 50000, None), (41, 51000, "Male")]
    recent = client.get("/predictions", params={"limit": 1}, headers=token_header).json()
    assert recent[0]["gender"] == "Male"


def test_a_gender_version_is_described_by_model_and_accuracy(gender_client: TestClient) -> None:
    model = gender_client.get("/model").json()
    assert model["features"] == list(WITH_GENDER)
    assert all(item["required"] for item in model["inputs"])
    assert model["encoded_columns"] == ["age", "salary", "gender=Female", "gender=Male"]
    assert [panel["given"] for panel in model["panels"]] == [
        {"gender": "Female"}, {"gender": "Male"}]
    assert {"age", "salary", "gender", "purchased"} <= set(model["training_points"][0])
    accuracy = gender_client.get("/accuracy").json()
    assert accuracy["features"] == list(WITH_GENDER)
    assert accuracy["model_version"] == model["model_version"] == 2


def test_a_gender_version_scores_bitwise_as_its_pipeline(
    gender_client: TestClient, gender_engine: Engine
) -> None:
    with Session(gender_engine) as session:
        stored = session.scalars(select(ModelVersion).where(ModelVersion.version == 2)).one()
        pipeline = training.load_pipeline(stored.pipeline)
    features = FEATURES.select(stored.features)
    rows = [{"age": a, "salary": s, "gender": g}
            for a in (19, 35.5, 60) for s in (15000, 87000, 150000) for g in ("Female", "Male")]
    body = gender_client.post("/predict/batch", json={"rows": rows}).json()
    expected = pipeline.predict_proba(training.design_matrix(rows, features))[:, 1]
    assert np.array_equal([p["probability"] for p in body["predictions"]], expected)
    for row in rows[:4]:  # one row is scored as sklearn scores one row
        single = gender_client.post("/predict", json=row).json()
        assert single["probability"] == pipeline.predict_proba(
            training.design_matrix([row], features))[0, 1]
    assert logged(gender_engine, body["prediction_ids"])[:2] == [
        (19, 15000, "Female"), (19, 15000, "Male")]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"age": 30, "salary": 87000}, "gender", "model version 2 uses gender"),
        ({"age": 30, "salary": 87000, "gender": "Robot"}, "gender", "'Female' or 'Male'"),
        ({"age": 30, "salary": 87000, "gender": None}, "gender", "'Female' or 'Male'"),
    ],
)
def test_a_gender_version_requires_a_known_gender(
    gender_client: TestClient, gender_engine: Engine, body: dict[str, Any], field: str,
    message: str,
) -> None:
    before = count_predictions(gender_engine)
    response = gender_client.post("/predict", json=body)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == field
    assert message in problem["message"]
    assert count_predictions(gender_engine) == before


def test_a_gender_version_requires_gender_on_every_batch_row(
    gender_client: TestClient, gender_engine: Engine
) -> None:
    before = count_predictions(gender_engine)
    rows: list[dict[str, Any]] = [{"age": 30, "salary": 1, "gender": "Male"}] * 3
    missing = gender_client.post("/predict/batch", json={"rows": [*rows, {"age": 30,
                                                                         "salary": 1}]})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "rows.3.gender"
    unknown = gender_client.post("/predict/batch", json={"rows": [
        *rows, {"age": 30, "salary": 1, "gender": "X"}]})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "rows.3.gender"
    assert count_predictions(gender_engine) == before


def test_train_takes_a_feature_list_and_refuses_unknown_ones(
    prepared_database: Database, gender_settings: Settings
) -> None:
    bad = database_command(prepared_database, gender_settings.postgres_db, "train",
                           "--features", "age,salary,height", expect=2)
    assert "unknown feature(s) height" in bad.stderr
    no_age = database_command(prepared_database, gender_settings.postgres_db, "train",
                              "--features", "salary,gender", expect=2)
    assert "every version uses age" in no_age.stderr


def test_report_writes_the_two_figures(
    prepared_database: Database, gender_settings: Settings, tmp_path: Path
) -> None:
    result = database_command(prepared_database, gender_settings.postgres_db, "report",
                              "--out", str(tmp_path))
    written = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in written] == ["decision_boundary_v2.png", "confusion_matrix_v2.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
