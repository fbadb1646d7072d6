"""POST /predictions/{id}/outcome: what really happened to a logged prediction.

Needs the API token; a repeat is 409, an unknown id 404 (`app.store.prediction_reads`)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import JSONResponse

from app.store import prediction_reads
from app.web.deps import ServicesDep, TokenDep
from app.web.schemas import ErrorResponse, OutcomeRequest, OutcomeResponse
from app.web.strict_json import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, tags=["predictions"])


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
    try:
        stored = prediction_reads.record_outcome(services.engine, prediction_id,
                                                 body.purchased, recorded_at)
    except prediction_reads.UnknownPredictionError:
        raise HTTPException(404, f"There is no prediction {prediction_id}.") from None
    if not stored:
        raise HTTPException(409, f"Prediction {prediction_id} already has an outcome.")
    answer = OutcomeResponse(prediction_id=prediction_id, purchased=body.purchased,
                             recorded_at=recorded_at)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)
