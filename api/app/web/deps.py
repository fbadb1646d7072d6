"""FastAPI dependencies, as Annotated aliases the routes declare their parameters with."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.domain.served_model import ServedModel
from app.web.deadline import within_deadline
from app.web.services import Services


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, which would
    # add a thread hop to every request for a dictionary lookup.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def served_model(services: ServicesDep) -> ServedModel:
    """The model this request uses from start to end (a swap meanwhile does not change it)."""
    model = services.models.loaded
    # Only the first request after a start with the database down pays for loading.
    return model if model is not None else await within_deadline(services, services.models.get)


ServedModelDep = Annotated[ServedModel, Depends(served_model)]

_bearer = HTTPBearer(auto_error=False, description="API_TOKEN from .env_api")


async def require_token(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 with WWW-Authenticate: Bearer unless the request carries the API token (compared
    in constant time)."""
    expected = services.settings.api_token
    given = credentials.credentials if credentials is not None else ""
    if expected is None or not hmac.compare_digest(
            given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(status_code=401, detail="A valid bearer token is required.",
                            headers={"WWW-Authenticate": "Bearer"})


TokenDep = Annotated[None, Depends(require_token)]
