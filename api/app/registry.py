"""Model versions in PostgreSQL: training stores one, every worker loads the newest."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import dataset, ml
from app.models import DatasetRow, ModelVersion


class NoModelError(LookupError):
    """No model version has been trained yet (run the prestart step)."""


@dataclass(frozen=True)
class ServedModel:
    """The loaded model version: the only mutable thing a worker holds, and it never changes."""

    version: int
    trained_at: datetime
    metrics: dict[str, Any]
    scorer: ml.Scorer
    # [age, salary, purchased] of the training rows, for the decision-boundary plot.
    training_points: list[tuple[int, int, bool]]


def train_and_store(session: Session) -> ModelVersion:
    """Train from the rows in PostgreSQL (not from the CSV) and store a new version."""
    rows = dataset.labelled_rows(session)
    if not rows:
        raise dataset.DatasetError("the data set table is empty; run the seed step first")
    trained = ml.train(rows)
    version = ModelVersion(
        algorithm=ml.ALGORITHM,
        metrics=trained.metrics,
        train_user_ids=trained.train_user_ids,
        pipeline=ml.dump_pipeline(trained.pipeline),
    )
    session.add(version)
    session.flush()
    return version


def latest_version_number(session: Session) -> int | None:
    return session.scalar(select(ModelVersion.version).order_by(ModelVersion.version.desc()))


def load_latest(session: Session) -> ServedModel:
    stored = session.scalars(
        select(ModelVersion).order_by(ModelVersion.version.desc()).limit(1)
    ).first()
    if stored is None:
        raise NoModelError("no trained model version in the database")
    points = session.execute(
        select(DatasetRow.age, DatasetRow.estimated_salary, DatasetRow.purchased)
        .where(DatasetRow.user_id.in_(stored.train_user_ids))
        .order_by(DatasetRow.line)
    )
    return ServedModel(
        version=stored.version,
        trained_at=stored.trained_at,
        metrics=stored.metrics,
        scorer=ml.Scorer.from_pipeline(ml.load_pipeline(stored.pipeline)),
        training_points=[(age, salary, purchased) for age, salary, purchased in points],
    )
