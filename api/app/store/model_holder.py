"""The served model version a worker holds, loaded from the registry and swapped on promote."""

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.domain.served_model import ServedModel
from app.store import registry

log = logging.getLogger(__name__)


class ModelHolder:
    """The served model version: loaded at start (or, if the database was down then, on first
    use), replaced when the served version changes (`switch_to`). A replacement is one
    reference assignment of a new immutable ServedModel: a request that already took the old
    one finishes with it, and its answer and log row carry that version."""

    def __init__(self, engine: Engine,
                 on_load: Callable[[int], object] = lambda version: None) -> None:
        self._engine = engine
        self._model: ServedModel | None = None
        self._lock = threading.Lock()
        # Told the version whenever this worker starts serving one (at start, on first use,
        # on a switch): the served_model_version gauge, so each worker publishes its own
        # version the moment it changes, not when it next happens to answer a scrape.
        self._on_load = on_load

    @property
    def loaded(self) -> ServedModel | None:
        return self._model

    def get(self) -> ServedModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    with Session(self._engine) as session:
                        model = registry.load_served(session)
                    self._model = model
                    self._on_load(model.version)
        return self._model

    def switch_to(self, version: int) -> bool:
        """Serve `version` (blocking: run it in a thread); False if it already is served."""
        with self._lock:
            if self._model is not None and self._model.version == version:
                return False
            with Session(self._engine) as session:
                model = registry.load(session, version)
            self._model = model
            self._on_load(version)
        log.info("now serving model version %d", version)
        return True
