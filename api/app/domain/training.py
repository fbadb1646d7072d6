"""Training: the workshop's preprocessing and model as one scikit-learn Pipeline.

    ColumnTransformer(SimpleImputer(mean) on the numeric inputs, OneHotEncoder on the
    categorical ones) -> StandardScaler -> LogisticRegression(random_state=0)

built from the features a version uses. `train` reproduces the workshop (test_size=0.25,
random_state=0, age and salary): accuracy 0.89, confusion matrix [[65, 3], [8, 24]], on the
workshop's 100 held-out people, stored once (migration 0006) whatever the data set grows to. Only
the operator commands import this module; the web workers serve from the parameters with
`app.domain.scorer`.
"""

import io
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.domain.dataset import (
    RANDOM_STATE,
    TEST_SIZE,
    DatasetError,
    LabelledRow,
    TrainingRowsError,
)
from app.domain.features import CategoricalFeature, Feature, NumericFeature
from app.domain.figures import HoldoutFigures, TrainingFigures
from app.domain.scorer import Scorer

ALGORITHM = "Logistic Regression"


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Pipeline
    features: tuple[Feature, ...]
    holdout: HoldoutFigures
    train_user_ids: list[int]
    training: TrainingFigures

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def parameters(self) -> dict[str, Any]:
        return scorer_of(self.pipeline, self.features).parameters()


def numeric_first(features: Sequence[Feature]) -> list[Feature]:
    """The column order of the pipeline's input: numerics, then categoricals (as the
    ColumnTransformer outputs them and the scorer reads them)."""
    return [f for f in features if isinstance(f, NumericFeature)] + [
        f for f in features if isinstance(f, CategoricalFeature)]


def make_pipeline(features: Sequence[Feature]) -> Pipeline:
    ordered = numeric_first(features)
    numeric = [i for i, f in enumerate(ordered) if isinstance(f, NumericFeature)]
    categorical = [f for f in ordered if isinstance(f, CategoricalFeature)]
    transformers: list[tuple[str, Any, list[int]]] = [
        ("numeric", SimpleImputer(strategy="mean"), numeric)]
    if categorical:
        # Every declared category gets its column, seen in training or not; an unknown one
        # is an error (serving refuses it before it gets here).
        encoder = OneHotEncoder(categories=[list(f.categories) for f in categorical],
                                sparse_output=False, handle_unknown="error")
        transformers.append(("categorical", encoder,
                             list(range(len(numeric), len(ordered)))))
    return Pipeline([
        ("preprocess", ColumnTransformer(transformers, remainder="drop", sparse_threshold=0)),
        ("scaler", StandardScaler()),
        ("classifier", LogisticRegression(random_state=RANDOM_STATE)),
    ])


def design_matrix(rows: Sequence[dict[str, Any]], features: Sequence[Feature]
                  ) -> NDArray[np.object_]:
    """The pipeline's input: one row per person, columns in `numeric_first` order; a
    missing numeric value is NaN (the imputer fills it)."""
    ordered = numeric_first(features)
    matrix = np.empty((len(rows), len(ordered)), dtype=object)
    for j, feature in enumerate(ordered):
        if isinstance(feature, NumericFeature):
            matrix[:, j] = [np.nan if r.get(feature.name) is None else float(r[feature.name])
                            for r in rows]
        else:
            matrix[:, j] = [r[feature.name] for r in rows]
    return matrix


def workshop_holdout(user_ids: Sequence[int]) -> list[int]:
    """The workshop's rule for its test people: its split of these IDs, in file order. Applied
    once to the shipped CSV's 400 rows, its result is stored (migration 0006) and read from
    there; never re-run on a grown data set (the split of other rows picks other people)."""
    _, held_out = train_test_split(list(user_ids), test_size=TEST_SIZE,
                                   random_state=RANDOM_STATE)
    return [int(i) for i in held_out]


def check_training_rows(labels: NDArray[np.int_], test_size: float, random_state: int) -> None:
    """A logistic regression needs rows of both classes; the workshop's holdout rows never
    train, so a large test_size can leave few or none."""
    classes = len(set(labels.tolist()))
    if classes == 2:
        return
    if classes == 0:
        what = "no training rows"
    else:
        what = f"the training rows hold one class only ({len(labels)} rows)"
    raise TrainingRowsError(
        f"{what} with test_size {test_size} and random_state {random_state} (the workshop's "
        "100 holdout rows never train): choose a smaller test_size")


