"""Figures the README and docs/model.md quote that no other test checked (docs/claims.md)."""

import pytest

from app.domain import dataset, drift, training
from app.domain.features import DEFAULT_FEATURES, FEATURES


@pytest.fixture(scope="module")
def rows() -> list[dataset.LabelledRow]:
    return [row.labelled() for row in dataset.read_csv(dataset.default_csv_path())]


def test_the_gender_version_figures(rows: list[dataset.LabelledRow]) -> None:
    # docs/model.md: "with gender, 91.0 % and [[65, 3], [6, 26]]"
    trained = training.train(rows, FEATURES.select(["age", "salary", "gender"]))
    assert trained.holdout.accuracy == 0.91
    assert trained.holdout.confusion_matrix == [[65, 3], [6, 26]]


def test_the_readme_example_answer(rows: list[dataset.LabelledRow]) -> None:
    # README, quick start: {"age": 30, "salary": 87000} ->
    # {"purchased":false,"probability":0.1127533776652679,"model_version":1,...}
    trained = training.train(rows, FEATURES.select(DEFAULT_FEATURES))
    scorer = training.scorer_of(trained.pipeline, trained.features)
    purchased, probability = scorer.score({"age": [30.0], "salary": [87000.0]}, 1)
    assert (bool(purchased[0]), float(probability[0])) == (False, 0.1127533776652679)


def test_drift_needs_200_logged_inputs() -> None:
    # README, the API table: "below `min_rows` (200) logged inputs `psi` is empty"; what
    # happens below the minimum: tests/integration/test_observability.py.
    assert drift.MIN_ROWS == 200
