"""Metrics, request ids, the API token and drift, against the real app and PostgreSQL."""

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.domain.drift import MIN_ROWS
from app.web.main import create_app
from tests.support.auth import bearer
from tests.support.metrics import value
from tests.support.servers import Database


@pytest.fixture
def fresh_client(prepared_database: Database) -> Iterator[TestClient]:
    """An app of its own: its metrics start at zero."""
    with TestClient(create_app(prepared_database.settings()), raise_server_exceptions=False) as c:
        yield c


def test_metrics_count_a_known_mix_of_requests_exactly(
    fresh_client: TestClient, token_header: dict[str, str]
) -> None:
    client = fresh_client
    predicted = [client.post("/predict", json={"age": age, "salary": salary}).json()
                 for age, salary in ((30, 87000), (60, 150000), (25, 20000))]
    batch = client.post("/predict/batch", json={"rows": [{"age": 61, "salary": 150000}] * 4})
    assert batch.status_code == 200
    assert client.post("/predict", json={"age": "30", "salary": 1}).status_code == 422
    assert client.get("/no/such/path").status_code == 404
    assert client.get("/predictions").status_code == 401
    assert client.get("/predictions", headers=token_header).status_code == 200
    for _ in range(2):
        assert client.get("/healthz").status_code == 200

    exposition = client.get("/metrics").text
    requests = "http_requests_total"
    assert value(exposition, requests, method="POST", route="/predict", status="200") == 3
    assert value(exposition, requests, method="POST", route="/predict", status="422") == 1
    assert value(exposition, requests, method="POST", route="/predict/batch", status="200") == 1
    assert value(exposition, requests, method="GET", route="/predictions", status="401") == 1
    assert value(exposition, requests, method="GET", route="/predictions", status="200") == 1
    assert value(exposition, requests, method="GET", route="/healthz", status="200") == 2
    assert value(exposition, requests, method="GET", route="unmatched", status="404") == 1
    assert value(exposition, "http_request_duration_seconds_count", route="/predict") == 4
    # 3 singles (one bought) and 4 identical batch rows (all bought), all version 1.
    bought = sum(p["purchased"] for p in predicted) + 4
    assert value(exposition, "predictions_total", model_version="1", purchased="true") == bought
    assert value(exposition, "predictions_total", model_version="1",
                 purchased="false") == 7 - bought
    assert value(exposition, "prediction_log_batch_rows_sum") == 7
    assert value(exposition, "prediction_log_commit_seconds_count") == 4
    assert value(exposition, "served_model_version") == 1
    assert value(exposition, "database_unavailable_responses_total") == 0
    # Drift figures only from drift.MIN_ROWS logged inputs on (other tests share the log).
    enough = value(exposition, "model_input_drift_enough_data") == 1
    assert enough is (value(exposition, "model_input_drift_window_rows") >= MIN_ROWS)
    assert (value(exposition, "model_input_drift_psi", feature="age") >= 0) is True
    if not enough:
        assert "model_input_drift_psi{" not in exposition


