"""A new required input is one entry in the features module plus a migration (and the data set's
column): applied to a copy of api/ and deployed over a running twin's existing database, it is
seeded into the existing rows, required by /predict and the batch, described by /model, trained
on, promoted and served, and scripts/smoke.py and the test load generator pass unchanged."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from local.twin import Stack, unlimited
from tests.support.clients import https_client
from tests.support.load import Load
from tests.support.new_input import CHANGED, copy_with_visits, differing_files
from tests.support.operator import twin_command
from tests.support.paths import ROOT
from tests.support.servers import make_state_dir, running_twin
from tests.support.waiting import wait_for_version

# Run in the copy: the migrated schema is the copy's tables (its own schema-drift check).
SCHEMA_DRIFT = """
from app.core.database import make_engine
from app.core.settings import get_settings
from app.store.schema_drift import differences
engine = make_engine(get_settings(), as_owner=True)
with engine.connect() as connection:
    print(differences(connection))
"""


@pytest.fixture(scope="module")
def upgraded() -> Iterator[tuple[Stack, int]]:
    """A twin that served the workshop's code and logged predictions, then redeployed from
    the changed copy: migrate (and seed) as the one-shot service does, then the API."""
    folder = make_state_dir("new-input-code")
    with running_twin("new-input", unlimited()) as twin:
        with https_client(twin) as client:
            before = client.post("/predict", json={"age": 30, "salary": 87000})
            assert before.status_code == 200
        copy, filled = copy_with_visits(folder)
        assert differing_files(copy) == sorted(CHANGED)
        twin.api.stop()
        twin.migrate.api_dir = twin.api.api_dir = copy
        twin.migrate.run()
        twin.api.start()
        try:
            yield twin, filled
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def test_the_existing_database_is_migrated_and_seeded(upgraded: tuple[Stack, int]) -> None:
    twin, filled = upgraded
    counts = twin.postgres.psql("SELECT count(*) || ',' || count(visits) FROM dataset_rows")
    assert counts == f"400,{filled}"
    # The row logged before the input existed is still there, without a value for it.
    assert twin.postgres.psql("SELECT count(*) FROM predictions WHERE visits IS NULL") == "1"
    drift = twin.migrate.operator("python", "-c", SCHEMA_DRIFT, capture=True, timeout=60)
    assert drift.returncode == 0, drift.stderr
    assert drift.stdout.strip() == "[]"


def test_predict_requires_it_and_logs_it(upgraded: tuple[Stack, int]) -> None:
    twin, _ = upgraded
    with https_client(twin) as client:
        missing = client.post("/predict", json={"age": 30, "salary": 87000})
        assert missing.status_code == 422
        assert [p["field"] for p in missing.json()["detail"]] == ["visits"]
        answer = client.post("/predict", json={"age": 30, "salary": 87000, "visits": 4})
        assert answer.status_code == 200, answer.text
        batch = client.post("/predict/batch", json={"rows": [
            {"age": 30, "salary": 87000, "visits": 9}, {"age": 50, "salary": 20000}]})
        assert batch.status_code == 422
        model = client.get("/model").json()
    prediction_id = answer.json()["prediction_id"]
    assert twin.postgres.psql(f"SELECT visits FROM predictions WHERE id = {prediction_id}") == "4"
    [visits] = [i for i in model["inputs"] if i["name"] == "visits"]
    assert visits | {"required": True, "min": 0, "max": 1000, "example": 3} == visits


def test_the_smoke_script_and_the_load_generator_need_no_change(
    upgraded: tuple[Stack, int],
) -> None:
    twin, _ = upgraded
    record = twin.state_dir / "smoke.json"
    token = twin.env.get("API_TOKEN")
    smoke = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "smoke.py"), "check", "--record", str(record),
         "--https-port", str(twin.ports.https), "--http-port", str(twin.ports.http),
         "--cacert", str(twin.nginx.cert_dir / "fullchain.pem"), "--wait", "30"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "API_TOKEN": token} if token else None)  # smoke.py reads it there
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    with Load(twin, threads=2) as load:
        time.sleep(1)
    assert load.outcomes and set(load.statuses()) == {200}


def test_a_version_trained_on_it_is_promoted_and_served(upgraded: tuple[Stack, int]) -> None:
    twin, _ = upgraded
    trained = twin_command(twin, "train", "--features", "age,salary,visits").stdout
    assert "version 2 (candidate, not served)" in trained and "inputs age, salary, visits" \
        in trained
    twin_command(twin, "promote", "2")
    with https_client(twin) as client:
        wait_for_version(client, 2)
        model = client.get("/model").json()
        answer = client.post("/predict", json={"age": 30, "salary": 87000, "visits": 9})
        accuracy = client.get("/accuracy").json()
    assert model["features"] == ["age", "salary", "visits"]
    assert [(p["x"], p["y"]) for p in model["panels"]] == [("age", "salary")]
    assert {"visits"} <= set(model["training_points"][0])
    assert answer.json()["model_version"] == 2
    assert accuracy["model_version"] == 2 and accuracy["features"] == model["features"]
    versions = twin_command(twin, "versions").stdout
    assert "age,salary,visits" in versions


def test_nothing_outside_the_copy_changed() -> None:
    """The proof is about the copy: the checkout itself still has no such input."""
    assert "visits" not in (ROOT / "api" / "app" / "domain" / "features.py").read_text()
    assert not list((ROOT / "api").rglob("visits.py"))
