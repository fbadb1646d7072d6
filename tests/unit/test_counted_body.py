"""The hot routes' one-pass validation (app.web.strict_json.validate_counted) takes a body only
when the strict steps (strict parser, then the model) would take it with the same value, and
never one with a repeated key: pydantic's JSON parsing keeps the last of repeated keys, so the
count of ':' in the text against the validated pairs is what refuses them."""

import json
import random
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.domain.features import FEATURES, CategoricalFeature, NumericFeature
from app.web.schemas import BatchPredictRequest, CountedBody, PredictRequest
from app.web.strict_json import parse_json_strictly, validate_counted
from tests.support.json_values import typed

SPACES = ["", " ", "  ", "\t", "\n", "\r\n "]


def number_text(rng: random.Random, feature: NumericFeature) -> str:
    value = rng.uniform(feature.low - 1, feature.high + 1)  # sometimes out of bounds
    form = rng.random()
    if form < 0.3:
        return str(round(value))
    if form < 0.5:
        return f"{value:.{rng.randint(0, 25)}f}"
    if form < 0.7:
        return f"{value:.{rng.randint(0, 20)}e}".replace("e", rng.choice("eE"))
    if form < 0.75:
        return rng.choice(["-0", "0.0", "-0.0", "0e5", "1" + "0" * rng.randint(0, 120)])
    return repr(value)


def key_text(rng: random.Random, name: str) -> str:
    # Sometimes a letter written as a \\u escape: the same key to JSON, other bytes to count.
    if rng.random() < 0.2:
        at = rng.randrange(len(name))
        name = name[:at] + f"\\u{ord(name[at]):04x}" + name[at + 1:]
    return f'"{name}"'


def row_text(rng: random.Random) -> str:
    pairs = []
    for feature in FEATURES:
        if not feature.core and rng.random() < 0.5:
            continue
        if isinstance(feature, CategoricalFeature):
            value = f'"{rng.choice([*feature.categories, "robot", "Male:"])}"'
        else:
            assert isinstance(feature, NumericFeature)
            value = number_text(rng, feature)
        pairs.append((key_text(rng, feature.name), value))
    if rng.random() < 0.15:  # a repeated key, with the same value or another
        key, value = rng.choice(pairs)
        pairs.insert(rng.randrange(len(pairs) + 1), (key, rng.choice([value, "42"])))
    if rng.random() < 0.03:
        pairs.append(('"colour"', '"red"'))
    rng.shuffle(pairs)

    def space() -> str:
        return rng.choice(SPACES)

    return "{" + space() + ",".join(f"{space()}{k}{space()}:{space()}{v}{space()}"
                                    for k, v in pairs) + "}"


def batch_text(rng: random.Random) -> str:
    rows = ",".join(row_text(rng) for _ in range(rng.randint(1, 4)))
    text = '{"rows": [' + rows + "]}"
    if rng.random() < 0.05:  # "rows" itself repeated
        text = '{"rows": [' + row_text(rng) + "], " + text[1:]
    return text


def reference(model: type[BaseModel], body: bytes) -> object:
    """What the strict steps make of the body: the validated value, or "refused"."""
    try:
        return typed(model.model_validate(parse_json_strictly(body)).model_dump())
    except (json.JSONDecodeError, ValidationError):
        return "refused"


@pytest.mark.parametrize(("model", "make"), [(PredictRequest, row_text),
                                             (BatchPredictRequest, batch_text)],
                         ids=["one row", "batch"])
def test_one_pass_takes_only_what_the_strict_steps_take(model: type[CountedBody],
                                                         make: Any) -> None:
    rng = random.Random(31)
    adapter = TypeAdapter(model)
    taken = counted_out = 0
    for _ in range(8_000):
        body = make(rng).encode()
        fast = validate_counted(adapter, body)
        if fast is None:
            try:
                adapter.validate_json(body)
                counted_out += 1  # pydantic took it; only the count of ':' refused it
            except ValidationError:
                pass
            continue
        taken += 1
        assert typed(fast.model_dump()) == reference(model, body), body
    # Both kinds of body were there: taken in one pass, and refused by the count alone.
    assert taken > 2_000 and counted_out > 300, (taken, counted_out)


@pytest.mark.parametrize("body", [
    b'{"age": 30, "age": 31, "salary": 1}',
    b'{"age": 30, "salary": 1, "\\u0061ge": 30}',
    b'{"rows": [{"age": 30, "salary": 1, "salary": 2}]}',
    b'{"rows": [{"age": 30, "salary": 1}], "rows": [{"age": 30, "salary": 1}]}',
])
def test_a_repeated_key_is_never_taken(body: bytes) -> None:
    model = BatchPredictRequest if body.startswith(b'{"rows"') else PredictRequest
    adapter = TypeAdapter(model)
    adapter.validate_json(body)  # pydantic alone takes it (the last value wins)
    taken = validate_counted(adapter, body)
    assert taken is None, f"a repeated key taken in one pass: {body!r} as {taken!r}"
