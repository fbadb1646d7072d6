"""Big batches into the prediction log with COPY (app.store.prediction_log writes the rest).

The group writer's INSERT ... SELECT FROM unnest inserts its rows one by one: a WAL record and
an index entry each. COPY fills whole pages at a time, so PostgreSQL writes a 10,000-row batch
in about 17 ms instead of 29 (docs/benchmarks.md, issue 19). psycopg2 cannot COPY in its
asynchronous mode, so a batch of `BULK_MIN_ROWS` rows or more is written from the worker's
thread pool, on a connection of its pool, in one transaction: its ids first (one statement
takes them from the sequence, ascending, so in request order), then COPY with those ids, then
COMMIT. As for every write, the answer leaves only after the COMMIT; and once the request's
time is up (it answered 503) the transaction is rolled back instead, so a retry never finds
the rows stored twice.

COPY's data goes in its binary format when every input given is a number in every row (the
common batch), else in its text format: a category has no fixed width in numpy's records, and a
missing number would become NaN there. Binary is built by numpy in one record array and
spares PostgreSQL the parsing of every value: 10,000 rows 4.8 -> 2.3 ms to build, 21.8 -> 18.1
ms in PostgreSQL (docs/benchmarks.md, issue 19).
"""

import io
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import orjson

from app.domain.features import FeatureSet

# Where COPY starts to pay (its two extra round trips and the hand-off to a thread against the
# group writer's INSERT): with COPY's text format, 1,000 rows 4.3 ms against 3.4, 3,000 rows
# 8.3 against 9.3; with its binary format, through the thread pool, 1,000 rows 6.7 against 6.5,
# 1,500 rows 8.2 against 8.4, 2,000 rows 8.5 against 11.1 (docs/benchmarks.md, issue 19).
BULK_MIN_ROWS = 2_000

IDS_SQL = ("SELECT array_agg(id ORDER BY id)::text FROM"
           " (SELECT nextval('predictions_id_seq') AS id FROM generate_series(1, %s)) AS ids")

NULL = b"\\N"  # COPY's text format for NULL


class DeadlinePassedError(TimeoutError):
    """The request already answered 503: its rows were rolled back, not committed."""


class Rows(Protocol):
    """The rows of one request, column by column (app.store.prediction_log.LogRows)."""

    inputs: dict[str, list[Any]]
    purchased: list[bool]
    probabilities: list[float]
    model_version: int

    def __len__(self) -> int: ...


def number_fields(values: Sequence[Any]) -> list[bytes]:
    # Floats, and the ids (ints): orjson writes an int as itself, a float as the shortest text
    # that reads back as the same float (as the group writer's arrays do), and None as null.
    text = orjson.dumps(values)
    fields = text[1:-1].split(b",")
    if b"null" not in text:
        return fields
    return [NULL if field == b"null" else field for field in fields]


def text_fields(values: Sequence[Any]) -> list[bytes]:
    # Categories are plain words (app.domain.features checks them): nothing to escape.
    encoded = {value: value.encode() for value in set(values) if value is not None}
    encoded[None] = NULL
    return [encoded[value] for value in values]


FIELD_WRITERS: dict[str, Callable[[Sequence[Any]], list[bytes]]] = {
    "numeric": number_fields, "categorical": text_fields}


def copy_data(ids: list[int], rows: Rows, request_id: str | None,
              features: FeatureSet) -> tuple[list[str], bytes]:
    """The columns and COPY's text for these rows: one line per row, tab-separated. An input
    no row gave is left out (NULL); request ids match [A-Za-z0-9._-] (app.core.request_id)."""
    names = ["id"]
    columns = [number_fields(ids)]
    for feature in features:
        values = rows.inputs.get(feature.name)
        if values is not None:
            names.append(feature.name)
            columns.append(FIELD_WRITERS[feature.kind](values))
    names.append("probability")
    columns.append(number_fields(rows.probabilities))
    # What follows on each line takes one of two values: purchased or not, then the constants.
    names += ["purchased", "model_version", "request_id"]
    rest = b"%d\t%s\n" % (rows.model_version, request_id.encode() if request_id else NULL)
    purchased, not_purchased = b"t\t" + rest, b"f\t" + rest
    columns.append([purchased if value else not_purchased for value in rows.purchased])
    # Every field of every line in one list, a tab between each two, joined once: slice
    # assignments and one join take no Python step per row (6.2 ms to 4.2 for 10,000 rows
    # against a tab-join per line).
    width = 2 * len(columns) - 1
    fields = [b"\t"] * (len(rows) * width)
    for position, column in enumerate(columns):
        fields[2 * position::width] = column
    return names, b"".join(fields)


