"""Exact figures of the pure modules (features, drift, strict JSON, request ids): what the
mutation run (`make mutation`, docs/mutation.md) showed the other tests left unchecked."""

import asyncio
import json
import math
from typing import Any

import numpy as np
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Double, Integer, SmallInteger, String

from app.core.request_id import accept_or_make
from app.domain import drift
from app.domain.features import (
    DEFAULT_FEATURES,
    FEATURES,
    CategoricalFeature,
    FeatureSet,
    NumericFeature,
    describe,
)
from app.domain.scorer import Scorer
from app.web.strict_json import StrictJSONRequest, StrictJSONRoute, parse_json

# --- features: the declared inputs, as the README and docs/api.md state them -----------------


def test_the_declared_inputs_are_the_documented_ones() -> None:
    assert describe(FEATURES.features, ["age", "salary"]) == [
        {"name": "age", "kind": "numeric", "label": "Age", "required": True, "example": 30,
         "unit": "years", "min": 0, "max": 120},
        {"name": "salary", "kind": "numeric", "label": "Salary", "required": True,
         "example": 87_000, "unit": "estimated, per year", "min": 0, "max": 10_000_000},
        {"name": "gender", "kind": "categorical", "label": "Gender", "required": False,
         "example": "Male", "categories": ["Female", "Male"]},
    ]
    assert FEATURES.names == ("age", "salary", "gender")
    assert FEATURES.core == ("age", "salary") == DEFAULT_FEATURES


def test_each_input_has_its_csv_and_database_columns() -> None:
    columns = {f.name: (f.csv_header, f.dataset_column, f.kind, f.core) for f in FEATURES}
    assert columns == {"age": ("Age", "age", "numeric", True),
                       "salary": ("EstimatedSalary", "estimated_salary", "numeric", True),
                       "gender": ("Gender", "gender", "categorical", False)}
    age, salary, gender = FEATURES
    assert isinstance(age.dataset_type, SmallInteger) and isinstance(salary.dataset_type, Integer)
    assert isinstance(age.log_type, Double) and age.array_type == "float8[]"
    assert isinstance(age, NumericFeature) and age.whole is True
    assert isinstance(gender.dataset_type, String) and gender.dataset_type.length == 16
    assert isinstance(gender.log_type, String) and gender.log_type.length == 16
    assert gender.array_type == "text[]"


def test_select_keeps_the_catalogue_order_and_needs_the_core_inputs() -> None:
    assert [f.name for f in FEATURES.select([" gender", "salary ", "age", ""])] == [
        "age", "salary", "gender"]
    with pytest.raises(ValueError, match=r"^unknown feature\(s\) height, weight; known: age, "
                                         r"salary, gender$"):
        FEATURES.select(["age", "salary", "weight", "height"])
    with pytest.raises(ValueError, match=r"^every version uses salary$"):
        FEATURES.select(["age"])
    assert FEATURES["salary"].name == "salary"
    with pytest.raises(KeyError):
        FEATURES["height"]


def numeric(name: str = "height", column: str = "height", low: float = 0, high: float = 3,
            example: float = 1) -> NumericFeature:
    return NumericFeature(name=name, label="Height", unit="m", csv_header="Height",
                          dataset_column=column, dataset_type=Double(), low=low, high=high,
                          example=example)


def categorical(categories: tuple[str, ...], example: str) -> CategoricalFeature:
    return CategoricalFeature(name="colour", label="Colour", csv_header="Colour",
                              dataset_column="colour", categories=categories, example=example)