def split_rows(rows: Sequence[LabelledRow], holdout: Sequence[int], test_size: float,
               random_state: int) -> tuple[list[LabelledRow], list[LabelledRow]]:
    """(training rows, holdout rows). The holdout is the given people, in the given order;
    all of them must be in `rows`. With the workshop's split parameters every other row
    trains (so new people only ever join training); other parameters train on the rows
    their split keeps for training, still minus the holdout."""
    by_id = {row.user_id: row for row in rows}
    missing = [user_id for user_id in holdout if user_id not in by_id]
    if missing:
        raise DatasetError(
            f"{len(missing)} of the holdout's {len(holdout)} people are not in the data set "
            f"(User ID {missing[0]}, ...): seed the shipped CSV, whose people they are")
    held_out = set(holdout)
    if (test_size, random_state) == (TEST_SIZE, RANDOM_STATE):
        candidates = list(rows)
    else:
        candidates, _ = train_test_split(list(rows), test_size=test_size,
                                         random_state=random_state)
    return ([row for row in candidates if row.user_id not in held_out],
            [by_id[user_id] for user_id in holdout])


def train(rows: Sequence[LabelledRow], features: Sequence[Feature],
          test_size: float = TEST_SIZE, random_state: int = RANDOM_STATE,
          extra_rows: Sequence[LabelledRow] = (),
          holdout: Sequence[int] | None = None) -> TrainedModel:
    """Fit on the training rows of `split_rows` and measure on the holdout.

    `holdout`: the stored holdout's User IDs (what the operator commands pass); None is the
    workshop's split of `rows`, the same people when `rows` is the shipped CSV. With the
    defaults and the shipped CSV this is the workshop exactly. `extra_rows` (logged
    predictions with an outcome) are added to the training rows only."""
    if len(rows) - math.ceil(test_size * len(rows)) < 1:  # as train_test_split counts
        raise TrainingRowsError(f"no training rows: test_size {test_size} holds out all "
                                f"{len(rows)} rows")
    if holdout is None:
        holdout = workshop_holdout([row.user_id for row in rows])
    train_rows, test_rows = split_rows(rows, holdout, test_size, random_state)
    x_train = design_matrix([row.values for row in [*train_rows, *extra_rows]], features)
    y_train = np.array([int(row.purchased) for row in [*train_rows, *extra_rows]])
    x_test = design_matrix([row.values for row in test_rows], features)
    y_test = np.array([int(row.purchased) for row in test_rows])
    check_training_rows(y_train, test_size, random_state)
    pipeline = make_pipeline(features).fit(x_train, y_train)
    imputer: SimpleImputer = pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    if np.isnan(imputer.statistics_).any():
        raise TrainingRowsError("a numeric input has no value in any training row")
    predicted = pipeline.predict(x_test)
    figures = HoldoutFigures(
        accuracy=float(accuracy_score(y_test, predicted)),
        confusion_matrix=confusion_matrix(y_test, predicted, labels=[0, 1]).tolist(),
        roc_auc=float(roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])),
        n_train=len(y_train),
        n_test=len(y_test),
    )
    training = TrainingFigures(test_size=test_size, random_state=random_state,
                               dataset_rows=len(train_rows), outcome_rows=len(extra_rows))
    return TrainedModel(pipeline, tuple(features), figures,
                        [row.user_id for row in train_rows], training)


def dump_pipeline(pipeline: Pipeline) -> bytes:
    return pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL)


def load_pipeline(blob: bytes) -> Pipeline:
    # The blob comes from our own database, written by `train`; it is as trusted as the code.
    pipeline = pickle.load(io.BytesIO(blob))  # noqa: S301
    if not isinstance(pipeline, Pipeline):
        raise TypeError("the stored model is not a scikit-learn Pipeline")
    return pipeline


def scorer_of(pipeline: Pipeline, features: Sequence[Feature]) -> Scorer:
    """The fitted parameters of a pipeline made by `make_pipeline(features)`, for serving
    without sklearn."""
    preprocess: ColumnTransformer = pipeline.named_steps["preprocess"]
    scaler: StandardScaler = pipeline.named_steps["scaler"]
    classifier: LogisticRegression = pipeline.named_steps["classifier"]
    if list(classifier.classes_) != [0, 1]:
        raise ValueError(f"expected classes [0, 1], got {classifier.classes_!r}")
    imputer: SimpleImputer = preprocess.named_transformers_["numeric"]
    names = [f.name for f in numeric_first(features)]
    numeric = tuple(names[i] for i in preprocess.transformers_[0][2])
    categorical: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if "categorical" in preprocess.named_transformers_:
        encoder: OneHotEncoder = preprocess.named_transformers_["categorical"]
        columns = preprocess.transformers_[1][2]
        categorical = tuple((names[i], tuple(str(c) for c in cats))
                            for i, cats in zip(columns, encoder.categories_, strict=True))
    # Which memory layout sklearn's preprocessing leaves (it depends on the transformers).
    probe = design_matrix([{f.name: f.example for f in features}] * 3, features)
    layout: Literal["C", "F"] = "F" if preprocess.transform(probe).flags.f_contiguous else "C"
    return Scorer(
        layout=layout,
        numeric=numeric,
        impute=np.asarray(imputer.statistics_, dtype=np.float64),
        categorical=categorical,
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scaler.scale_, dtype=np.float64),
        coef_t=np.ascontiguousarray(classifier.coef_.T, dtype=np.float64),
        intercept=np.asarray(classifier.intercept_, dtype=np.float64),
    )
