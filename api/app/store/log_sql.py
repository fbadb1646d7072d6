"""The SQL the prediction log's group writer sends: its two prepared INSERTs and the
PostgreSQL array literals that carry a group's rows (app.store.prediction_log runs them)."""

from typing import Any

import orjson

from app.domain.features import FeatureSet

# One round trip for any number of rows, passed as one array literal per column (PostgreSQL
# parses a '{...}' literal far faster than an ARRAY[...] of 10,000 expressions). Rows enter in
# `ord` order and each takes the next value of the id sequence as it is inserted, so the ids
# in ascending order are the rows' ids in request order. They come back as one array literal:
# one value to transfer and parse instead of 10,000 rows. An input no row gave is passed as
# NULL: unnest pads it with NULLs.
#
# Two forms. A group of several requests looks each row's request id up by its request's
# index (`req`) in a short array of ids, so a 10,000-row batch would send its id once, not
# 10,000 times; a group of one request (every batch on its own, a lone prediction) passes its
# id as one value and no index at all: 7 % less database time for a 10,000-row batch.
# Both are PREPAREd once per connection and EXECUTEd per group: PostgreSQL then skips parsing
# and planning, about a third of its CPU per group (docs/benchmarks.md).
GROUP_STATEMENT = "log_insert"
ONE_REQUEST_STATEMENT = "log_insert_one"


def prepare_sql(features: FeatureSet, *, one_request: bool = False) -> str:
    names = ", ".join(f.name for f in features)
    types = ", ".join(f.array_type for f in features)
    after_inputs = 3 + len(features.names)  # purchased, then probability, then (groups) req
    if one_request:
        head = f"PREPARE {ONE_REQUEST_STATEMENT} (int, text, {types}, bool[], float8[])"
        request_id, index, last = "$2", "", after_inputs + 1
    else:
        head = f"PREPARE {GROUP_STATEMENT} (int, text[], {types}, bool[], float8[], int[])"
        request_id, index, last = "$2[req]", ", req", after_inputs + 2
    arrays = ", ".join(f"${i}" for i in range(3, last + 1))
    return f"""
{head} AS
WITH inserted AS (
    INSERT INTO predictions ({names}, purchased, probability, model_version, request_id)
    SELECT {names}, purchased, probability, $1, {request_id}
    FROM unnest({arrays})
         WITH ORDINALITY AS row({names}, purchased, probability{index}, ord)
    ORDER BY ord
    RETURNING id
)
SELECT array_agg(id ORDER BY id)::text FROM inserted
"""  # noqa: S608  # only identifiers from app.domain.features, checked there


def execute_sql(features: FeatureSet, *, one_request: bool = False) -> str:
    name = ONE_REQUEST_STATEMENT if one_request else GROUP_STATEMENT
    n_parameters = len(features.names) + (4 if one_request else 5)
    return f"EXECUTE {name} ({', '.join(['%s'] * n_parameters)})"


def float_array(values: list[Any]) -> str:
    # orjson writes the shortest text that reads back as the same float (nothing is rounded),
    # twenty times faster than repr: "[1.5,2.0]" becomes the literal "{1.5,2.0}"; None
    # becomes null, which PostgreSQL reads as NULL.
    return "{" + orjson.dumps(values)[1:-1].decode() + "}"


def text_array(values: list[Any]) -> str:
    # Categories are plain words (app.domain.features checks them), so quoting needs no escapes.
    return "{" + ",".join("NULL" if v is None else f'"{v}"' for v in values) + "}"


def bool_array(values: list[bool]) -> str:
    return "{" + ",".join("t" if value else "f" for value in values) + "}"


ARRAY_WRITERS = {"numeric": float_array, "categorical": text_array}


def id_array(values: list[str | None]) -> str:
    # Request ids match [A-Za-z0-9._-]{8,64} (app.core.request_id), so they need no quoting.
    return "{" + ",".join(value or "NULL" for value in values) + "}"


def index_array(counts: list[int]) -> str:
    """1-based request index of every row: [2, 1] -> {1,1,2}."""
    return "{" + ",".join(",".join([str(i)] * n) for i, n in enumerate(counts, 1) if n) + "}"