@pytest.mark.parametrize(("features", "message"), [
    ((numeric(), numeric()), r"^feature names repeat: \['height', 'height'\]$"),
    ((numeric(name="Height"),), r"^'Height' is not a plain SQL identifier$"),
    ((numeric(column="1height"),), r"^'1height' is not a plain SQL identifier$"),
    ((numeric(name="h" * 64),), "is not a plain SQL identifier"),
    ((categorical((), "red"),), r"^colour: categories must be plain words$"),
    ((categorical(("red", "a;b"), "red"),), r"^colour: categories must be plain words$"),
    ((categorical(("red", " blue"), "red"),), "categories must be plain words"),
    ((categorical(("red", "b" * 32), "red"),), "categories must be plain words"),
    ((categorical(("red", "blue"), "green"),), r"^colour: example must be a category$"),
    ((numeric(low=2, high=3, example=1),), r"^height: example must be within its bounds$"),
    ((numeric(low=0, high=1, example=2),), r"^height: example must be within its bounds$"),
])
def test_a_bad_declaration_is_refused(features: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureSet(features)


def test_declarations_at_the_limits_are_accepted() -> None:
    FeatureSet((numeric(name="h" * 63, low=1, high=1, example=1),
                categorical(("r", "B" * 31, "a b-c_9"), "r")))


# --- drift: the population stability index, exactly ------------------------------------------


def test_psi_of_a_known_split_is_exact() -> None:
    training = [float(v) for v in range(100)]  # ten deciles of ten values each
    recent = [0.0] * 50 + [99.0] * 50  # half in the first bin, half in the last
    floor = 1e-4
    expected = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (floor - 0.1) * math.log(floor / 0.1)
    assert drift.psi(training, recent) == pytest.approx(expected, rel=1e-12)
    assert drift.BINS == 10 and floor == drift.FLOOR


def test_psi_bins_are_open_at_both_ends() -> None:
    training = [float(v) for v in range(100)]
    assert drift.psi(training, [-1e9] * 10) == drift.psi(training, [0.0] * 10)
    assert drift.psi(training, [1e9] * 10) == drift.psi(training, [99.0] * 10)


def test_empty_sides_give_zero() -> None:
    assert drift.psi([], [1.0]) == 0.0
    assert drift.psi([1.0], []) == 0.0
    assert drift.categorical_psi([], ["a"]) == 0.0
    assert drift.categorical_psi(["a"], []) == 0.0


def test_categorical_psi_is_exact_with_the_floor() -> None:
    floor = 1e-4
    assert drift.categorical_psi(["a"] * 10, ["b"] * 10) == pytest.approx(
        2 * (1 - floor) * math.log(1 / floor), rel=1e-12)
    assert drift.categorical_psi(["a", "b", "b", "b"], ["a", "a", "a", "b"]) == pytest.approx(
        2 * (0.75 - 0.25) * math.log(0.75 / 0.25), rel=1e-12)


def test_psi_by_feature_uses_each_kind() -> None:
    features = FEATURES.select(["age", "salary", "gender"])
    ages = [float(a) for a in range(100)]
    genders = ["Male" if a % 2 else "Female" for a in range(100)]
    training: list[dict[str, Any]] = [{"age": a, "salary": 1.0, "gender": g}
                                      for a, g in zip(ages, genders, strict=True)]
    recent: list[dict[str, Any]] = [{"age": 0.0, "salary": 1.0, "gender": "Male"}] * 10
    figures = drift.psi_by_feature(features, training, recent)
    assert figures["age"] == pytest.approx(drift.psi(ages, [0.0] * 10))
    assert figures["gender"] == pytest.approx(drift.categorical_psi(genders, ["Male"] * 10))
    assert figures["salary"] == 0.0


# --- strict JSON: the messages and the content types --------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    (b'{"age": 1, "age": 2}', "duplicate key 'age'"),
    (b'{"age": NaN}', "NaN is not a number JSON allows"),
    (b'{"age": 1e400}', "1e400 is out of range for a 64-bit float"),
])
def test_a_refusal_says_why(body: bytes, message: str) -> None:
    with pytest.raises(json.JSONDecodeError) as refused:
        parse_json(body)
    assert refused.value.msg == message


def test_nested_objects_keep_their_keys_and_finite_floats_pass() -> None:
    assert parse_json(b'{"a": {"b": 1.5, "c": [1, -2.0]}, "d": null}') == {
        "a": {"b": 1.5, "c": [1, -2.0]}, "d": None}


class Body(BaseModel):
    age: int


