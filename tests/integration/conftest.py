from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.store.tables import predictions
from app.web.main import create_app
from tests.support.auth import bearer
from tests.support.servers import Database


@pytest.fixture(scope="module")
def client(prepared_database: Database) -> Iterator[TestClient]:
    """The real app (lifespan included) talking to the real server as the app role."""
    with TestClient(create_app(prepared_database.settings()), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def token_header(prepared_database: Database) -> dict[str, str]:
    """What reading the log needs: the API_TOKEN as a bearer token."""
    token = prepared_database.settings().api_token
    assert token is not None
    return bearer(token.get_secret_value())


def count_predictions(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(predictions)) or 0
