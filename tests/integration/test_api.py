"""The HTTP contract, against the real app and a real PostgreSQL, as the least-privilege role."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.store.tables import predictions
from app.web.middleware import MAX_BODY_BYTES
from tests.integration.conftest import count_predictions

JSON = {"Content-Type": "application/json"}


def test_predict_contract_and_its_committed_log_row(
    client: TestClient, owner_engine: Engine
) -> None:
    response = client.post("/predict", json={"age": 30, "salary": 87000})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"purchased", "probability", "model_version", "prediction_id"}
    assert body["purchased"] is False
    assert body["probability"] == pytest.approx(0.1128, abs=1e-4)
    assert body["model_version"] == 1
    with Session(owner_engine) as session:
        row = session.execute(
            select(predictions).where(predictions.c.id == body["prediction_id"])).one()
    assert (row.age, row.salary, row.gender, row.purchased) == (30, 87000, None, False)
    assert (row.probability, row.model_version) == (body["probability"], 1)


def test_an_older_richer_person_buys(client: TestClient) -> None:
    body = client.post("/predict", json={"age": 60, "salary": 150000}).json()
    assert body["purchased"] is True
    assert body["probability"] > 0.9


def test_accuracy_contract(client: TestClient) -> None:
    response = client.get("/accuracy")
    assert response.status_code == 200
    body = response.json()
    assert body["accuracy"] == 0.89
    assert body["confusion_matrix"] == [[65, 3], [8, 24]]
    assert (body["n_train"], body["n_test"], body["model_version"]) == (300, 100, 1)
    assert body["model"] == "Logistic Regression"
    assert 0.9 < body["roc_auc"] <= 1
    assert body["trained_at"]


def test_batch_logs_one_row_each_in_order(client: TestClient, owner_engine: Engine) -> None:
    rows = [{"age": 20 + i % 40, "salary": 15000 + 1000 * i} for i in range(500)]
    single = [client.post("/predict", json=rows[i]).json() for i in (0, 250, 499)]
    response = client.post("/predict/batch", json={"rows": rows})
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == len(body["prediction_ids"]) == 500
    assert len(set(body["prediction_ids"])) == 500
    for index, expected in zip((0, 250, 499), single, strict=True):
        assert body["predictions"][index]["probability"] == expected["probability"]
    with Session(owner_engine) as session:
        stored = {
            p.id: (p.age, p.salary)
            for p in session.execute(
                select(predictions).where(predictions.c.id.in_(body["prediction_ids"]))
            )
        }
    assert [stored[i] for i in body["prediction_ids"]] == [(r["age"], r["salary"]) for r in rows]


def test_batch_of_ten_thousand_is_accepted_and_more_is_not(client: TestClient) -> None:
    rows = [{"age": 40, "salary": 60000}] * 10_000
    assert client.post("/predict/batch", json={"rows": rows}).status_code == 200
    too_many = client.post("/predict/batch", json={"rows": [*rows, rows[0]]})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["field"] == "rows"


def test_recent_predictions_newest_first(client: TestClient,
                                         token_header: dict[str, str]) -> None:
    made = [client.post("/predict", json={"age": 44, "salary": 44000 + i}).json()
            for i in range(3)]
    recent = client.get("/predictions", params={"limit": 3}, headers=token_header).json()
    assert [r["id"] for r in recent] == [m["prediction_id"] for m in reversed(made)]
    assert client.get("/predictions", params={"limit": 1000},
                      headers=token_header).status_code == 422


def test_model_parameters_reproduce_the_served_prediction(client: TestClient) -> None:
    import math

    model = client.get("/model").json()
    assert len(model["training_points"]) == 300
    assert model["features"] == ["age", "salary"]
    assert [(i["name"], i["required"]) for i in model["inputs"]] == [
        ("age", True), ("salary", True), ("gender", False)]
    assert [panel["given"] for panel in model["panels"]] == [{}]
    z = sum(
        c * (x - m) / s
        for c, x, m, s in zip(model["coef"], (30, 87000), model["mean"], model["scale"],
                              strict=True)
    ) + model["intercept"]
    served = client.post("/predict", json={"age": 30, "salary": 87000}).json()
    assert 1 / (1 + math.exp(-z)) == pytest.approx(served["probability"], rel=1e-12)


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("missing salary", {"age": 30}, "salary"),
    ("missing age", {"salary": 1}, "age"),
    ("empty object", {}, "age"),
    ("extra field", {"age": 30, "salary": 1, "admin": True}, "admin"),
    ("unknown gender", {"age": 30, "salary": 1, "gender": "Robot"}, "gender"),
    ("lower-case gender", {"age": 30, "salary": 1, "gender": "male"}, "gender"),
    ("null gender", {"age": 30, "salary": 1, "gender": None}, "gender"),
    ("numeric gender", {"age": 30, "salary": 1, "gender": 1}, "gender"),
    ("string age", {"age": "30", "salary": 1}, "age"),
    ("string salary", {"age": 30, "salary": "87000"}, "salary"),
    ("boolean age", {"age": True, "salary": 1}, "age"),
    ("null age", {"age": None, "salary": 1}, "age"),
    ("list age", {"age": [30], "salary": 1}, "age"),
    ("object salary", {"age": 30, "salary": {"v": 1}}, "salary"),
    ("negative age", {"age": -1, "salary": 1}, "age"),
    ("absurd age", {"age": 121, "salary": 1}, "age"),
    ("negative salary", {"age": 30, "salary": -0.01}, "salary"),
    ("absurd salary", {"age": 30, "salary": 10_000_001}, "salary"),
    ("huge int", {"age": 10**30, "salary": 1}, "age"),
    ("array body", [30, 87000], "body"),
    ("string body", "age=30", "body"),
    ("null body", None, "body"),
]
RAW_BODIES: list[tuple[str, bytes, str]] = [
    ("NaN", b'{"age": NaN, "salary": 1}', "body"),
    ("Infinity", b'{"age": 30, "salary": Infinity}', "body"),
    ("-Infinity", b'{"age": -Infinity, "salary": 1}', "body"),
    ("1e400", b'{"age": 1e400, "salary": 1}', "body"),
    ("duplicate key", b'{"age": 30, "age": 31, "salary": 1}', "body"),
    ("not JSON", b"age=30&salary=87000", "body"),
    ("truncated JSON", b'{"age": 30, "salary"', "body"),
    ("empty body", b"", "body"),
    ("5000 digits", b'{"age": ' + b"1" * 5000 + b', "salary": 1}', "body"),
    ("not UTF-8", b'{"age": 30, "salary": 1, "\xff": 1}', "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_input_is_a_4xx_naming_the_field_and_logs_nothing(
    client: TestClient, owner_engine: Engine, case: str, body: Any, field: str
) -> None:
    before = count_predictions(owner_engine)
    response = client.post("/predict", content=json.dumps(body), headers=JSON)
    assert response.status_code == 422, response.text
    assert field in [item["field"] for item in response.json()["detail"]]
    assert count_predictions(owner_engine) == before


@pytest.mark.parametrize(("case", "body", "field"), RAW_BODIES, ids=[c[0] for c in RAW_BODIES])
def test_malformed_json_is_a_422_and_logs_nothing(
    client: TestClient, owner_engine: Engine, case: str, body: bytes, field: str
) -> None:
    before = count_predictions(owner_engine)
    response = client.post("/predict", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field
    assert count_predictions(owner_engine) == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/xml", None],
)
def test_wrong_content_type_is_a_415_and_logs_nothing(
    client: TestClient, owner_engine: Engine, content_type: str | None
) -> None:
    before = count_predictions(owner_engine)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/predict", content=b'{"age": 30, "salary": 1}', headers=headers)
    assert response.status_code == 415
    assert response.json()["detail"][0]["field"] == "body"
    assert count_predictions(owner_engine) == before


def _chunks(body: bytes) -> Iterator[bytes]:
    # Sent chunked, with no Content-Length: the limit must count what arrives.
    for start in range(0, len(body), 64 * 1024):
        yield body[start:start + 64 * 1024]


@pytest.mark.parametrize("route", ["/predict", "/predict/batch"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_the_apps_own_limit_is_a_json_413_and_logs_nothing(
    client: TestClient, owner_engine: Engine, route: str, declared: bool
) -> None:
    # A valid batch, only too long: the limit, not validation, must refuse it.
    rows = [{"age": 40, "salary": 60000}] * 40_000
    body = json.dumps({"rows": rows} if route == "/predict/batch" else rows[0] | {
        "pad": "x" * MAX_BODY_BYTES}).encode()
    assert len(body) > MAX_BODY_BYTES
    before = count_predictions(owner_engine)
    response = client.post(route, content=body if declared else _chunks(body), headers={
        **JSON, "X-Request-ID": "too-large-0001"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "The request body is too large."}
    assert response.headers["x-request-id"] == "too-large-0001"
    assert count_predictions(owner_engine) == before


def test_bad_row_in_a_batch_names_it_and_logs_nothing(
    client: TestClient, owner_engine: Engine
) -> None:
    before = count_predictions(owner_engine)
    rows = [{"age": 30, "salary": 1}, {"age": 30, "salary": -5}]
    response = client.post("/predict/batch", json={"rows": rows})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "rows.1.salary"
    assert client.post("/predict/batch", json={"rows": []}).status_code == 422
    assert count_predictions(owner_engine) == before


def test_unknown_path_and_wrong_method(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405