def strict_app() -> TestClient:
    router = APIRouter(route_class=StrictJSONRoute)

    @router.post("/with-body")
    async def with_body(body: Body) -> dict[str, int]:
        return {"age": body.age}

    @router.post("/without-body")
    async def without_body() -> dict[str, bool]:
        return {"ok": True}

    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize(("content_type", "status"), [
    ("application/json", 200), ("Application/JSON; charset=utf-8", 200),
    (" application/json ", 200), ("application/problem+json", 200),
    ("text/json", 415), ("application/jsonx", 415), ("text/plain+json", 415), (None, 415),
])
def test_only_json_content_types_reach_a_route_with_a_body(content_type: str | None,
                                                          status: int) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = strict_app().post("/with-body", content=b'{"age": 3}', headers=headers)
    assert response.status_code == status
    if status == 415:
        assert response.json() == {"detail": [
            {"field": "body", "message": "Content-Type must be application/json"}]}
    else:
        assert response.json() == {"age": 3}


def test_a_route_without_a_body_takes_any_content_type() -> None:
    response = strict_app().post("/without-body", content=b"x",
                                 headers={"Content-Type": "text/plain"})
    assert response.status_code == 200


def test_a_repeated_key_through_a_route_is_a_422() -> None:
    response = strict_app().post("/with-body", content=b'{"age": 3, "age": 4}',
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 422


# --- request ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("incoming", [b"abcdefg", b"abcdefgh\n", b"\nabcdefgh"])
def test_an_id_must_match_whole(incoming: bytes) -> None:
    assert accept_or_make(incoming) != incoming.decode()


def test_the_drift_window_is_a_thousand_rows() -> None:
    # docs/operations.md, "Drift": the newest DRIFT_WINDOW (1,000) logged inputs.
    from app.core.settings import Settings

    assert Settings.model_fields["drift_window"].default == 1_000


def test_a_request_body_is_parsed_once() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"a": [1]}', "more_body": False}

    request = StrictJSONRequest({"type": "http", "method": "POST", "headers": []}, receive)

    async def twice() -> tuple[Any, Any]:
        return await request.json(), await request.json()

    first, second = asyncio.run(twice())
    assert first == {"a": [1]} and first is second


def test_with_feature_adds_one_at_the_end() -> None:
    extended = FEATURES.with_feature(numeric())
    assert extended.names == ("age", "salary", "gender", "height")
    assert FEATURES.names == ("age", "salary", "gender")


# --- the scorer: its stored parameters and the 50 % line, exactly ------------------------------


def small_scorer(coef: tuple[float, float] = (1.0, 2.0)) -> Scorer:
    # decision = (age - 1) / 2 * coef[0] + (salary - 1) / 4 * coef[1] - 4
    return Scorer.from_parameters({
        "numeric": ["age", "salary"], "impute": [0.0, 0.0], "categorical": [],
        "mean": [1.0, 1.0], "scale": [2.0, 4.0], "coef": list(coef), "intercept": -4.0,
        "layout": "F"})


def test_the_stored_parameters_survive_a_round_trip() -> None:
    scorer = small_scorer()
    assert scorer.layout == "F"
    assert Scorer.from_parameters(scorer.parameters()).parameters() == scorer.parameters()


def test_the_boundary_is_exact() -> None:
    # 0.5 age - 0.5 + 0.5 salary - 0.5 - 4 = 0  <=>  salary = 10 - age
    assert small_scorer().boundary("age", "salary", {}) == {
        "intercept": 10.0, "slope": -1.0, "buy_above": True}
    assert small_scorer((1.0, -2.0)).boundary("age", "salary", {})["buy_above"] is False


def test_an_unknown_feature_name_is_the_key_error() -> None:
    with pytest.raises(KeyError, match="height"):
        FEATURES["height"]


def test_every_missing_core_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"^every version uses age, salary$"):
        FEATURES.select(["gender"])


def test_parameters_after_the_media_type_do_not_matter() -> None:
    response = strict_app().post(
        "/with-body", content=b'{"age": 3}',
        headers={"Content-Type": "application/json; charset=utf-8; profile=x"})
    assert response.status_code == 200


