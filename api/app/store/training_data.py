"""Training data in PostgreSQL: the data set (seeded once from the file, read back in file order)
and the logged predictions that have an outcome."""

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.dataset import LabelledRow, SeedRow
from app.domain.features import FEATURES, CategoricalFeature, Feature, FeatureSet
from app.store.tables import dataset_rows, outcomes, predictions

log = logging.getLogger(__name__)


def seed(session: Session, rows: Sequence[SeedRow], features: FeatureSet = FEATURES,
         table: Table = dataset_rows) -> int:
    """Insert the rows not yet present and bring the inputs of those present up to the file
    (an input added since: its column was empty), in the caller's transaction; returns how
    many rows were new. Rows already equal are not written."""
    values = [{"user_id": row.user_id, "line": row.line, "purchased": row.purchased,
               **{f.dataset_column: row.values[f.name] for f in features}} for row in rows]
    insert_rows = insert(table).values(values)
    columns = [f.dataset_column for f in features]
    statement: Any = insert_rows.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={column: insert_rows.excluded[column] for column in columns},
        where=tuple_(*(table.c[c] for c in columns)).is_distinct_from(
            tuple_(*(insert_rows.excluded[c] for c in columns))),
    ).returning(literal_column("xmax = 0"))  # true for an inserted row, false for an updated
    written: list[bool] = list(session.execute(statement).scalars())
    new = sum(written)
    log.info("seed: %d new rows, %d rows with inputs brought up to the file",
             new, len(written) - new)
    return new


def count_rows(session: Session, table: Table = dataset_rows) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def labelled_rows(session: Session, features: FeatureSet = FEATURES,
                  table: Table = dataset_rows) -> list[LabelledRow]:
    """The training data, from PostgreSQL, in the file order the workshop's split relies on."""
    columns = [table.c[f.dataset_column].label(f.name) for f in features]
    result = session.execute(
        select(table.c.user_id, table.c.purchased, *columns).order_by(table.c.line))
    return [
        LabelledRow(row.user_id, {f.name: row._mapping[f.name] for f in features},
                    row.purchased)
        for row in result
    ]


def outcome_rows(session: Session, features: Sequence[Feature]) -> list[LabelledRow]:
    """Logged predictions that have an outcome, as training rows: their inputs as logged and
    what really happened. Rows without a category the version uses are left out."""
    columns = [predictions.c[f.name] for f in features]
    result = session.execute(
        select(predictions.c.id, outcomes.c.purchased, *columns)
        .join(outcomes, outcomes.c.prediction_id == predictions.c.id)
        .order_by(predictions.c.id))
    rows = [LabelledRow(-row.id, {f.name: row._mapping[f.name] for f in features},
                        row.purchased) for row in result]
    needed = [f.name for f in features if isinstance(f, CategoricalFeature)]
    return [row for row in rows if all(row.values[name] is not None for name in needed)]
