"""The prediction log's monthly partitions (migration 0007): list them, create them ahead.

`predictions` is partitioned by range on `created_at`, one partition per calendar month in UTC,
named `predictions_yYYYYmMM`, plus `predictions_default`, which takes any row no month holds,
so an INSERT never fails for want of a partition. The migrate service (`python -m app
migrate`, prestart) and the daily `prune` keep the current month and MONTHS_AHEAD more ready.

A month is created as a table of its own and then ATTACHed: ATTACH takes only a SHARE UPDATE
EXCLUSIVE lock on the log, which the writers' INSERTs do not wait for (CREATE TABLE ...
PARTITION OF would take an ACCESS EXCLUSIVE one). If the default partition already holds rows
of that month (nobody created it in time), they move into it in the same transaction, with
their ids and created_at, so their outcomes still name them. The app role needs no grant on a
partition: PostgreSQL checks the privileges of the table named in the query, the parent, and
the role never names a partition.
"""

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

MONTHS_AHEAD = 2
DEFAULT_PARTITION = "predictions_default"
# The names this module gives, for tools that compare the schema with app.store.tables.
PARTITION_NAME = re.compile(r"predictions_(y\d{4}m\d{2}|default)")
# Serialises partition changes between prestart, migrate and prune running at the same time.
PARTITION_LOCK_ID = 0x50C1A1AD6
# A change that needs a lock the writers use waits at most this long for it, then gives way
# and tries again, so writers never queue behind it for longer.
LOCK_WAIT = "500ms"
LOCK_ATTEMPTS = 20
LOCK_NOT_AVAILABLE = "55P03"

# Each partition of the log with its bounds, read back from the catalogue (the bounds are
# printed and parsed in the same session's time zone, so the round trip is exact).
PARTITIONS_SQL = r"""
SELECT c.relname,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\)'))[1]
           ::timestamptz AS start,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']*)''\)'))[1]
           ::timestamptz AS "end"
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass('predictions')
ORDER BY start NULLS LAST, c.relname
"""


def include_name(name: str | None, type_: str, _: object) -> bool:
    """Alembic's filter: the partitions are made at run time, not declared in app.store.tables."""
    return not (type_ == "table" and name is not None and PARTITION_NAME.fullmatch(name))




@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None for the default partition
    end: datetime | None


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"predictions_y{start:%Y}m{start:%m}"


def bound(moment: datetime) -> str:
    """A timestamptz literal for DDL (bounds cannot be bind parameters)."""
    return f"'{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def partitions(connection: Connection) -> list[Partition]:
    return [Partition(*row) for row in connection.execute(text(PARTITIONS_SQL))]


def is_partitioned(connection: Connection) -> bool:
    return bool(connection.scalar(text(
        "SELECT EXISTS (SELECT FROM pg_partitioned_table"
        " WHERE partrelid = to_regclass('predictions'))")))


T = TypeVar("T")


def with_lock_retries(connection: Connection, work: Callable[[], T], what: str) -> T:
    """Run `work` in one transaction whose lock waits are short, again while a lock is busy."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            connection.execute(text("SELECT set_config('lock_timeout', :wait, true)"),
                               {"wait": LOCK_WAIT})
            result = work()
            connection.commit()
            return result
        except DBAPIError as error:
            connection.rollback()
            if getattr(error.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            log.info("%s: a lock is busy (attempt %d), trying again", what, attempt)
            time.sleep(0.1 * attempt)
    raise TimeoutError(f"{what}: the log's lock stayed busy through {LOCK_ATTEMPTS} attempts")


def ensure_ahead(connection: Connection, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the default partition and the months from now to `months_ahead` ahead where
    missing; returns the names created. Idempotent; run by the owner."""
    if not is_partitioned(connection):
        return []  # the log is not partitioned before migration 0007
    now = connection.scalar(text("SELECT now()"))
    connection.commit()
    created = []
    if not any(p.start is None for p in partitions(connection)):
        with_lock_retries(connection, lambda: connection.execute(text(
            f"CREATE TABLE IF NOT EXISTS {DEFAULT_PARTITION} PARTITION OF predictions DEFAULT")),
            "create the default partition")
        created.append(DEFAULT_PARTITION)
    connection.commit()
    first = month_start(now)
    for months in range(months_ahead + 1):
        start = add_months(first, months)
        if create_month(connection, start):
            created.append(partition_name(start))
    if created:
        log.info("partitions created: %s", ", ".join(created))
    return created


def create_month(connection: Connection, start: datetime) -> bool:
    """Create the month beginning at `start` unless it exists; True if it was created."""
    return with_lock_retries(connection, partial(_create_month, connection, start),
                             f"create {partition_name(start)}")


def _create_month(connection: Connection, start: datetime) -> bool:
    name, end = partition_name(start), add_months(start, 1)
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PARTITION_LOCK_ID})
    if any(p.name == name for p in partitions(connection)):
        return False
    connection.execute(text(
        f"CREATE TABLE {name} (LIKE predictions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    has_default = any(p.start is None for p in partitions(connection))
    strays = has_default and connection.scalar(text(
        f"SELECT EXISTS (SELECT FROM {DEFAULT_PARTITION}"  # noqa: S608  # this module's name
        " WHERE created_at >= :start AND created_at < :end)"), {"start": start, "end": end})
    if strays:
        _adopt_from_default(connection, name, start, end)
    connection.execute(text(
        f"ALTER TABLE predictions ATTACH PARTITION {name}"
        f" FOR VALUES FROM ({bound(start)}) TO ({bound(end)})"))
    return True


def _adopt_from_default(connection: Connection, name: str, start: datetime,
                        end: datetime) -> None:
    """Move the month's rows from the default partition into `name` (not attached yet)."""
    moved = connection.execute(text(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION}"  # noqa: S608  # names from this module
        " WHERE created_at >= :start AND created_at < :end RETURNING *)"
        f" INSERT INTO {name} SELECT * FROM moved"), {"start": start, "end": end}).rowcount
    log.warning("%d rows of %s moved out of the default partition", moved, name)
