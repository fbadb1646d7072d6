"""GET /predictions: the most recent rows of the prediction log, newest first."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.store import prediction_reads
from app.web.deadline import within_deadline
from app.web.deps import ServicesDep, TokenDep
from app.web.schemas import ErrorResponse, LoggedPrediction

router = APIRouter(tags=["predictions"])


@router.get(
    "/predictions",
    response_model=list[LoggedPrediction],
    responses={code: {"model": ErrorResponse} for code in (401, 422, 503)},
)
async def recent_predictions(
    _: TokenDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[LoggedPrediction]:
    """The newest rows of the log; they hold people's inputs, so the API token is required."""
    rows = await within_deadline(
        services, lambda: prediction_reads.recent_predictions(services.engine, limit))
    return [LoggedPrediction.model_validate(row) for row in rows]
