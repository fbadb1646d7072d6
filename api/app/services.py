"""What a worker holds for its lifetime: settings, the engine, the log writer, the loaded model."""

import threading
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app import registry
from app.config import Settings
from app.prediction_log import PredictionLog


class ModelHolder:
    """Loads the newest model version once; if the database was down at start, on first use."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._model: registry.ServedModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> registry.ServedModel | None:
        return self._model

    def get(self) -> registry.ServedModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    with Session(self._engine) as session:
                        self._model = registry.load_latest(session)
        return self._model


@dataclass
class Services:
    settings: Settings
    engine: Engine
    prediction_log: PredictionLog
    models: ModelHolder = field(init=False)

    def __post_init__(self) -> None:
        self.models = ModelHolder(self.engine)


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, which would
    # add a thread hop to every request for a dictionary lookup.
    services: Services = request.app.state.services
    return services
