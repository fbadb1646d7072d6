"""Training: one scikit-learn Pipeline, fitted exactly as in the workshop.

`train` reproduces the workshop (test_size=0.25, random_state=0, StandardScaler ->
LogisticRegression(random_state=0)): accuracy 0.89, confusion matrix [[65, 3], [8, 24]].
Only the prestart step and the CLI import this module; the web workers serve from the
parameters with `app.scoring`.
"""

import io
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from app.dataset import LabelledRow
from app.scoring import Scorer

ALGORITHM = "Logistic Regression"
TEST_SIZE = 0.25
RANDOM_STATE = 0


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Pipeline
    metrics: dict[str, Any]
    train_user_ids: list[int]

    @property
    def parameters(self) -> dict[str, Any]:
        return scorer_of(self.pipeline).parameters()


def make_pipeline() -> Pipeline:
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("classifier", LogisticRegression(random_state=RANDOM_STATE)),
        ]
    )


def train(rows: Sequence[LabelledRow]) -> TrainedModel:
    """Fit on the rows in the data set's file order (the split depends on that order)."""
    features = np.array([[row.age, row.salary] for row in rows], dtype=np.int64)
    labels = np.array([int(row.purchased) for row in rows])
    user_ids = np.array([row.user_id for row in rows])
    x_train, x_test, y_train, y_test, ids_train, _ = train_test_split(
        features, labels, user_ids, test_size=TEST_SIZE, random_state=RANDOM_STATE
    )
    pipeline = make_pipeline().fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "confusion_matrix": confusion_matrix(y_test, predicted).tolist(),
        "roc_auc": float(roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])),
        "n_train": len(y_train),
        "n_test": len(y_test),
    }
    return TrainedModel(pipeline, metrics, [int(i) for i in ids_train])


def dump_pipeline(pipeline: Pipeline) -> bytes:
    return pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL)


def load_pipeline(blob: bytes) -> Pipeline:
    # The blob comes from our own database, written by `train`; it is as trusted as the code.
    pipeline = pickle.load(io.BytesIO(blob))  # noqa: S301
    if not isinstance(pipeline, Pipeline):
        raise TypeError("the stored model is not a scikit-learn Pipeline")
    return pipeline


def scorer_of(pipeline: Pipeline) -> Scorer:
    """The fitted parameters, for serving without sklearn."""
    scaler: StandardScaler = pipeline.named_steps["scaler"]
    classifier: LogisticRegression = pipeline.named_steps["classifier"]
    if list(classifier.classes_) != [0, 1]:
        raise ValueError(f"expected classes [0, 1], got {classifier.classes_!r}")
    return Scorer(
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scaler.scale_, dtype=np.float64),
        coef_t=np.ascontiguousarray(classifier.coef_.T, dtype=np.float64),
        intercept=np.asarray(classifier.intercept_, dtype=np.float64),
    )
