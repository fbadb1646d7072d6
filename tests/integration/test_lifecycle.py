"""Model lifecycle against a real PostgreSQL: candidates, promote, rollback, hot reload (also
after the listener's connection was cut), outcomes and live accuracy, --with-outcomes."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from app.core.settings import Settings
from app.store.tables import ModelVersion, predictions
from app.web.main import create_app
from tests.support.databases import fresh_copy
from tests.support.operator import database_command
from tests.support.servers import Database
from tests.support.waiting import wait_for_version

DB = "lifecycle"
# A worker hears a promote by NOTIFY: it serves the new version within this (functional bound).
SWITCH_WITHIN_S = 2.0


@pytest.fixture(scope="module")
def settings(prepared_database: Database) -> Settings:
    return fresh_copy(prepared_database, DB)


@pytest.fixture(scope="module")
def owner(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.database_url(as_owner=True), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def cli(prepared_database: Database, settings: Settings) -> Callable[..., Any]:
    def run(*args: str, expect: int = 0) -> str:
        result = database_command(prepared_database, DB, *args, expect=expect)
        return result.stdout + result.stderr
    return run


def served(client: TestClient) -> int | None:
    value: int | None = client.get("/models").json()["served_version"]
    return value


def test_train_stores_a_candidate_that_is_not_served(
    client: TestClient, cli: Callable[..., str]
) -> None:
    output = cli("train", "--features", "age,salary,gender")
    assert "version 2 (candidate, not served): holdout accuracy 91.0% on 100 rows" in output
    models = client.get("/models").json()
    assert models["served_version"] == 1
    assert [(v["version"], v["served"]) for v in models["versions"]] == [(1, True), (2, False)]
    assert models["versions"][0]["holdout"]["accuracy"] == 0.89
    assert models["versions"][1]["holdout"]["n_test"] == 100
    assert client.post("/predict", json={"age": 40, "salary": 1}).json()["model_version"] == 1
    listing = cli("versions")
    assert "89.0%" in listing
    assert "91.0%" in listing


def test_promote_serves_it_without_a_restart_and_rollback_toggles(
    client: TestClient, cli: Callable[..., str], owner: Engine
) -> None:
    cli("promote", "2")
    took = wait_for_version(client, 2, within=SWITCH_WITHIN_S)
    print(f"\nworker switched to version 2 in {took:.3f} s")
    # Version 2 uses gender: now required.
    missing = client.post("/predict", json={"age": 40, "salary": 60000})
    assert missing.status_code == 422
    answer = client.post("/predict", json={"age": 40, "salary": 60000, "gender": "Male"}).json()
    with Session(owner) as session:
        logged = session.execute(select(predictions.c.model_version).where(
            predictions.c.id == answer["prediction_id"])).scalar_one()
    assert answer["model_version"] == logged == 2
    cli("rollback")
    wait_for_version(client, 1, within=SWITCH_WITHIN_S)
    cli("rollback")  # the second rollback undoes the first
    wait_for_version(client, 2, within=SWITCH_WITHIN_S)
    cli("rollback")
    wait_for_version(client, 1, within=SWITCH_WITHIN_S)
    assert served(client) == 1


def test_promote_refuses_a_worse_candidate_unless_forced(
    client: TestClient, cli: Callable[..., str]
) -> None:
    output = cli("train", "--test-size", "0.9", "--random-state", "1")
    assert "version 3 (candidate, not served): holdout accuracy 84.0% on 100 rows" in output
    refused = cli("promote", "3", expect=1)
    assert "holdout accuracy 84.0% is below the served version 1's 89.0%" in refused
    assert "--force" in refused
    assert served(client) == 1
    cli("promote", "3", "--force")
    wait_for_version(client, 3, within=SWITCH_WITHIN_S)
    cli("rollback")
    wait_for_version(client, 1, within=SWITCH_WITHIN_S)
    assert "no version 99" in cli("promote", "99", expect=1)


def test_a_worker_whose_listener_was_cut_catches_up_when_it_reconnects(
    client: TestClient, cli: Callable[..., str], prepared_database: Database,
    settings: Settings,
) -> None:
    psql = prepared_database.server.psql  # the superuser: only it may do this to the app role
    app_role = settings.app_db_user
    # Keep the listener out: its reconnects fail until the limit is lifted.
    psql(f'ALTER ROLE "{app_role}" CONNECTION LIMIT 0')
    try:
        cut = psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   f"WHERE application_name = 'social-ads-listener' AND datname = '{DB}'")
        assert cut == "1"
        cli("promote", "2")  # its NOTIFY reaches no listener of this worker
        time.sleep(1.5)
        # Not heard: still the old version (the log's connection is still there).
        body = client.post("/predict", json={"age": 40, "salary": 60000, "gender": "Male"})
        assert body.json()["model_version"] == 1
    finally:
        psql(f'ALTER ROLE "{app_role}" CONNECTION LIMIT -1')
    took = wait_for_version(client, 2, within=4.0)
    print(f"\nreconnected and caught up {took:.3f} s after the connection limit was lifted")
    cli("rollback")
    wait_for_version(client, 1, within=SWITCH_WITHIN_S)


def openapi_required(client: TestClient) -> tuple[list[str], list[str]]:
    """What /openapi.json says a prediction and a batch row require."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    return sorted(schemas["PredictRequest"]["required"]), sorted(schemas["PredictRow"]["required"])


