"""COPY's binary form of a big batch (app.store.bulk_log), read back by a parser written from
PostgreSQL's description of the format, and the batches that must go as text instead.
tests/integration/test_log_writer.py stores both forms in a real PostgreSQL."""

import struct
from typing import Any

import pytest
from sqlalchemy import Integer

from app.domain.features import FEATURES, NumericFeature
from app.store.bulk_log import binary_copy_data
from app.store.prediction_log import LogRows

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def read_binary_copy(data: bytes, kinds: list[str]) -> list[tuple[Any, ...]]:
    """Rows of COPY's binary format; `kinds` gives each field's struct code (s: text)."""
    assert data[:11] == SIGNATURE
    flags, extension = struct.unpack_from(">ii", data, 11)
    assert (flags, extension) == (0, 0)
    at, rows = 19, list[tuple[Any, ...]]()
    while True:
        (count,) = struct.unpack_from(">h", data, at)
        at += 2
        if count == -1:
            assert at == len(data), "bytes after the trailer"
            return rows
        assert count == len(kinds)
        row: list[Any] = []
        for kind in kinds:
            (length,) = struct.unpack_from(">i", data, at)
            at += 4
            if length == -1:
                row.append(None)
                continue
            raw = data[at:at + length]
            at += length
            row.append(raw.decode() if kind == "s" else struct.unpack(">" + kind, raw)[0])
        rows.append(tuple(row))


def numbers(n: int) -> LogRows:
    return LogRows(inputs={"age": [0.1 + i for i in range(n)],
                           "salary": [1 / 3 * i for i in range(n)]},
                   purchased=[i % 2 == 0 for i in range(n)],
                   probabilities=[(i * 0.618033988749895) % 1 for i in range(n)],
                   model_version=7)


@pytest.mark.parametrize("request_id", ["req-12345678", None])
def test_each_value_is_read_back_as_its_bits(request_id: str | None) -> None:
    rows = numbers(5)
    ids = [2**62 + i for i in range(5)]
    result = binary_copy_data(ids, rows, request_id, FEATURES)
    assert result is not None
    names, data = result
    assert names == ["id", "age", "salary", "probability", "purchased", "model_version",
                     "request_id"]
    read = read_binary_copy(data, ["q", "d", "d", "d", "?", "i", "s"])
    assert read == [
        (ids[i], rows.inputs["age"][i], rows.inputs["salary"][i], rows.probabilities[i],
         rows.purchased[i], 7, request_id) for i in range(5)]
    # The same floats, bit for bit (== alone would take -0.0 for 0.0).
    assert [row[2].hex() for row in read] == [value.hex() for value in rows.inputs["salary"]]


def test_a_category_goes_as_text() -> None:
    rows = numbers(3)
    rows.inputs["gender"] = ["Male", "Female", "Male"]
    assert binary_copy_data([1, 2, 3], rows, None, FEATURES) is None


def test_a_missing_number_goes_as_text_never_as_nan() -> None:
    """numpy would store None as NaN: the row must keep its NULL, so the batch goes as text."""
    features = FEATURES.with_feature(NumericFeature(
        name="tenure", label="Tenure", unit="years", csv_header="Tenure",
        dataset_column="tenure", dataset_type=Integer(), low=0, high=60, example=3))
    rows = numbers(3)
    rows.inputs["tenure"] = [1.0, None, 2.0]
    assert binary_copy_data([1, 2, 3], rows, None, features) is None
    rows.inputs["tenure"] = [1.0, 0.0, 2.0]
    assert binary_copy_data([1, 2, 3], rows, None, features) is not None
