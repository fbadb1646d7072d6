"""Retention: delete prediction-log rows (and their outcomes) older than a given age.

Run by the owner (`python -m app prune --older-than DAYS`), daily. It never blocks the
writers: the log's INSERTs take no lock a DELETE of other rows waits for, and the work is cut
into short transactions of at most CHUNK_ROWS ids each, so no transaction holds many row locks
or much WAL for long. Exact: the cutoff is fixed once, at the start, and only rows created
before it are deleted, whatever arrives meanwhile.
"""

import logging
from datetime import timedelta

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)

CHUNK_ROWS = 5_000


class RetentionError(RuntimeError):
    """Nothing to prune from: the schema is missing (run the migrations first)."""

# The outcomes table (issue: live accuracy) refers to predictions by `prediction_id`; when it
# exists, a prediction's outcomes go with it, in the same transaction.
DELETE_OUTCOMES = """
DELETE FROM outcomes
WHERE prediction_id IN (
    SELECT id FROM predictions WHERE id > :low AND id <= :high AND created_at < :cutoff)
"""
DELETE_PREDICTIONS = """
DELETE FROM predictions WHERE id > :low AND id <= :high AND created_at < :cutoff
"""


def prune(connection: Connection, older_than: timedelta, chunk_rows: int = CHUNK_ROWS) -> int:
    """Delete log rows created more than `older_than` ago; returns how many."""
    if connection.scalar(text("SELECT to_regclass('predictions')")) is None:
        raise RetentionError("there is no predictions table; run `python -m app migrate` first")
    cutoff = connection.scalar(text("SELECT now() - :age"), {"age": older_than})
    # Ids only grow, so every old row lies in [min(id), the newest old row's id]: the chunks
    # walk that range on the primary key. One pass over the table finds its upper end.
    low, high = connection.execute(text(
        "SELECT (SELECT min(id) FROM predictions),"
        " (SELECT max(id) FROM predictions WHERE created_at < :cutoff)"),
        {"cutoff": cutoff}).one()
    has_outcomes = bool(connection.scalar(text("SELECT to_regclass('outcomes') IS NOT NULL")))
    connection.commit()
    if high is None:
        return 0
    deleted = 0
    position = low - 1
    while position < high:
        bounds = {"low": position, "high": min(position + chunk_rows, high), "cutoff": cutoff}
        if has_outcomes:
            connection.execute(text(DELETE_OUTCOMES), bounds)
        deleted += connection.execute(text(DELETE_PREDICTIONS), bounds).rowcount
        connection.commit()
        position = bounds["high"]
    log.info("prune: %d prediction rows older than %s deleted", deleted, cutoff)
    return deleted
