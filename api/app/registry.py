"""Model versions in PostgreSQL: training stores one, every worker loads the newest."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.features import FEATURES, Feature
from app.models import ModelVersion, dataset_rows
from app.scoring import Scorer

if TYPE_CHECKING:  # sklearn stays out of the web workers
    from app.ml import TrainedModel


class NoModelError(LookupError):
    """No model version has been trained yet (run the prestart step)."""


@dataclass(frozen=True)
class ServedModel:
    """The loaded model version: the only mutable thing a worker holds, and it never changes."""

    version: int
    features: tuple[Feature, ...]  # the inputs this version uses, in the catalogue's order
    scorer: Scorer
    # The training rows' inputs and labels, for the decision-boundary plot.
    training_points: list[dict[str, Any]]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


def store(
    session: Session, algorithm: str, trained: "TrainedModel", pipeline: bytes
) -> ModelVersion:
    version = ModelVersion(
        algorithm=algorithm,
        features=trained.feature_names,
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
        select(ModelVersion.version, ModelVersion.features, ModelVersion.parameters,
               ModelVersion.train_user_ids)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    ).first()
    if stored is None:
        raise NoModelError("no trained model version in the database")
    features = FEATURES.select(stored.features)
    columns = [dataset_rows.c[f.dataset_column].label(f.name) for f in features]
    points = session.execute(
        select(*columns, dataset_rows.c.purchased)
        .where(dataset_rows.c.user_id.in_(stored.train_user_ids))
        .order_by(dataset_rows.c.line)
    )
    return ServedModel(
        version=stored.version,
        features=features,
        scorer=Scorer.from_parameters(stored.parameters),
        training_points=[dict(point._mapping) for point in points],
    )
