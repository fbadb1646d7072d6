"""Bodies that Python's json module would accept but the API must refuse."""

import json

import pytest

from app.web.strict_json import parse_json


@pytest.mark.parametrize(
    "body",
    [
        b'{"age": NaN, "salary": 1}',
        b'{"age": Infinity, "salary": 1}',
        b'{"age": -Infinity, "salary": 1}',
        b'{"age": 1e400, "salary": 1}',
        b'{"age": 30, "age": 31, "salary": 1}',
        b'{"age": ' + b"9" * 5000 + b', "salary": 1}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"age": 30, "salary": 1',
        b"\xff\xfe",
        '{"age": 30, "salary": 1}'.encode("utf-16"),
        b'\xef\xbb\xbf{"age": 30, "salary": 1}',
    ],
    ids=["nan", "inf", "-inf", "1e400", "duplicate-key", "5000-digit-int", "deep-nesting",
         "truncated", "not-utf8", "utf-16", "bom"],
)
def test_refused_as_a_decode_error(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_json(body)


def test_ordinary_json_passes() -> None:
    assert parse_json(b'{"age": 30, "salary": 87000.5}') == {"age": 30, "salary": 87000.5}
