"""Request ids and the JSON log lines that carry them."""

import importlib
import json
import logging

import pytest

from app.core.logging_config import RequestIdFilter, logging_config
from app.core.request_id import accept_or_make, current_request_id


@pytest.mark.parametrize("incoming", [b"abcd1234", b"A.b_c-9" * 9, b"x" * 64])
def test_a_well_formed_id_is_kept(incoming: bytes) -> None:
    assert accept_or_make(incoming) == incoming.decode()


@pytest.mark.parametrize("incoming", [None, b"", b"short", b"x" * 65, b"has space",
                                      b"semi;colon", b"\xc3\xbcnicode-id", b"new\nline-id"])
def test_anything_else_is_replaced_by_a_fresh_id(incoming: bytes | None) -> None:
    made = accept_or_make(incoming)
    assert len(made) == 32 and made != accept_or_make(incoming)


def formatted(record: logging.LogRecord) -> dict[str, object]:
    config = dict(logging_config("info")["formatters"]["json"])
    module, _, name = config.pop("()").rpartition(".")
    formatter = getattr(importlib.import_module(module), name)(**config)
    RequestIdFilter().filter(record)
    parsed: dict[str, object] = json.loads(formatter.format(record))
    return parsed


def test_a_record_is_one_json_line_with_the_request_id() -> None:
    token = current_request_id.set("req-12345678")
    try:
        record = logging.LogRecord("app.access", logging.INFO, __file__, 1, "request", None,
                                   None)
        record.__dict__.update(status=200, color_message="\x1b[36mrequest\x1b[0m")
        line = formatted(record)
    finally:
        current_request_id.reset(token)
    assert line["request_id"] == "req-12345678"
    assert (line["level"], line["logger"], line["message"], line["status"]) == (
        "INFO", "app.access", "request", 200)
    assert str(line["time"]).endswith("+00:00")  # ISO 8601, UTC, like nginx's
    assert "color_message" not in line


def test_outside_a_request_the_id_is_null() -> None:
    record = logging.LogRecord("app", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    line = formatted(record)
    assert line["message"] == "hello you" and line["request_id"] is None
