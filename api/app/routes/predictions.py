"""GET /predictions: the most recent rows of the prediction log, newest first."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deps import TokenDep
from app.models import Prediction
from app.schemas import ErrorResponse, LoggedPrediction
from app.services import Services, get_services

router = APIRouter(tags=["predictions"])


@router.get(
    "/predictions",
    response_model=list[LoggedPrediction],
    responses={code: {"model": ErrorResponse} for code in (401, 422, 503)},
)
def recent_predictions(
    _: TokenDep,
    services: Annotated[Services, Depends(get_services)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[LoggedPrediction]:
    """The newest rows of the log; they hold people's inputs, so the API token is required."""
    with Session(services.engine) as session:
        rows = session.scalars(select(Prediction).order_by(Prediction.id.desc()).limit(limit))
        return [LoggedPrediction.model_validate(row, from_attributes=True) for row in rows]
