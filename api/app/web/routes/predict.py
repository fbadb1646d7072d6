"""POST /predict and /predict/batch: score from the loaded model, commit the log, then answer."""

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from app.domain.features import FEATURES
from app.domain.served_model import ServedModel
from app.store.prediction_log import LogRows
from app.web.deps import get_services, served_model
from app.web.schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    PredictRequest,
    PredictResponse,
)
from app.web.strict_json import DirectJSONRoute

# DirectJSONRoute: each endpoint here is async (body, request) and takes its services and model
# with plain calls; the route solves no dependencies (app/web/strict_json.py says why).
router = APIRouter(route_class=DirectJSONRoute, tags=["predictions"])

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


def input_columns(model: ServedModel, rows: Sequence[Mapping[str, Any]], *, batch: bool
                  ) -> dict[str, list[Any]]:
    """The one way requests become the scorer's columns, for a single row and a batch alike:
    every core input; an optional one when the version uses it (then every row must give it)
    or when some row gave it (logged as given)."""
    used = model.feature_names
    # Rows hold only declared inputs (extra keys are refused), so their sizes tell in 0.1 ms
    # whether any row gave an optional one; most batches give none.
    any_optional = sum(map(len, rows)) != len(FEATURES.core) * len(rows)
    inputs = {}
    for feature in FEATURES:
        name = feature.name
        if feature.core:
            inputs[name] = [row[name] for row in rows]
        elif name in used or any_optional:
            column = [row.get(name) for row in rows]
            if name in used and None in column:
                at = column.index(None)
                raise missing_input(model, name, ("rows", at) if batch else ())
            if name in used or any(value is not None for value in column):
                inputs[name] = column
    return inputs


def json_response(content: object) -> Response:
    """The handlers build their JSON directly, with orjson: FastAPI would otherwise validate
    and serialise the response model again, and for a 10,000-row batch that cost more than
    the whole prediction. response_model still documents the shape in OpenAPI."""
    return Response(orjson.dumps(content), media_type="application/json")


@router.post("/predict", response_model=PredictResponse, responses=ERRORS)
async def predict(body: PredictRequest, request: Request) -> Response:
    """Will this person buy? The answer is sent only after its log row is committed."""
    services = await get_services(request)
    model = await served_model(services)
    given = {name: value for name in FEATURES.names
             if (value := getattr(body, name)) is not None}
    inputs = input_columns(model, [given], batch=False)
    purchased, probability = model.scorer.score_one(given)
    rows = LogRows(inputs=inputs, purchased=[purchased], probabilities=[probability],
                   model_version=model.version)
    [prediction_id] = await services.prediction_log.write(rows)
    return json_response({
        "purchased": rows.purchased[0],
        "probability": rows.probabilities[0],
        "model_version": rows.model_version,
        "prediction_id": prediction_id,
    })


@router.post("/predict/batch", response_model=BatchPredictResponse, responses=ERRORS)
async def predict_batch(body: BatchPredictRequest, request: Request) -> Response:
    """Up to 10,000 rows in one call, one log row each, all committed before the answer."""
    services = await get_services(request)
    model = await served_model(services)
    given = body.rows
    inputs = input_columns(model, given, batch=True)
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
