"""Training data in PostgreSQL: the data set (people added by each seed, read back in the order
they were loaded), the stored holdout and the logged predictions that have an outcome."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.orm import Session

from app.domain.dataset import PURCHASED, USER_ID, DatasetError, LabelledRow, SeedRow
from app.domain.features import FEATURES, CategoricalFeature, Feature, FeatureSet
from app.store.tables import dataset_rows, holdout_people, outcomes, predictions

log = logging.getLogger(__name__)


def seed(session: Session, rows: Sequence[SeedRow], features: FeatureSet = FEATURES,
         table: Table = dataset_rows, source: str = "the file") -> int:
    """Load a data set, new or extended, in the caller's transaction; returns how many people
    were new. Rows are people, identified by User ID (not by line):
    - a new person is added after the rows already stored (`line` continues the stored
      order, in file order);
    - a person stored with the same values is kept; an input stored blank that the file
      gives (an input added since, whose column was empty) is filled from the file;
    - a person stored with another value refuses the whole file (DatasetError naming the
      person, the line and the difference): the caller's transaction stores nothing.
    The table is locked against a concurrent seed."""
    session.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))
    stored = {row.user_id: row._mapping for row in session.execute(
        select(table).where(table.c.user_id.in_([row.user_id for row in rows])))}
    fills = []
    for row in rows:
        if row.user_id in stored:
            fill, conflicts = _compare(row, stored[row.user_id], features)
            if conflicts:
                raise DatasetError(
                    f"line {row.line} of {source}: {USER_ID} {row.user_id} is already stored "
                    f"with other values ({'; '.join(conflicts)}). Seeding adds new people, "
                    "keeps identical ones and fills blank inputs; it never changes a stored "
                    "value. Nothing was stored.")
            if fill:
                fills.append({"key": row.user_id, **fill})
    new = [row for row in rows if row.user_id not in stored]
    if new:
        after: int = session.scalar(select(func.coalesce(func.max(table.c.line), 1))) or 1
        session.execute(insert(table), [
            {"user_id": row.user_id, "line": after + n, "purchased": row.purchased,
             **{f.dataset_column: row.values[f.name] for f in features}}
            for n, row in enumerate(new, start=1)])
    for fill in fills:  # few (a column added since), each its own columns
        key = fill.pop("key")
        session.execute(update(table).where(table.c.user_id == key).values(fill))
    log.info("seed: %d new rows, %d rows with inputs brought up to the file",
             len(new), len(fills))
    return len(new)


def _compare(row: SeedRow, stored: Mapping[Any, Any], features: FeatureSet
             ) -> tuple[dict[str, Any], list[str]]:
    """(the stored-blank columns the file fills, what else differs) for one person."""
    fill: dict[str, Any] = {}
    conflicts = []
    pairs = [(f.csv_header, f.dataset_column, row.values[f.name], stored[f.dataset_column])
             for f in features]
    pairs.append((PURCHASED, "purchased", int(row.purchased), int(stored["purchased"])))
    for name, column, given, old in pairs:
        if old is None and given is not None:
            fill[column] = given
        elif not _same(given, old):
            conflicts.append(f"{name} {_shown(old)} stored, {_shown(given)} in the file")
    return fill, conflicts


def _same(given: Any, stored: Any) -> bool:
    if given is None or stored is None:
        return given is stored
    if isinstance(given, str) or isinstance(stored, str):
        return bool(given == stored)
    return float(given) == float(stored)


def _shown(value: Any) -> str:
    return "blank" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def holdout_ids(session: Session) -> list[int]:
    """The stored holdout's User IDs, in the workshop's order (migration 0006)."""
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