# COPY's binary format: a signature, flags and header-extension length; each row its number
# of fields, then each field's length in bytes and its bytes, big-endian (-1: NULL, no bytes);
# a field count of -1 ends the data.
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
BINARY_TRAILER = struct.pack(">h", -1)
# The log's column types (app.store.tables): numeric inputs and the probability are
# `double precision` (NumericFeature.log_type), hence float8.
FLOAT8, INT8, INT4, BOOL = ">f8", ">i8", ">i4", "u1"


def record_type(layout: list[tuple[str, str]]) -> np.dtype[np.void]:
    """One row as COPY reads it: the field count, then each field's length before its bytes."""
    fields: list[tuple[str, str]] = [("fields", ">i2")]
    for name, kind in layout:
        fields += [(f"{name}_length", ">i4"), (name, kind)]
    return np.dtype(fields)


def binary_copy_data(ids: list[int], rows: Rows, request_id: str | None,
                     features: FeatureSet) -> tuple[list[str], bytes] | None:
    """The columns and COPY's binary data for these rows, or None when they must go as text
    (copy_data): numpy's records have one width, so a category (text of varying length)
    cannot go in them, and a missing input (None) would silently become NaN there.
    Each value goes as its exact bits, so the rows stored are those the text would store."""
    numbers = [f.name for f in features if f.name in rows.inputs]
    if any(features[name].kind != "numeric" or None in rows.inputs[name] for name in numbers):
        return None
    rid = request_id.encode() if request_id else b""  # none: NULL (length -1), no bytes
    layout = [("id", INT8), *((name, FLOAT8) for name in numbers), ("probability", FLOAT8),
              ("purchased", BOOL), ("model_version", INT4), ("request_id", f"S{len(rid)}")]
    data = np.empty(len(rows), dtype=record_type(layout))
    data["fields"] = len(layout)
    for name, kind in layout:
        data[f"{name}_length"] = np.dtype(kind).itemsize
    data["request_id_length"] = len(rid) if request_id else -1
    data["id"] = ids
    for name in numbers:
        data[name] = rows.inputs[name]
    data["probability"] = rows.probabilities
    data["purchased"] = rows.purchased
    data["model_version"] = rows.model_version
    data["request_id"] = rid
    return [name for name, _ in layout], BINARY_HEADER + data.tobytes() + BINARY_TRAILER


def copy_rows(connection: Any, rows: Rows, request_id: str | None, features: FeatureSet,
              deadline: float) -> list[int]:
    """Write the rows on this psycopg2 connection (not autocommit) and commit; their ids.
    Past `deadline` (time.monotonic) the request has answered 503, so nothing is committed:
    a client that retries must not find its rows stored twice."""
    if time.monotonic() >= deadline:
        raise DeadlinePassedError("the request's time was up before the write began")
    with connection.cursor() as cursor:
        cursor.execute(IDS_SQL, (len(rows),))
        [(ids_text,)] = cursor.fetchall()
        ids: list[int] = orjson.loads("[" + ids_text[1:-1] + "]")
        binary = binary_copy_data(ids, rows, request_id, features)
        names, data = binary or copy_data(ids, rows, request_id, features)
        form = " (FORMAT binary)" if binary else ""
        # Only identifiers from app.domain.features and this module.
        cursor.copy_expert(f"COPY predictions ({', '.join(names)}) FROM STDIN{form}",
                           io.BytesIO(data))
    if time.monotonic() >= deadline:
        connection.rollback()
        raise DeadlinePassedError("the request's time was up before the commit")
    connection.commit()
    return ids
