"""A database outage is a clear 503, and the service recovers by itself when it returns."""

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.domain import dataset
from app.ops import operations
from app.web.errors import DATABASE_UNAVAILABLE
from app.web.main import create_app
from tests.support.auth import bearer
from tests.support.servers import Database


@pytest.fixture(scope="module")
def outage_db() -> Iterator[Database]:
    """A server of its own, since this test stops it."""
    db = Database("outage")
    db.server.start()
    engine = db.owner_engine()
    with engine.connect() as connection:
        operations.prestart(connection, dataset.default_csv_path(), db.env["APP_DB_USER"])
    engine.dispose()
    yield db
    db.close()


def wait_for_status(client: TestClient, path: str, status: int, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if client.get(path).status_code == status:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{path} did not answer {status} within {timeout}s")


def test_outage_gives_503_then_recovers_without_restart(outage_db: Database) -> None:
    with TestClient(create_app(outage_db.settings()), raise_server_exceptions=False) as client:
        assert client.post("/predict", json={"age": 30, "salary": 87000}).status_code == 200

        outage_db.server.stop("immediate")
        for _ in range(3):
            started = time.monotonic()
            response = client.post("/predict", json={"age": 30, "salary": 87000})
            assert response.status_code == 503
            assert response.json() == {"detail": DATABASE_UNAVAILABLE}
            assert time.monotonic() - started < 10
        accuracy = client.get("/accuracy")
        assert accuracy.status_code == 503
        assert "Traceback" not in accuracy.text
        token = outage_db.settings().api_token
        assert token is not None
        assert client.get("/predictions",
                          headers=bearer(token.get_secret_value())).status_code == 503
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200

        outage_db.server.start()
        recovered_in = wait_for_status(client, "/readyz", 200, timeout=15)
        response = client.post("/predict", json={"age": 30, "salary": 87000})
        assert response.status_code == 200
        assert client.get("/accuracy").status_code == 200
        print(f"recovered {recovered_in:.2f}s after PostgreSQL came back")