def test_on_the_line_itself_the_answer_is_no_at_one_half() -> None:
    # sklearn's predict says 1 only where the decision is > 0: at exactly 0, not a purchase.
    purchased, probability = small_scorer().score({"age": [10.0], "salary": [0.0]}, 1)
    assert (bool(purchased[0]), float(probability[0])) == (False, 0.5)


def test_parameters_are_float64_whatever_json_holds() -> None:
    # Whole numbers as JSON integers, and a null imputation value (a version trained before
    # imputation existed): every array is float64 all the same, null read as NaN.
    scorer = Scorer.from_parameters({
        "numeric": ["age", "salary"], "impute": [None, 0], "categorical": [],
        "mean": [1, 1], "scale": [2, 4], "coef": [1, 2], "intercept": -4, "layout": "C"})
    arrays = (scorer.impute, scorer.mean, scorer.scale, scorer.coef_t, scorer.intercept)
    assert [a.dtype for a in arrays] == [np.float64] * 5
    assert np.isnan(scorer.impute[0]) and scorer.coef_t.shape == (2, 1)
    assert scorer.boundary("age", "salary", {}) == small_scorer().boundary("age", "salary", {})


def test_the_encoded_inputs_keep_the_stored_memory_layout() -> None:
    # BLAS sums a matrix product in a different order for C and F arrays (scorer.py): the
    # layout sklearn left is the one the scorer must use to stay bitwise equal.
    columns = {"age": [1.0, 2.0, 3.0], "salary": [4.0, 5.0, 6.0]}
    assert small_scorer().encode(columns, 3).flags.f_contiguous
    parameters = {**small_scorer().parameters(), "layout": "C"}
    assert Scorer.from_parameters(parameters).encode(columns, 3).flags.c_contiguous


def test_the_drift_verdict_at_its_thresholds() -> None:
    # The rule of thumb's bounds are exclusive: exactly 0.1 is still stable, exactly 0.25
    # still a moderate shift; nothing to compare reads as stable.
    enough = drift.MIN_ROWS
    assert drift.verdict(enough, {}) == "stable"
    assert drift.verdict(enough, {"age": drift.MODERATE}) == "stable"
    assert drift.verdict(enough, {"age": drift.SHIFTED}) == "moderate shift"
    assert drift.verdict(enough, {"age": 0.0, "salary": math.nextafter(drift.SHIFTED, 1)}) == (
        "shifted")


def test_an_input_is_required_when_core_or_in_use() -> None:
    gender = next(f for f in FEATURES if not f.core)
    core = next(f for f in FEATURES if f.core)
    required = {item["name"]: item["required"] for item in describe(list(FEATURES), [])}
    assert (required[core.name], required[gender.name]) == (True, False)
    required = {item["name"]: item["required"] for item in describe(list(FEATURES), [gender.name])}
    assert (required[core.name], required[gender.name]) == (True, True)


def test_score_one_names_an_unknown_category() -> None:
    scorer = Scorer.from_parameters({
        "numeric": ["age"], "impute": [30.0], "mean": [30.0, 0.5, 0.5],
        "categorical": [{"name": "gender", "categories": ["Female", "Male"]}],
        "scale": [10.0, 0.5, 0.5], "coef": [1.0, 0.5, -0.5], "intercept": 0.0, "layout": "C"})
    with pytest.raises(ValueError, match=r"gender: unknown categories \['Robot'\]"):
        scorer.score_one({"age": 30.0, "gender": "Robot"})


@pytest.mark.parametrize("short", ["impute", "mean", "scale"])
def test_score_one_refuses_parameters_of_the_wrong_length(short: str) -> None:
    # A stored version whose arrays disagree must fail loudly, not score on a truncated row.
    parameters = small_scorer().parameters()
    parameters[short] = parameters[short][:1]
    with pytest.raises(ValueError, match="zip"):
        Scorer.from_parameters(parameters).score_one({"age": 30.0, "salary": 1.0})
