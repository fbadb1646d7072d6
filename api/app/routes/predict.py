"""POST /predict and /predict/batch: score from the loaded model, commit the log, then answer."""

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from app.prediction_log import LogRow
from app.registry import ServedModel
from app.schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    Prediction,
    PredictRequest,
    PredictResponse,
)
from app.services import Services, get_services
from app.strict_json import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, tags=["predictions"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (413, 415, 422, 429, 503)
}


async def served_model(services: Annotated[Services, Depends(get_services)]) -> ServedModel:
    model = services.models.loaded
    # Only the first request after a start with the database down pays for loading.
    return model if model is not None else await run_in_threadpool(services.models.get)


def score(model: ServedModel, inputs: list[PredictRequest]) -> list[LogRow]:
    features = np.array([[item.age, item.salary] for item in inputs], dtype=np.float64)
    purchased, probability = model.scorer.score(features)
    return [
        LogRow(item.age, item.salary, bool(label), float(p), model.version)
        for item, label, p in zip(inputs, purchased, probability, strict=True)
    ]


@router.post("/predict", response_model=PredictResponse, responses=ERRORS)
async def predict(
    body: PredictRequest,
    services: Annotated[Services, Depends(get_services)],
    model: Annotated[ServedModel, Depends(served_model)],
) -> PredictResponse:
    """Will this person buy? The answer is sent only after its log row is committed."""
    [row] = score(model, [body])
    [prediction_id] = await services.prediction_log.write([row], services.settings.db_timeout_s)
    return PredictResponse(
        purchased=row.purchased,
        probability=row.probability,
        model_version=row.model_version,
        prediction_id=prediction_id,
    )


@router.post("/predict/batch", response_model=BatchPredictResponse, responses=ERRORS)
async def predict_batch(
    body: BatchPredictRequest,
    services: Annotated[Services, Depends(get_services)],
    model: Annotated[ServedModel, Depends(served_model)],
) -> BatchPredictResponse:
    """Up to 10,000 rows in one call, one log row each, all committed before the answer."""
    rows = score(model, body.rows)
    ids = await services.prediction_log.write(rows, services.settings.db_timeout_s)
    return BatchPredictResponse(
        model_version=model.version,
        predictions=[Prediction(purchased=r.purchased, probability=r.probability) for r in rows],
        prediction_ids=ids,
    )
