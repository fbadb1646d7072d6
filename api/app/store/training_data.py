"""Training data in PostgreSQL: the data set (people added by each seed, read back in the order
they were loaded), the stored holdout and the logged predictions that have an outcome."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from app.domain.dataset import PURCHASED, USER_ID, DatasetError, LabelledRow, SeedRow
from app.domain.features import FEATURES, CategoricalFeature, Feature, FeatureSet
from app.store.tables import dataset_rows, holdout_people, outcomes, predictions


def seed(session: Session, rows: Sequence[SeedRow], features: FeatureSet = FEATURES,
         table: Table = dataset_rows, source: str = "the file") -> int:
    """Load a data set, new or extended, in the caller's transaction; returns how many people
    were new. Rows are people, identified by User ID (not by line): a new person is added
    after the rows already stored (their `line` continues the stored order, in file order),
    a person stored with the same values is kept as is, and a person stored with other
    values refuses the whole file (DatasetError naming the person and the line), so the
    caller's transaction stores nothing. The table is locked against a concurrent seed."""
    session.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))
    stored = {row.user_id: row for row in session.execute(
        select(table).where(table.c.user_id.in_([row.user_id for row in rows])))}
    for row in rows:
        if row.user_id in stored:
            differences = _differences(row, stored[row.user_id]._mapping, features)
            if differences:
                raise DatasetError(
                    f"line {row.line} of {source}: {USER_ID} {row.user_id} is already stored "
                    f"with other values ({'; '.join(differences)}). Seeding adds new people "
                    "and keeps identical ones; it never changes a stored person. Nothing was "
                    "stored.")
    new = [row for row in rows if row.user_id not in stored]
    if not new:
        return 0
    after: int = session.scalar(select(func.coalesce(func.max(table.c.line), 1))) or 1
    values = [{"user_id": row.user_id, "line": after + n, "purchased": row.purchased,
               **{f.dataset_column: row.values[f.name] for f in features}}
              for n, row in enumerate(new, start=1)]
    session.execute(insert(table), values)
    return len(new)


def _differences(row: SeedRow, stored: Mapping[Any, Any], features: FeatureSet) -> list[str]:
    """What differs between a row of the file and the stored row of the same person."""
    pairs = [(f.csv_header, row.values[f.name], stored[f.dataset_column]) for f in features]
    pairs.append((PURCHASED, int(row.purchased), int(stored["purchased"])))
    return [f"{name} {_shown(old)} stored, {_shown(given)} in the file"
            for name, given, old in pairs if not _same(given, old)]


def _same(given: Any, stored: Any) -> bool:
    if given is None or stored is None:
        return given is stored
    if isinstance(given, str) or isinstance(stored, str):
        return bool(given == stored)
    return float(given) == float(stored)


def _shown(value: Any) -> str:
    return "blank" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def holdout_ids(session: Session) -> list[int]:
    """The stored holdout's User IDs, in the workshop's order (migration 0005)."""
    return list(session.scalars(select(holdout_people.c.user_id)
                                .order_by(holdout_people.c.position)))


def count_rows(session: Session, table: Table = dataset_rows) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def labelled_rows(session: Session, features: FeatureSet = FEATURES,
                  table: Table = dataset_rows) -> list[LabelledRow]:
    """The data set, from PostgreSQL, in the order its rows were loaded."""
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
