"""The model reproduces the workshop, and the fast scorer is sklearn to the last bit, for every
feature set a version may use (numeric inputs imputed, categories one-hot encoded)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from app.domain import dataset, training
from app.domain.features import DEFAULT_FEATURES, FEATURES
from app.domain.scorer import Scorer
from tests.support.inputs import columns_of, edge_and_random_rows

FEATURE_SETS = {"workshop": DEFAULT_FEATURES, "gender": ("age", "salary", "gender")}


@pytest.fixture(scope="module")
def rows() -> list[dataset.LabelledRow]:
    return [row.labelled() for row in dataset.read_csv(dataset.default_csv_path())]


@pytest.fixture(scope="module", params=list(FEATURE_SETS), ids=list(FEATURE_SETS))
def trained(request: pytest.FixtureRequest, rows: list[dataset.LabelledRow]
            ) -> training.TrainedModel:
    return training.train(rows, FEATURES.select(FEATURE_SETS[request.param]))


@pytest.fixture(scope="module")
def workshop(rows: list[dataset.LabelledRow]) -> training.TrainedModel:
    return training.train(rows, FEATURES.select(DEFAULT_FEATURES))


def test_the_workshop_result(workshop: training.TrainedModel) -> None:
    assert workshop.holdout.accuracy == 0.89
    assert workshop.holdout.confusion_matrix == [[65, 3], [8, 24]]
    assert (workshop.holdout.n_train, workshop.holdout.n_test) == (300, 100)
    assert len(set(workshop.train_user_ids)) == 300
    assert workshop.feature_names == ["age", "salary"]


def test_the_model_is_one_pipeline(trained: training.TrainedModel) -> None:
    pipeline = trained.pipeline
    assert isinstance(pipeline, Pipeline)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "scaler", "classifier"]
    preprocess = pipeline.named_steps["preprocess"]
    assert isinstance(preprocess, ColumnTransformer)
    imputer = preprocess.named_transformers_["numeric"]
    assert isinstance(imputer, SimpleImputer)
    assert imputer.strategy == "mean"
    uses_gender = "gender" in trained.feature_names
    assert isinstance(preprocess.named_transformers_.get("categorical"), OneHotEncoder) \
        is uses_gender
    restored = training.load_pipeline(training.dump_pipeline(pipeline))
    x = training.design_matrix([{"age": 30, "salary": 87000, "gender": "Male"}], trained.features)
    assert restored.predict_proba(x).tolist() == pipeline.predict_proba(x).tolist()


def test_a_gender_model_uses_both_categories(rows: list[dataset.LabelledRow]) -> None:
    trained = training.train(rows, FEATURES.select(FEATURE_SETS["gender"]))
    scorer = training.scorer_of(trained.pipeline, trained.features)
    assert scorer.encoded_columns == ["age", "salary", "gender=Female", "gender=Male"]
    columns: dict[str, list[Any]] = {
        "age": [40.0, 40.0], "salary": [70000.0, 70000.0], "gender": ["Female", "Male"]}
    _, probability = scorer.score(columns, 2)
    assert probability[0] != probability[1]


def stored_scorer(trained: training.TrainedModel) -> Scorer:
    """What a worker serves from: the parameters after a round trip through JSONB."""
    return Scorer.from_parameters(json.loads(json.dumps(trained.parameters)))


@pytest.mark.parametrize("blanks", [False, True], ids=["given", "with-blanks"])
def test_scorer_matches_predict_proba_bitwise_on_a_batch(
    trained: training.TrainedModel, blanks: bool
) -> None:
    inputs = edge_and_random_rows(trained.features, blanks=blanks)
    assert len(inputs) > 20_000
    matrix = training.design_matrix(inputs, trained.features)
    expected = trained.pipeline.predict_proba(matrix)[:, 1]
    purchased, probability = stored_scorer(trained).score(
        columns_of(inputs, trained.features), len(inputs))
    assert np.array_equal(probability, expected)
    assert np.array_equal(purchased, expected > 0.5)
    assert np.array_equal(
        purchased, trained.pipeline.predict(training.design_matrix(inputs, trained.features)) == 1)


def test_scorer_matches_predict_proba_bitwise_one_row_at_a_time(
    trained: training.TrainedModel,
) -> None:
    scorer = stored_scorer(trained)
    rows = [*edge_and_random_rows(trained.features, n_random=1500),
            *edge_and_random_rows(trained.features, n_random=500, blanks=True)]
    for row in rows:
        single = training.design_matrix([row], trained.features)
        expected = trained.pipeline.predict_proba(single)[0, 1]
        purchased, probability = scorer.score(columns_of([row], trained.features), 1)
        assert probability[0] == expected
        assert purchased[0] == (trained.pipeline.predict(single)[0] == 1)
        # The one-row path /predict takes: the same bits.
        one_purchased, one_probability = scorer.score_one(row)
        assert (one_purchased, one_probability.hex()) == (purchased[0], float(expected).hex())


def test_an_unknown_category_is_refused_by_the_scorer(rows: list[dataset.LabelledRow]) -> None:
    trained = training.train(rows, FEATURES.select(FEATURE_SETS["gender"]))
    with pytest.raises(ValueError, match="unknown categories"):
        stored_scorer(trained).score({"age": [30.0], "salary": [1.0], "gender": ["Robot"]}, 1)
    with pytest.raises(ValueError, match="unknown categories"):
        stored_scorer(trained).score_one({"age": 30.0, "salary": 1.0, "gender": "Robot"})


@pytest.mark.parametrize("x", [-800.0, -709.0, 0.0, 709.0, 800.0])
def test_one_row_beyond_exp_range_scores_as_scipy_does(x: float) -> None:
    scorer = Scorer(numeric=("x",), impute=np.zeros(1), categorical=(), mean=np.zeros(1),
                    scale=np.ones(1), coef_t=np.ones((1, 1)), intercept=np.zeros(1))
    purchased, probability = scorer.score({"x": [x]}, 1)
    assert scorer.score_one({"x": x}) == (bool(purchased[0]), float(probability[0]))


def test_the_boundary_line_is_where_the_probability_crosses_one_half(
    trained: training.TrainedModel,
) -> None:
    scorer = stored_scorer(trained)
    givens = [{"gender": g} for g in ("Female", "Male")] if "gender" in scorer.inputs else [{}]
    for given in givens:
        line = scorer.boundary("age", "salary", given)
        for age in (20.0, 40.0, 60.0):
            on_line = float(line["intercept"]) + float(line["slope"]) * age
            for offset, buys in ((1000.0, bool(line["buy_above"])),
                                 (-1000.0, not line["buy_above"])):
                columns: dict[str, list[Any]] = {"age": [age], "salary": [on_line + offset],
                           **{k: [v] for k, v in given.items()}}
                assert bool(scorer.score(columns, 1)[0][0]) is buys


def write_csv_with_blanks(path: Path, blank_every: int) -> None:
    lines = dataset.default_csv_path().read_text().splitlines()
    out = [lines[0]]
    for number, line in enumerate(lines[1:]):
        user_id, gender, age, salary, purchased = line.split(",")
        if number % blank_every == 0:
            age = ""
        if number % blank_every == 1:
            salary = ""
        out.append(",".join((user_id, gender, age, salary, purchased)))
    path.write_text("\n".join(out) + "\n")


def test_blank_cells_are_imputed_with_the_training_rows_mean_only(tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    write_csv_with_blanks(path, blank_every=9)
    rows = [row.labelled() for row in dataset.read_csv(path)]
    assert sum(row.values["age"] is None for row in rows) == 45
    trained = training.train(rows, FEATURES.select(DEFAULT_FEATURES))
    training_ids = set(trained.train_user_ids)
    for name in ("age", "salary"):
        train_values = [r.values[name] for r in rows
                        if r.user_id in training_ids and r.values[name] is not None]
        all_values = [r.values[name] for r in rows if r.values[name] is not None]
        imputed = trained.parameters["impute"][trained.parameters["numeric"].index(name)]
        assert imputed == pytest.approx(np.mean(train_values), rel=1e-12)
        assert imputed != pytest.approx(np.mean(all_values), rel=1e-9)
    imputer = trained.pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    assert stored_scorer(trained).impute.tolist() == imputer.statistics_.tolist()
    # A blank is scored as its mean, by the pipeline and the scorer alike.
    blank = [{"age": None, "salary": 50_000.0}]
    assert stored_scorer(trained).score(columns_of(blank, trained.features), 1)[1][0] == \
        trained.pipeline.predict_proba(training.design_matrix(blank, trained.features))[0, 1]


def test_the_web_app_does_not_import_sklearn() -> None:
    code = "import sys, app.web.main; print('sklearn' in sys.modules, 'matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False False"


def test_the_stored_holdout_is_the_workshops_split_of_the_shipped_file(
        rows: list[dataset.LabelledRow]) -> None:
    """Migration 0006 stores the holdout as a literal list: it must be the workshop's split."""
    path = Path(training.__file__).parents[1] / "store/migrations/versions/0006_holdout.py"
    spec = importlib.util.spec_from_file_location("holdout_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert list(migration.WORKSHOP_HOLDOUT) == training.workshop_holdout(
        [row.user_id for row in rows])


def test_new_rows_only_join_training(rows: list[dataset.LabelledRow]) -> None:
    holdout = training.workshop_holdout([row.user_id for row in rows])
    extra = [dataset.LabelledRow(90_000_000 + n, {"age": 20 + n, "salary": 30_000.0}, n % 2 == 0)
             for n in range(25)]
    for grown in ([*rows, *extra], [*extra, *rows]):
        trained_rows, test_rows = training.split_rows(grown, holdout, 0.25, 0)
        assert [row.user_id for row in test_rows] == holdout
        assert len(trained_rows) == 325
    with pytest.raises(dataset.DatasetError, match="100 of the holdout's 100 people"):
        training.split_rows(extra, holdout, 0.25, 0)