def test_openapi_describes_what_the_served_version_requires(
    client: TestClient, cli: Callable[..., str]
) -> None:
    """A client generated from /openapi.json sends what the served version needs: gender is
    required while a gender version is served, optional again after the rollback."""
    assert served(client) == 1
    assert openapi_required(client) == (["age", "salary"], ["age", "salary"])
    cli("promote", "2")
    wait_for_version(client, 2, within=SWITCH_WITHIN_S)
    assert openapi_required(client) == (["age", "gender", "salary"], ["age", "gender", "salary"])
    request = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
    assert request["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictRequest"}
    cli("rollback")
    wait_for_version(client, 1, within=SWITCH_WITHIN_S)
    assert openapi_required(client) == (["age", "salary"], ["age", "salary"])


@pytest.fixture(scope="module")
def auth(settings: Settings) -> dict[str, str]:
    assert settings.api_token is not None
    return {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}


def test_outcome_codes(client: TestClient, auth: dict[str, str]) -> None:
    made = client.post("/predict", json={"age": 50, "salary": 90000}).json()
    url = f"/predictions/{made['prediction_id']}/outcome"
    unauthorised = [
        client.post(url, json={"purchased": True}),
        client.post(url, json={"purchased": True}, headers={"Authorization": "Bearer nope"}),
        client.post(url, json={"purchased": True}, headers={"Authorization": "Basic eDp5"}),
    ]
    for response in unauthorised:
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    created = client.post(url, json={"purchased": True}, headers=auth)
    assert created.status_code == 201
    body = created.json()
    assert (body["prediction_id"], body["purchased"]) == (made["prediction_id"], True)
    assert body["recorded_at"]
    again = client.post(url, json={"purchased": False}, headers=auth)
    assert again.status_code == 409
    unknown = client.post("/predictions/999999999/outcome", json={"purchased": True},
                          headers=auth)
    assert unknown.status_code == 404
    for bad in ({"purchased": "yes"}, {"purchased": 1}, {}, {"purchased": True, "x": 1}):
        response = client.post(url, json=bad, headers=auth)
        assert response.status_code == 422, bad
    assert client.post("/predictions/0/outcome", json={"purchased": True},
                       headers=auth).status_code == 422
    assert client.post("/predictions/abc/outcome", json={"purchased": True},
                       headers=auth).status_code == 422


def test_outcomes_count_under_the_version_that_predicted(
    client: TestClient, cli: Callable[..., str], auth: dict[str, str]
) -> None:
    before = {v["version"]: v["live"]["n_outcomes"] for v in client.get("/models").json()
              ["versions"]}
    by_v1 = [client.post("/predict", json={"age": 60, "salary": 150000}).json()
             for _ in range(3)]
    assert {p["model_version"] for p in by_v1} == {1}
    cli("promote", "2")
    wait_for_version(client, 2, within=SWITCH_WITHIN_S)
    by_v2 = client.post("/predict", json={"age": 60, "salary": 150000, "gender": "Female"}).json()
    # Outcomes for version 1's predictions, recorded while version 2 is served.
    for prediction, truth in zip(by_v1, (True, True, False), strict=True):
        assert client.post(f"/predictions/{prediction['prediction_id']}/outcome",
                           json={"purchased": truth}, headers=auth).status_code == 201
    assert client.post(f"/predictions/{by_v2['prediction_id']}/outcome",
                       json={"purchased": True}, headers=auth).status_code == 201
    versions = {v["version"]: v["live"] for v in client.get("/models").json()["versions"]}
    assert versions[1]["n_outcomes"] == before[1] + 3
    assert versions[2]["n_outcomes"] == before[2] + 1
    live = client.get("/accuracy").json()["live"]
    assert live["n_outcomes"] == versions[2]["n_outcomes"]
    assert live["confusion_matrix"][1][1] >= 1  # predicted and bought
    assert live["accuracy"] == pytest.approx(
        (live["confusion_matrix"][0][0] + live["confusion_matrix"][1][1]) / live["n_outcomes"])
    cli("rollback")
    wait_for_version(client, 1, within=SWITCH_WITHIN_S)


def test_with_outcomes_adds_training_rows_never_holdout_rows(
    cli: Callable[..., str], owner: Engine
) -> None:
    output = cli("train", "--with-outcomes")
    assert "(5 from outcomes)" in output
    with Session(owner) as session:
        newest = session.scalars(
            select(ModelVersion).order_by(ModelVersion.version.desc()).limit(1)).one()
        workshop = session.get(ModelVersion, 1)
    assert workshop is not None
    assert newest.training.outcome_rows == 5
    assert newest.holdout.n_train == 305
    assert newest.holdout.n_test == 100
    # The same data set rows train; the holdout is untouched.
    assert sorted(newest.train_user_ids) == sorted(workshop.train_user_ids)
