"""Bodies that Python's json module would accept but the API must refuse."""

import json
import random
from collections.abc import Callable

import jiter
import pytest

from app.web.strict_json import may_overflow, parse_json, parse_json_strictly
from tests.support.json_values import typed


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


# --- the fast path (jiter) answers exactly as the strict parser does ------------------------

SEEDS = [
    b'{"age": 30, "salary": 87000.5}',
    b'{"age": 30.25, "salary": 1e5, "gender": "Female"}',
    b'{"rows": [{"age": 18, "salary": 15000}, {"age": 59.5, "salary": 149999.99}]}',
    b'{"a": [1, -2.0, 3e-5, 0.1, -0, 123456789012345678901234567890], "b": {"c": null}}',
    b'{"s": "caf\\u00e9 \\ud83d\\ude00 \\" \\\\ \\n", "t": true, "f": false}',
    b'[{"x": 1}, {"x": 2, "y": [[], {}]}]',
]
# Bytes that change what a body means: structure, numbers, escapes, literals, bad UTF-8.
ALPHABET = [*b'"\\{}[],:eE-+.0123456789unNaIfl \t\n', 0x00, 0xFF, 0xC3, 0xA9, 0xED]


def outcome(parse: Callable[[bytes], object], body: bytes) -> object:
    try:
        return typed(parse(body))
    except json.JSONDecodeError:
        return "refused"


def mutations(n: int, seed: int = 19) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    for _ in range(n):
        body = bytearray(rng.choice(SEEDS))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            operation = rng.random()
            if operation < 0.4:
                body[at:at] = bytes([rng.choice(ALPHABET)])
            elif operation < 0.7 and at < len(body):
                body[at] = rng.choice(ALPHABET)
            else:
                del body[at:at + rng.randint(1, 3)]
        bodies.append(bytes(body))
    return bodies


def number_literals(n: int, seed: int = 20) -> list[bytes]:
    rng = random.Random(seed)
    literals = []
    for _ in range(n):
        # Mostly ordinary lengths; some near the limits (hundreds of digits, 3-digit exponents).
        length = rng.randint(1, 25) if rng.random() < 0.9 else rng.randint(90, 400)
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        point = rng.randint(0, len(digits))
        text = (digits[:point] or "0") + ("." + digits[point:] if digits[point:] else "")
        if rng.random() < 0.5:
            largest = 99 if rng.random() < 0.8 else 400
            text += f"{rng.choice('eE')}{rng.choice(['', '-', '+'])}{rng.randint(0, largest)}"
        literals.append(f'{{"x": {rng.choice(["", "-"])}{text}}}'.encode())
    return literals


@pytest.mark.parametrize("bodies", [mutations(20_000), number_literals(20_000)],
                         ids=["mutated-bodies", "number-literals"])
def test_the_fast_path_answers_as_the_strict_parser(bodies: list[bytes]) -> None:
    answered_fast = 0
    for body in bodies:
        assert outcome(parse_json, body) == outcome(parse_json_strictly, body), body
        if not may_overflow(body):
            try:
                jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True)
                answered_fast += 1
            except ValueError:
                pass
    # Both kinds of answer were compared: the fast path's and the strict parser's.
    assert 0.1 * len(bodies) < answered_fast < len(bodies)


def test_a_batch_takes_the_fast_path() -> None:
    body = json.dumps({"rows": [{"age": 30 + i % 30, "salary": 1000.5 * i, "gender": "Female"}
                                for i in range(10_000)]}).encode()
    assert not may_overflow(body)
    assert typed(parse_json(body)) == typed(parse_json_strictly(body))


@pytest.mark.parametrize("body", [
    b'{"x": 1e308}', b'{"x": 1e309}', b'{"x": 1E+0309}', b'{"x": -1e-400}', b'{"x": "e999"}',
    b'{"x": 1' + b"0" * 308 + b'}', b'{"x": 1' + b"0" * 320 + b'.0}',
    b'{"x": 1' + b"0" * 300 + b'e20}', b'{"x": 0.' + b"0" * 99 + b'1}',
])
def test_a_number_that_may_overflow_takes_the_strict_parser(body: bytes) -> None:
    assert may_overflow(body)
    assert outcome(parse_json, body) == outcome(parse_json_strictly, body)
