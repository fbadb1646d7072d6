"""What a worker holds for its lifetime: settings, the engine, the log writer, the loaded model."""

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app import registry
from app.config import Settings
from app.prediction_log import PredictionLog

log = logging.getLogger(__name__)


class ModelHolder:
    """The served model version: loaded at start (or, if the database was down then, on first
    use), replaced when the served version changes (`switch_to`). A replacement is one
    reference assignment of a new immutable ServedModel: a request that already took the old
    one finishes with it, and its answer and log row carry that version."""

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
                        self._model = registry.load_served(session)
        return self._model

    def switch_to(self, version: int) -> bool:
        """Serve `version` (blocking: run it in a thread); False if it already is served."""
        with self._lock:
            if self._model is not None and self._model.version == version:
                return False
            with Session(self._engine) as session:
                model = registry.load(session, version)
            self._model = model
        log.info("now serving model version %d", version)
        return True


@dataclass
class Services:
    settings: Settings
    engine: Engine
    prediction_log: PredictionLog
    models: ModelHolder = field(init=False)

    def __post_init__(self) -> None:
        self.models = ModelHolder(self.engine)
