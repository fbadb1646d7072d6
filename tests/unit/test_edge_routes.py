"""One source at the edge: every path the API answers is proxied by a location of the nginx
template (rendered as the image and the twin render it), so a route added without its location
fails here instead of answering 404 through nginx."""

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.core.settings import Settings
from app.web.main import create_app
from tests.support.nginx_locations import choose, https_locations, rendered_template, route_paths

# Served on the API's own port only (Prometheus scrapes each replica): nginx answers 404.
INTERNAL = {"/metrics"}


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings(app_db_password=SecretStr("unit-test"), app_env="development"))


def unproxied(app: FastAPI) -> list[str]:
    locations = https_locations(rendered_template())
    return [path for path in route_paths(app) if path not in INTERNAL
            and not getattr(choose(locations, path), "proxied", False)]


def test_every_route_of_the_app_is_proxied(app: FastAPI) -> None:
    assert len(route_paths(app)) >= 15
    assert unproxied(app) == []


def test_internal_routes_are_not(app: FastAPI) -> None:
    locations = https_locations(rendered_template())
    for path in INTERNAL:
        chosen = choose(locations, path)
        assert chosen is not None and not chosen.proxied and "return 404" in chosen.body


def test_a_route_added_without_its_location_is_found(app: FastAPI) -> None:
    extended = create_app(Settings(app_db_password=SecretStr("unit-test"),
                                   app_env="development"))

    @extended.get("/explain/{prediction_id}")
    async def explain(prediction_id: int) -> dict[str, int]:
        return {"prediction_id": prediction_id}

    assert unproxied(extended) == ["/explain/1"]
    # The page's own files are not routes, and never confused with one.
    assert choose(https_locations(rendered_template()), "/app.js") is not None


# docs/operations.md, "Limits": the zone each route's requests count against.
DOCUMENTED_ZONES = {
    "/predict": "predict", "/predict/batch": "batch",
    "/accuracy": "reads", "/predictions": "reads", "/models": "reads", "/drift": "reads",
    "/readyz": "reads", "/predictions/1/outcome": "reads",
}


def test_each_route_counts_against_its_documented_zone() -> None:
    locations = https_locations(rendered_template())
    zones = {}
    for path in DOCUMENTED_ZONES:
        chosen = choose(locations, path)
        assert chosen is not None, path
        zones[path] = next((word.removeprefix("zone=") for word in chosen.body.split()
                            if word.startswith("zone=")), None)
    assert zones == DOCUMENTED_ZONES
