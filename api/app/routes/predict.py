"""POST /predict and /predict/batch: score from the loaded model, commit the log, then answer."""

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from app.deps import ServedModelDep, ServicesDep
from app.features import FEATURES
from app.prediction_log import LogRows
from app.registry import ServedModel
from app.schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    PredictRequest,
    PredictResponse,
)
from app.strict_json import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, tags=["predictions"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (413, 415, 422, 429, 503)
}


def score(model: ServedModel, inputs: dict[str, list[Any]], n_rows: int) -> LogRows:
    """Score the inputs (column by column) in one vectorised call."""
    purchased, probability = model.scorer.score(inputs, n_rows)
    return LogRows(
        inputs=inputs,
        purchased=purchased.tolist(),
        probabilities=probability.tolist(),
        model_version=model.version,
    )


def missing_input(model: ServedModel, name: str, location: tuple[str | int, ...]
                  ) -> RequestValidationError:
    return RequestValidationError([{
        "type": "missing", "loc": ("body", *location, name),
        "msg": f"Field required: model version {model.version} uses {name}",
    }])


def json_response(content: object) -> Response:
    """The handlers build their JSON directly, with orjson: FastAPI would otherwise validate
    and serialise the response model again, and for a 10,000-row batch that cost more than
    the whole prediction. response_model still documents the shape in OpenAPI."""
    return Response(orjson.dumps(content), media_type="application/json")


@router.post("/predict", response_model=PredictResponse, responses=ERRORS)
async def predict(
    body: PredictRequest,
    services: ServicesDep,
    model: ServedModelDep,
) -> Response:
    """Will this person buy? The answer is sent only after its log row is committed."""
    inputs = {}
    for name in FEATURES.names:
        value = getattr(body, name)
        if value is not None:
            inputs[name] = [value]
    for name in model.feature_names:
        if name not in inputs:
            raise missing_input(model, name, ())
    rows = score(model, inputs, 1)
    [prediction_id] = await services.prediction_log.write(rows)
    return json_response({
        "purchased": rows.purchased[0],
        "probability": rows.probabilities[0],
        "model_version": rows.model_version,
        "prediction_id": prediction_id,
    })


@router.post("/predict/batch", response_model=BatchPredictResponse, responses=ERRORS)
async def predict_batch(
    body: BatchPredictRequest,
    services: ServicesDep,
    model: ServedModelDep,
) -> Response:
    """Up to 10,000 rows in one call, one log row each, all committed before the answer."""
    given, used = body.rows, model.feature_names
    # Rows hold only declared inputs (extra keys are refused), so their sizes tell in 0.1 ms
    # whether any row gave an optional one; most batches give none.
    any_optional = sum(map(len, given)) != len(FEATURES.core) * len(given)
    inputs = {}
    for feature in FEATURES:
        name = feature.name
        if feature.core:
            inputs[name] = [row[name] for row in given]
        elif name in used or any_optional:
            column = [row.get(name) for row in given]
            if name in used and None in column:
                raise missing_input(model, name, ("rows", column.index(None)))
            if name in used or any(value is not None for value in column):
                inputs[name] = column
    rows = score(model, inputs, len(given))
    ids = await services.prediction_log.write(rows)
    return json_response({
        "model_version": rows.model_version,
        "predictions": [
            {"purchased": purchased, "probability": probability}
            for purchased, probability in zip(rows.purchased, rows.probabilities, strict=True)
        ],
        "prediction_ids": ids,
    })
