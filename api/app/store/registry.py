"""Model versions in PostgreSQL: training stores a candidate, `promote` serves it, `rollback`
serves the previous one; workers load the served version and hear of changes by NOTIFY.

The served version is the newest row of `serving` (append-only, its history). `rollback`
serves the version of the row before the newest: a second rollback undoes the first.
`SERVED_VERSION` is the one query that says which version is served; every reader uses it
(the listener runs its SQL text on its own connection).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.domain.features import FEATURES
from app.domain.figures import NO_OUTCOMES, HoldoutFigures, LiveFigures, TrainingFigures
from app.domain.scorer import Scorer
from app.domain.served_model import ServedModel
from app.store.tables import ModelVersion, Serving, dataset_rows, outcome_counts

# The channel promote and rollback NOTIFY (payload: the served version); workers LISTEN.
CHANNEL = "model_served"


class NoModelError(LookupError):
    """No model version has been trained yet (run the prestart step)."""


class LifecycleError(ValueError):
    """A promote or rollback that cannot be done; the message says why."""


@dataclass(frozen=True)
class VersionSummary:
    version: int
    trained_at: datetime
    algorithm: str
    features: list[str]
    holdout: HoldoutFigures  # on the workshop's holdout: every version on the same rows
    training: TrainingFigures
    live: LiveFigures
    served: bool


# Which version is served: the newest row of `serving` (NULL if none), as one scalar.
SERVED_VERSION = select(Serving.version).order_by(Serving.id.desc()).limit(1)


def served_version_sql() -> str:
    """SERVED_VERSION as plain SQL, for the listener's own (non-SQLAlchemy) connection."""
    query = select(SERVED_VERSION.scalar_subquery())
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(query.compile(dialect=dialect,
                             compile_kwargs={"literal_binds": True}))


def store(session: Session, *, algorithm: str, features: Sequence[str],
          holdout: HoldoutFigures, training: TrainingFigures, parameters: dict[str, Any],
          train_user_ids: Sequence[int], pipeline: bytes) -> ModelVersion:
    """A new candidate version (served only once promoted)."""
    version = ModelVersion(
        algorithm=algorithm,
        features=list(features),
        training=training,
        holdout=holdout,
        parameters=parameters,
        train_user_ids=list(train_user_ids),
        pipeline=pipeline,
    )
    session.add(version)
    session.flush()
    return version


def latest_version_number(session: Session) -> int | None:
    return session.scalar(select(ModelVersion.version).order_by(ModelVersion.version.desc()))


def served_version_number(session: Session) -> int | None:
    return session.scalar(SERVED_VERSION)


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
        mine, theirs = candidate.holdout.accuracy, current.holdout.accuracy
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


def live_figures(session: Session) -> dict[int, LiveFigures]:
    """Each version's live metrics, from the outcome counts (the app role may read these,
    not the outcomes themselves)."""
    return {
        row.model_version: LiveFigures(
            int(row.n_outcomes),
            [[int(row.true_negatives), int(row.false_positives)],
             [int(row.false_negatives), int(row.true_positives)]])
        for row in session.execute(select(outcome_counts))
    }


def versions(session: Session, only: int | None = None) -> list[VersionSummary]:
    """Every version (or version `only`), its figures and whether it is served: what
    `/models`, `/accuracy` and `python -m app versions` show."""
    served = served_version_number(session)
    live = live_figures(session)
    query = (select(ModelVersion.version, ModelVersion.trained_at, ModelVersion.algorithm,
                    ModelVersion.features, ModelVersion.holdout, ModelVersion.training)
             .order_by(ModelVersion.version))
    if only is not None:
        query = query.where(ModelVersion.version == only)
    return [
        VersionSummary(
            version=row.version, trained_at=row.trained_at, algorithm=row.algorithm,
            features=row.features, holdout=row.holdout, training=row.training,
            live=live.get(row.version, NO_OUTCOMES), served=row.version == served)
        for row in session.execute(query)
    ]


def summary(session: Session, version: int) -> VersionSummary:
    found = versions(session, only=version)
    if not found:
        raise NoModelError(f"model version {version} is not in the database")
    return found[0]


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
    features = FEATURES.stored(stored.features)
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
