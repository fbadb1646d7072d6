"""Model versions in PostgreSQL: training stores one, every worker loads the newest."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DatasetRow, ModelVersion
from app.scoring import Scorer

if TYPE_CHECKING:  # sklearn stays out of the web workers
    from app.ml import TrainedModel


class NoModelError(LookupError):
    """No model version has been trained yet (run the prestart step)."""


@dataclass(frozen=True)
class ServedModel:
    """The loaded model version: the only mutable thing a worker holds, and it never changes."""

    version: int
    scorer: Scorer
    # [age, salary, purchased] of the training rows, for the decision-boundary plot.
    training_points: list[tuple[int, int, bool]]


def store(
    session: Session, algorithm: str, trained: "TrainedModel", pipeline: bytes
) -> ModelVersion:
    version = ModelVersion(
        algorithm=algorithm,
        metrics=trained.metrics,
        parameters=trained.parameters,
        train_user_ids=trained.train_user_ids,
        pipeline=pipeline,
    )
    session.add(version)
    session.flush()
    return version


def latest_version_number(session: Session) -> int | None:
    return session.scalar(select(ModelVersion.version).order_by(ModelVersion.version.desc()))


def load_latest(session: Session) -> ServedModel:
    stored = session.execute(
        select(ModelVersion.version, ModelVersion.parameters, ModelVersion.train_user_ids)
        .order_by(ModelVersion.version.desc())
        .limit(1)
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
        scorer=Scorer.from_parameters(stored.parameters),
        training_points=[(age, salary, purchased) for age, salary, purchased in points],
    )
