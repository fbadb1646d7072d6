"""/openapi.json as the served model version requires it.

The request schemas (`app.web.schemas`) declare the core inputs required and every other input
optional: which of those the handlers require depends on the version served, and that changes
on promote and rollback without a restart (`app.store.served_version_listener`). A client
generated from a document that called `gender` optional would break after a gender version is
promoted, so the document marks the inputs the served version uses as required, in the single
request and in each batch row, and follows the model this worker holds: the schema is kept
per set of required inputs, so a swap of the model is a swap of the document.
"""

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.domain.features import FEATURES
from app.web.services import Services

# The component schemas that carry the model's inputs: POST /predict's body, a batch's row.
INPUT_SCHEMAS = ("PredictRequest", "PredictRow")


def served_inputs(app: FastAPI) -> tuple[str, ...]:
    """The optional inputs the model this worker serves uses (none until one is loaded)."""
    services: Services | None = getattr(app.state, "services", None)
    model = None if services is None else services.models.loaded
    if model is None:
        return ()
    return tuple(f.name for f in FEATURES if not f.core and f.name in model.feature_names)


def requiring(document: dict[str, Any], inputs: tuple[str, ...]) -> dict[str, Any]:
    """A copy of the document whose input schemas require the core inputs and `inputs`."""
    document = copy.deepcopy(document)
    required = [f.name for f in FEATURES if f.core or f.name in inputs]
    example = {f.name: f.example for f in FEATURES if f.name in required}
    for name in INPUT_SCHEMAS:
        schema = document["components"]["schemas"][name]
        schema["required"] = required
        if "examples" in schema:
            schema["examples"] = [example]
    return document


def install(app: FastAPI) -> None:
    """Replace the app's cached document by one that follows the served version."""
    build: Callable[[], dict[str, Any]] = app.openapi
    documents: dict[tuple[str, ...], dict[str, Any]] = {}

    def served_openapi() -> dict[str, Any]:
        inputs = served_inputs(app)
        if inputs not in documents:
            documents[inputs] = requiring(build(), inputs)
        return documents[inputs]

    app.openapi = served_openapi  # type: ignore[method-assign]  # FastAPI's documented hook
