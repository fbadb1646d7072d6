"""GET /predictions: the most recent rows of the prediction log, newest first."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deps import ServicesDep, TokenDep
from app.models import predictions
from app.schemas import ErrorResponse, LoggedPrediction

router = APIRouter(tags=["predictions"])


@router.get(
    "/predictions",
    response_model=list[LoggedPrediction],
    responses={code: {"model": ErrorResponse} for code in (401, 422, 503)},
)
def recent_predictions(
    _: TokenDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[LoggedPrediction]:
    """The newest rows of the log; they hold people's inputs, so the API token is required."""
    with Session(services.engine) as session:
        rows = session.execute(
            select(predictions).order_by(predictions.c.id.desc()).limit(limit))
        return [LoggedPrediction.model_validate(row._mapping) for row in rows]
