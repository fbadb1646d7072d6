"""The naive reference for the benchmark: what the workshop's code would do behind an API.

Per request: sklearn's `predict` and `predict_proba` (with their input validation) and one
INSERT + COMMIT of its own. Run by the benchmark with the same gunicorn config and nginx:
    gunicorn -c api/gunicorn.conf.py 'bench.naive_app:create_app()'
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.core.database import make_engine
from app.core.settings import get_settings
from app.domain import training
from app.domain.features import FEATURES
from app.store import registry
from app.store.tables import ModelVersion, predictions
from app.web.schemas import PredictRequest, PredictResponse


def create_app() -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(get_settings())
        with Session(engine) as session:
            stored = session.get_one(ModelVersion, registry.served_version_number(session))
            state.update(engine=engine, version=stored.version,
                         features=FEATURES.stored(stored.features),
                         pipeline=training.load_pipeline(stored.pipeline))
        yield
        engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/predict")
    def predict(body: PredictRequest) -> PredictResponse:
        given = body.model_dump(exclude_none=True)
        features = training.design_matrix([given], state["features"])
        purchased = bool(state["pipeline"].predict(features)[0] == 1)
        probability = float(state["pipeline"].predict_proba(features)[0, 1])
        with state["engine"].begin() as connection:
            prediction_id = connection.execute(
                predictions.insert().values(**given, purchased=purchased,
                                            probability=probability,
                                            model_version=state["version"])
                .returning(predictions.c.id)
            ).scalar_one()
        return PredictResponse(purchased=purchased, probability=probability,
                               model_version=state["version"], prediction_id=prediction_id)

    return app
