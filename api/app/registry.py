"""Model versions in PostgreSQL: training stores a candidate, `promote` serves it, `rollback`
serves the previous one; workers load the served version and hear of changes by NOTIFY.

The served version is the newest row of `serving` (append-only, its history). `rollback`
serves the version of the row before the newest: a second rollback undoes the first.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.features import FEATURES, Feature
from app.models import ModelVersion, Serving, dataset_rows, outcome_counts
from app.scoring import Scorer

if TYPE_CHECKING:  # sklearn stays out of the web workers
    from app.ml import TrainedModel


# The channel promote and rollback NOTIFY (payload: the served version); workers LISTEN.
CHANNEL = "model_served"


class NoModelError(LookupError):
    """No model version has been trained yet (run the prestart step)."""


class LifecycleError(ValueError):
    """A promote or rollback that cannot be done; the message says why."""


@dataclass(frozen=True)
class LiveMetrics:
    """How a version's logged predictions compare with the outcomes recorded for them."""

    n_outcomes: int
    confusion_matrix: list[list[int]]  # [[tn, fp], [fn, tp]]

    @property
    def accuracy(self) -> float | None:
        if not self.n_outcomes:
            return None
        return (self.confusion_matrix[0][0] + self.confusion_matrix[1][1]) / self.n_outcomes


NO_OUTCOMES = LiveMetrics(0, [[0, 0], [0, 0]])


@dataclass(frozen=True)
class VersionSummary:
    version: int
    trained_at: datetime
    algorithm: str
    features: list[str]
    metrics: dict[str, Any]  # on the workshop's holdout: every version on the same rows
    training: dict[str, Any]  # how it was trained (rows, test size, random state, outcomes)
    live: LiveMetrics
    served: bool


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
        training=trained.training,
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


def served_version_number(session: Session) -> int | None:
    return session.scalar(select(Serving.version).order_by(Serving.id.desc()).limit(1))


def serve(session: Session, version: int, action: str) -> None:
    """Serve `version` from now on (in the caller's transaction: workers hear of it when it
    commits, as NOTIFY is delivered at commit)."""
    session.add(Serving(version=version, action=action))
    session.flush()
    session.execute(text("SELECT pg_notify(:channel, :version)"),
                    {"channel": CHANNEL, "version": str(version)})


def _lock_serving(session: Session) -> None:
    # One promote or rollback at a time, so "previous" and "served" cannot race.
    session.execute(text("LOCK TABLE serving IN SHARE ROW EXCLUSIVE MODE"))


def promote(session: Session, version: int, *, force: bool = False) -> int:
    """Serve `version`; refuse a candidate worse on the holdout than the served one."""
    _lock_serving(session)
    candidate = session.get(ModelVersion, version)
    if candidate is None:
        raise LifecycleError(f"there is no version {version}")
    served = served_version_number(session)
    if served == version:
        raise LifecycleError(f"version {version} is already served")
    if served is not None and not force:
        current = session.get(ModelVersion, served)
        assert current is not None
        mine, theirs = candidate.metrics["accuracy"], current.metrics["accuracy"]
        if mine < theirs:
            raise LifecycleError(
                f"version {version}'s holdout accuracy {mine:.1%} is below the served version "
                f"{served}'s {theirs:.1%}; use --force to promote it anyway")
    serve(session, version, "promote")
    return version


def rollback(session: Session) -> int:
    """Serve the version served before the current one again (twice: back where it was)."""
    _lock_serving(session)
    last_two = session.scalars(select(Serving.version).order_by(Serving.id.desc()).limit(2)).all()
    if len(last_two) < 2:
        raise LifecycleError("no version was served before this one: nothing to roll back to")
    serve(session, last_two[1], "rollback")
    return last_two[1]


def live_metrics(session: Session) -> dict[int, LiveMetrics]:
    """Each version's live metrics, from the outcome counts (the app role may read these,
    not the outcomes themselves)."""
    return {
        row.model_version: LiveMetrics(
            int(row.n_outcomes),
            [[int(row.true_negatives), int(row.false_positives)],
             [int(row.false_negatives), int(row.true_positives)]])
        for row in session.execute(select(outcome_counts))
    }


def versions(session: Session) -> list[VersionSummary]:
    served = served_version_number(session)
    live = live_metrics(session)
    rows = session.execute(
        select(ModelVersion.version, ModelVersion.trained_at, ModelVersion.algorithm,
               ModelVersion.features, ModelVersion.metrics, ModelVersion.training)
        .order_by(ModelVersion.version))
    return [
        VersionSummary(
            version=row.version, trained_at=row.trained_at, algorithm=row.algorithm,
            features=row.features, metrics=row.metrics, training=row.training,
            live=live.get(row.version, NO_OUTCOMES), served=row.version == served)
        for row in rows
    ]


def load_served(session: Session) -> ServedModel:
    served = served_version_number(session)
    if served is None:
        raise NoModelError("no model version is served yet (run the migrate service)")
    return load(session, served)


def load(session: Session, version: int) -> ServedModel:
    stored = session.execute(
        select(ModelVersion.version, ModelVersion.features, ModelVersion.parameters,
               ModelVersion.train_user_ids)
        .where(ModelVersion.version == version)
    ).first()
    if stored is None:
        raise NoModelError(f"model version {version} is not in the database")
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
