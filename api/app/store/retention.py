"""Retention: remove prediction-log rows (and their outcomes) older than a given age.

Run by the owner (`python -m app prune --older-than DAYS`), daily. The log is partitioned by
month (`app.store.partitions`): a month that lies entirely before the cutoff is detached and
dropped whole, which costs the same for a thousand rows or a billion and leaves no dead rows
behind; only the month that straddles the cutoff (and the default partition) has rows
deleted one by one.

It never blocks the writers for long. The detach takes the log's ACCESS EXCLUSIVE lock for a
moment (no check runs under it: the outcomes' rule is kept by triggers, not a foreign key,
see migration 0007); it waits at most `partitions.LOCK_WAIT` for it and gives way to the
writers when it must wait longer, then tries again. Before it, the month's outcomes are
deleted in short transactions, and the last few again under a lock on `outcomes` in the
detaching transaction itself, so no outcome is left naming a dropped row. Row deletes take no
lock an INSERT into the log waits for, cut into transactions of at most CHUNK_ROWS ids each.
Exact: the cutoff is fixed once, at the start, and only rows created before it go, whatever
arrives meanwhile.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection, text

from app.store import partitions
from app.store.partitions import Partition

log = logging.getLogger(__name__)

CHUNK_ROWS = 5_000


class RetentionError(RuntimeError):
    """Nothing to prune from: the schema is missing (run the migrations first)."""

# A prediction's outcomes go with it, in the same transaction (the log's trigger insists).
DELETE_OUTCOMES = """
DELETE FROM outcomes
WHERE prediction_id IN (
    SELECT id FROM predictions WHERE id > :low AND id <= :high AND created_at < :cutoff)
"""
DELETE_PREDICTIONS = """
DELETE FROM predictions WHERE id > :low AND id <= :high AND created_at < :cutoff
"""


def prune(connection: Connection, older_than: timedelta, chunk_rows: int = CHUNK_ROWS) -> int:
    """Remove log rows created more than `older_than` ago; returns how many."""
    if connection.scalar(text("SELECT to_regclass('predictions')")) is None:
        raise RetentionError("there is no predictions table; run `python -m app migrate` first")
    cutoff = connection.scalar(text("SELECT now() - :age"), {"age": older_than})
    whole = [p for p in partitions.partitions(connection) if p.end is not None and p.end <= cutoff]
    connection.commit()
    dropped = sum(drop_partition(connection, p, chunk_rows) for p in whole)
    # What is left before the cutoff: the straddling month and the default partition (the
    # planner prunes every other partition from these statements).
    deleted = delete_rows(connection, cutoff, chunk_rows)
    log.info("prune: %d prediction rows older than %s removed (%d partitions dropped, %d rows "
             "deleted)", dropped + deleted, cutoff, len(whole), deleted)
    return dropped + deleted


def drop_partition(connection: Connection, partition: Partition, chunk_rows: int) -> int:
    """Detach and drop one month entirely before the cutoff; returns its rows."""
    name = partition.name
    # Exact, and not hurried: no writer touches a past month's table or waits for this read.
    connection.execute(text("SELECT set_config('statement_timeout', '0', true)"))
    rows, low, high = connection.execute(text(
        f"SELECT count(*), min(id), max(id) FROM {name}")).one()  # noqa: S608  # catalogue name
    connection.commit()
    month = {"start": partition.start, "end": partition.end}
    if low is not None:
        for position in range(low - 1, high, chunk_rows):
            connection.execute(text(DELETE_MONTH_OUTCOMES), {
                **month, "low": position, "high": min(position + chunk_rows, high)})
            connection.commit()
    partitions.with_lock_retries(
        connection, partial(_detach_and_drop, connection, name, month,
                            {"low": (low or 1) - 1, "high": high or 0}),
        f"prune: drop {name}")
    log.info("prune: partition %s (%s to %s, %d rows) dropped", name, partition.start,
             partition.end, rows)
    return int(rows)


# A month's outcomes, found through their primary key within the month's id range.
DELETE_MONTH_OUTCOMES = """
DELETE FROM outcomes WHERE prediction_id > :low AND prediction_id <= :high
    AND prediction_created_at >= :start AND prediction_created_at < :end
"""


def _detach_and_drop(connection: Connection, name: str, month: dict[str, datetime | None],
                     ids: dict[str, int]) -> None:
    # No outcome may be written for the month between the last delete and the detach.
    connection.execute(text("LOCK TABLE outcomes IN SHARE MODE"))
    connection.execute(text(DELETE_MONTH_OUTCOMES), {**month, **ids})
    connection.execute(text(f"ALTER TABLE predictions DETACH PARTITION {name}"))
    connection.execute(text(f"DROP TABLE {name}"))


def delete_rows(connection: Connection, cutoff: datetime, chunk_rows: int) -> int:
    """Delete the rows created before `cutoff`, in chunks of ids; returns how many."""
    # Ids only grow, so every old row lies in [the oldest old row's id, the newest one's]: the
    # chunks walk that range on the primary key.
    low, high = connection.execute(text(
        "SELECT min(id), max(id) FROM predictions WHERE created_at < :cutoff"),
        {"cutoff": cutoff}).one()
    connection.commit()
    if high is None:
        return 0
    deleted = 0
    position = low - 1
    while position < high:
        bounds = {"low": position, "high": min(position + chunk_rows, high), "cutoff": cutoff}
        # No outcome may arrive for these rows between the two deletes (the log's trigger
        # would refuse the second); outcome writers wait for this short transaction.
        connection.execute(text("LOCK TABLE outcomes IN SHARE MODE"))
        connection.execute(text(DELETE_OUTCOMES), bounds)
        deleted += connection.execute(text(DELETE_PREDICTIONS), bounds).rowcount
        connection.commit()
        position = bounds["high"]
    return deleted