def test_the_log_needs_the_token(client: TestClient, token_header: dict[str, str]) -> None:
    for headers in ({}, bearer("wrong-token"), {"Authorization": "Basic dXNlcjpwdw=="},
                    {"Authorization": token_header["Authorization"].replace("Bearer ", "")}):
        refused = client.get("/predictions", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "token" in refused.json()["detail"]
    assert client.get("/predictions", headers=token_header).status_code == 200


def test_openapi_declares_the_bearer_scheme(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    [(name, scheme)] = document["components"]["securitySchemes"].items()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "API_TOKEN" in scheme["description"]
    assert document["paths"]["/predictions"]["get"]["security"] == [{name: []}]
    assert "security" not in document["paths"]["/predict"]["post"]


def request_id_of(engine: Engine, prediction_id: int) -> str | None:
    with engine.connect() as connection:
        found: str | None = connection.scalar(
            text("SELECT request_id FROM predictions WHERE id = :id"), {"id": prediction_id})
        return found


def test_a_valid_request_id_is_kept_and_stored_with_the_rows(
    client: TestClient, owner_engine: Engine
) -> None:
    response = client.post("/predict", json={"age": 30, "salary": 87000},
                           headers={"X-Request-ID": "client-id.0001"})
    assert response.headers["x-request-id"] == "client-id.0001"
    assert request_id_of(owner_engine, response.json()["prediction_id"]) == "client-id.0001"
    batch = client.post("/predict/batch", json={"rows": [{"age": 20, "salary": 1}] * 3},
                        headers={"X-Request-ID": "batch-id-0002"})
    assert [request_id_of(owner_engine, i) for i in batch.json()["prediction_ids"]] == [
        "batch-id-0002"] * 3


@pytest.mark.parametrize("sent", ["short", "has space in it", "x" * 65, "semi;colon-id",
                                  "ünïcödé-id"])
def test_a_malformed_request_id_is_replaced(
    client: TestClient, owner_engine: Engine, sent: str
) -> None:
    response = client.post("/predict", json={"age": 30, "salary": 87000},
                           headers={b"X-Request-ID": sent.encode()})
    given = response.headers["x-request-id"]
    assert given != sent and re.fullmatch(r"[0-9a-f]{32}", given)
    assert request_id_of(owner_engine, response.json()["prediction_id"]) == given


def test_drift_is_near_zero_on_training_like_inputs_and_large_on_shifted_ones(
    prepared_database: Database,
) -> None:
    settings = prepared_database.settings().model_copy(update={"drift_window": 300})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        points = client.get("/model").json()["training_points"]
        rows = [{"age": float(p["age"]), "salary": float(p["salary"])} for p in points]
        assert len(rows) == 300
        assert client.post("/predict/batch", json={"rows": rows}).status_code == 200
        same = client.get("/drift").json()
        assert same["rows"] == 300 and same["window"] == 300
        assert same["psi"] == {"age": 0.0, "salary": 0.0}
        assert same["enough_data"] is True and same["verdict"] == "stable"

        shifted = [{"age": min(r["age"] + 25, 120), "salary": r["salary"] * 2} for r in rows]
        assert client.post("/predict/batch", json={"rows": shifted}).status_code == 200
        moved = client.get("/drift").json()
        assert moved["psi"]["age"] > 1 and moved["psi"]["salary"] > 1
        assert moved["verdict"] == "shifted"
        exposition = client.get("/metrics").text
        assert value(exposition, "model_input_drift_psi", feature="age") == moved["psi"]["age"]
        assert value(exposition, "model_input_drift_window_rows") == 300


def test_below_the_minimum_rows_drift_says_not_enough_data_yet(
    prepared_database: Database,
) -> None:
    # A window smaller than the minimum: never enough rows, however full the shared log is.
    settings = prepared_database.settings().model_copy(update={"drift_window": MIN_ROWS // 4})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.post("/predict", json={"age": 30, "salary": 87000}).status_code == 200
        answer = client.get("/drift").json()
        assert 1 <= answer["rows"] < MIN_ROWS and answer["min_rows"] == MIN_ROWS
        assert answer["enough_data"] is False and answer["verdict"] == "not enough data yet"
        assert answer["psi"] == {}
        exposition = client.get("/metrics").text
        assert "model_input_drift_enough_data" in exposition
        assert value(exposition, "model_input_drift_enough_data") == 0
        assert "model_input_drift_psi{" not in exposition


def test_outcomes_and_live_accuracy_by_version_are_in_the_metrics(
    client: TestClient, token_header: dict[str, str]
) -> None:
    before = client.get("/metrics").text
    made = client.post("/predict", json={"age": 60, "salary": 150000}).json()
    recorded = client.post(f"/predictions/{made['prediction_id']}/outcome",
                           json={"purchased": made["purchased"]}, headers=token_header)
    assert recorded.status_code == 201
    after = client.get("/metrics").text
    assert (value(after, "model_outcomes", model_version="1")
            == value(before, "model_outcomes", model_version="1") + 1)
    live = client.get("/accuracy").json()["live"]
    assert value(after, "model_live_accuracy", model_version="1") == live["accuracy"]
