"""FastAPI dependencies as Annotated aliases (`def f(services: ServicesDep, _: TokenDep)`)."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.services import Services, get_services

# auto_error=False: a missing header gets the same 401 (with WWW-Authenticate) as a wrong one,
# not FastAPI's 403. The scheme is declared in the OpenAPI document by this object.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="APIToken",
                           description="The API_TOKEN from the service's .env file.")


async def require_api_token(
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    expected = services.settings.api_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    # compare_digest: the time taken does not tell how much of a guess was right.
    if not secrets.compare_digest(given, expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="A valid API token is required (Authorization: Bearer <API_TOKEN>).",
            headers={"WWW-Authenticate": "Bearer"},
        )


ServicesDep = Annotated[Services, Depends(get_services)]
TokenDep = Annotated[None, Depends(require_api_token)]
