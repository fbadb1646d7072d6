"""POST /predictions/{id}/outcome: what really happened to a logged prediction.

Needs the API token. The app role may only INSERT outcomes: ON CONFLICT DO NOTHING tells a
repeat (409) without reading the table, and the foreign key tells an unknown id (404)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import JSONResponse
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from app.deps import ServicesDep, TokenDep
from app.models import outcomes
from app.schemas import ErrorResponse, OutcomeRequest, OutcomeResponse
from app.strict_json import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, tags=["predictions"])

FOREIGN_KEY_VIOLATION = "23503"


@router.post(
    "/predictions/{prediction_id}/outcome",
    status_code=201,
    response_model=OutcomeResponse,
    responses={code: {"model": ErrorResponse} for code in (401, 404, 409, 415, 422, 503)},
)
def record_outcome(
    prediction_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: OutcomeRequest,
    services: ServicesDep,
    _: TokenDep,
) -> JSONResponse:
    recorded_at = datetime.now(UTC)
    statement = insert(outcomes).values(
        prediction_id=prediction_id, purchased=body.purchased, recorded_at=recorded_at,
    ).on_conflict_do_nothing()
    try:
        with services.engine.begin() as connection:
            inserted = connection.execute(statement).rowcount
    except IntegrityError as error:
        if getattr(error.orig, "pgcode", None) == FOREIGN_KEY_VIOLATION:
            raise HTTPException(404, f"There is no prediction {prediction_id}.") from None
        raise
    if inserted == 0:
        raise HTTPException(409, f"Prediction {prediction_id} already has an outcome.")
    stored = OutcomeResponse(prediction_id=prediction_id, purchased=body.purchased,
                             recorded_at=recorded_at)
    return JSONResponse(stored.model_dump(mode="json"), status_code=201)
