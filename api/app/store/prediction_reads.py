"""Reads of the prediction log and writes of outcomes, for the routes and drift (the log's own
writer is `app.store.prediction_log`)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain.features import Feature
from app.store.tables import outcomes, predictions

FOREIGN_KEY_VIOLATION = "23503"


class UnknownPredictionError(LookupError):
    """An outcome for a prediction id the log does not hold."""


def recent_predictions(engine: Engine, limit: int) -> list[dict[str, Any]]:
    """The newest rows of the log, newest first."""
    with Session(engine) as session:
        rows = session.execute(
            select(predictions).order_by(predictions.c.id.desc()).limit(limit))
        return [dict(row._mapping) for row in rows]


def recent_inputs(session: Session, model_version: int, features: Sequence[Feature],
                  window: int) -> list[dict[str, Any]]:
    """The newest `window` logged inputs of a version (for drift)."""
    # Newest first by the primary key (ids only grow): no extra index on the log.
    rows = session.execute(
        select(*(predictions.c[f.name] for f in features))
        .where(predictions.c.model_version == model_version)
        .order_by(predictions.c.id.desc())
        .limit(window)
    )
    return [dict(row._mapping) for row in rows]


def record_outcome(engine: Engine, prediction_id: int, purchased: bool,
                   recorded_at: datetime) -> bool:
    """True if stored, False if the prediction already had one. The app role may only INSERT
    outcomes: ON CONFLICT DO NOTHING tells a repeat without reading the table, and the
    foreign key tells an unknown id (UnknownPredictionError)."""
    statement = insert(outcomes).values(
        prediction_id=prediction_id, purchased=purchased, recorded_at=recorded_at,
    ).on_conflict_do_nothing()
    try:
        with engine.begin() as connection:
            inserted = connection.execute(statement).rowcount
    except IntegrityError as error:
        if getattr(error.orig, "pgcode", None) == FOREIGN_KEY_VIOLATION:
            raise UnknownPredictionError(prediction_id) from None
        raise
    return bool(inserted)
