"""What a worker holds for its lifetime: settings, the engine, the log writer, the loaded model."""

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from app.core.settings import Settings
from app.store.model_holder import ModelHolder
from app.store.prediction_log import PredictionLog


@dataclass
class Services:
    settings: Settings
    engine: Engine
    prediction_log: PredictionLog
    # Told each version this worker starts serving (the served_model_version gauge).
    on_model_loaded: Callable[[int], object] = lambda version: None
    models: ModelHolder = field(init=False)

    def __post_init__(self) -> None:
        self.models = ModelHolder(self.engine, self.on_model_loaded)
