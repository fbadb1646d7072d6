"""Adding a numeric input takes one entry in app.domain.features and one migration: everything else
(CSV validation, training, the scorer, request schemas, the log's table and INSERT) follows.
The fixture is tests/support/added_feature.py; nothing in app/ mentions `visits`."""

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import MetaData

from app.domain import dataset, training
from app.domain.scorer import Scorer
from app.store.log_sql import execute_sql, prepare_sql
from app.store.tables import feature_tables
from app.web import schemas
from tests.support.added_feature import FEATURES_WITH_VISITS, upgrade
from tests.support.inputs import columns_of, edge_and_random_rows
from tests.support.new_input import csv_with_visits

APP = Path(dataset.__file__).resolve().parents[1]  # api/app


def test_nothing_in_the_app_names_the_added_feature() -> None:
    for source in APP.rglob("*.py"):
        assert "visits" not in source.read_text().lower(), source


def test_the_csv_training_and_scorer_follow(tmp_path: Path) -> None:
    path = tmp_path / "with_visits.csv"
    csv_with_visits(path)
    rows = [row.labelled() for row in dataset.read_csv(path, FEATURES_WITH_VISITS)]
    assert sum(row.values["visits"] is None for row in rows) == 24  # blanks: imputed
    features = FEATURES_WITH_VISITS.select(["age", "salary", "visits", "gender"])
    trained = training.train(rows, features)
    assert trained.holdout.accuracy > 0.89  # visits were made to predict well
    scorer = Scorer.from_parameters(json.loads(json.dumps(trained.parameters)))
    assert scorer.encoded_columns == ["age", "salary", "visits", "gender=Female", "gender=Male"]
    inputs = edge_and_random_rows(features, blanks=True)
    expected = trained.pipeline.predict_proba(training.design_matrix(inputs, features))[:, 1]
    _, probability = scorer.score(columns_of(inputs, features), len(inputs))
    assert np.array_equal(probability, expected)
    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace("19000,0,", "19000,0,x", 1))
    with pytest.raises(dataset.DatasetError, match="line 2: Visits must be a whole number"):
        dataset.read_csv(bad, FEATURES_WITH_VISITS)


def test_the_request_schemas_follow() -> None:
    request: type[BaseModel] = schemas.request_model(FEATURES_WITH_VISITS)
    assert request.model_validate({"age": 30, "salary": 1, "visits": 4}).model_dump() == {
        "age": 30, "salary": 1, "gender": None, "visits": 4}
    assert "visits" not in request.model_json_schema()["required"]
    with pytest.raises(ValidationError, match="visits"):
        request.model_validate({"age": 30, "salary": 1, "visits": 1001})
    row = schemas.row_type(FEATURES_WITH_VISITS)
    rows: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(list[row])  # type: ignore[valid-type]
    assert rows.validate_python([{"age": 30, "salary": 1, "visits": 2}])[0]["visits"] == 2
    with pytest.raises(ValidationError, match="visits"):
        rows.validate_python([{"age": 30, "salary": 1, "visits": "2"}])


def test_the_tables_the_log_and_the_migration_follow() -> None:
    tables = feature_tables(MetaData(), FEATURES_WITH_VISITS)
    assert tables.dataset_rows.c.visits.nullable
    assert tables.predictions.c.visits.nullable
    sql = prepare_sql(FEATURES_WITH_VISITS)
    assert "INSERT INTO predictions (age, salary, gender, visits," in sql
    # version and request ids, one array per input, purchased and probability, request index
    n_parameters = 2 + len(FEATURES_WITH_VISITS.names) + 3
    assert "(int, text[], float8[], float8[], text[], float8[], bool[], float8[], int[])" in sql
    assert f"${n_parameters}" in sql and f"${n_parameters + 1}" not in sql
    assert execute_sql(FEATURES_WITH_VISITS).count("%s") == n_parameters
    # A group of one request: its id as one value, no request index.
    one = prepare_sql(FEATURES_WITH_VISITS, one_request=True)
    assert "(int, text, float8[], float8[], text[], float8[], bool[], float8[])" in one
    assert f"${n_parameters - 1}" in one and f"${n_parameters}" not in one
    assert execute_sql(FEATURES_WITH_VISITS, one_request=True).count("%s") == n_parameters - 1
    # The migration, rendered as the SQL it runs, adds exactly those two columns.
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buffer})
    upgrade(Operations(context))
    assert " ".join(buffer.getvalue().split()) == (
        "ALTER TABLE dataset_rows ADD COLUMN visits INTEGER; "
        "ALTER TABLE predictions ADD COLUMN visits DOUBLE PRECISION;")
