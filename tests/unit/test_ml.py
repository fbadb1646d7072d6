"""The model reproduces the workshop, and the fast scorer is sklearn to the last bit."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from app import dataset, ml
from app.scoring import Scorer


@pytest.fixture(scope="module")
def rows() -> list[dataset.LabelledRow]:
    return [
        dataset.LabelledRow(r.user_id, r.age, r.estimated_salary, r.purchased)
        for r in dataset.read_csv(dataset.default_csv_path())
    ]


@pytest.fixture(scope="module")
def trained(rows: list[dataset.LabelledRow]) -> ml.TrainedModel:
    return ml.train(rows)


def test_the_workshop_result(trained: ml.TrainedModel) -> None:
    assert trained.metrics["accuracy"] == 0.89
    assert trained.metrics["confusion_matrix"] == [[65, 3], [8, 24]]
    assert (trained.metrics["n_train"], trained.metrics["n_test"]) == (300, 100)
    assert len(set(trained.train_user_ids)) == 300


def test_the_model_is_one_pipeline(trained: ml.TrainedModel) -> None:
    assert isinstance(trained.pipeline, Pipeline)
    assert [name for name, _ in trained.pipeline.steps] == ["scaler", "classifier"]
    restored = ml.load_pipeline(ml.dump_pipeline(trained.pipeline))
    x = np.array([[30.0, 87000.0]])
    assert restored.predict_proba(x).tolist() == trained.pipeline.predict_proba(x).tolist()


def edge_and_random_inputs() -> np.ndarray:
    rng = np.random.default_rng(7)
    random = np.column_stack([rng.uniform(0, 120, 20_000), rng.uniform(0, 10_000_000, 20_000)])
    edges = np.array(
        [[0, 0], [120, 10_000_000], [0, 10_000_000], [120, 0], [18, 15000], [60, 150000],
         [30, 87000], [0.5, 0.5], [119.999, 9_999_999.99], [35, 70000], [42, 80000]],
        dtype=np.float64,
    )
    return np.vstack([edges, random])


def test_scorer_matches_predict_proba_bitwise_on_a_batch(trained: ml.TrainedModel) -> None:
    features = edge_and_random_inputs()
    purchased, probability = ml.scorer_of(trained.pipeline).score(features)
    assert np.array_equal(probability, trained.pipeline.predict_proba(features)[:, 1])
    assert np.array_equal(purchased, trained.pipeline.predict(features) == 1)


def test_scorer_matches_predict_proba_bitwise_one_row_at_a_time(
    trained: ml.TrainedModel,
) -> None:
    scorer = ml.scorer_of(trained.pipeline)
    for row in edge_and_random_inputs()[:1500]:
        single = row.reshape(1, 2)
        purchased, probability = scorer.score(single)
        assert probability[0] == trained.pipeline.predict_proba(single)[0, 1]
        assert purchased[0] == (trained.pipeline.predict(single)[0] == 1)


def test_decision_boundary_is_where_the_probability_crosses_one_half(
    trained: ml.TrainedModel,
) -> None:
    scorer = ml.scorer_of(trained.pipeline)
    purchased, probability = scorer.score(edge_and_random_inputs())
    assert np.array_equal(purchased, probability > 0.5)


def test_parameters_survive_json_exactly(trained: ml.TrainedModel) -> None:
    # What the workers serve from: the parameters as stored in a JSONB column.
    stored = json.loads(json.dumps(trained.parameters))
    scorer = Scorer.from_parameters(stored)
    features = edge_and_random_inputs()
    assert np.array_equal(scorer.score(features)[1], trained.pipeline.predict_proba(features)[:, 1])


def test_the_web_app_does_not_import_sklearn() -> None:
    code = "import sys, app.main; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
