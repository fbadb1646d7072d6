"""GET /accuracy: the served version's metrics on the workshop's held-out rows, and `live`:
how its logged predictions compare with the outcomes recorded for them."""

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import registry
from app.deps import ServedModelDep, ServicesDep
from app.models import ModelVersion
from app.routes.models import live_accuracy
from app.schemas import AccuracyResponse, ErrorResponse

router = APIRouter(tags=["model"])


@router.get("/accuracy", response_model=AccuracyResponse, responses={503: {"model": ErrorResponse}})
def accuracy(
    services: ServicesDep,
    model: ServedModelDep,
) -> AccuracyResponse:
    # Read from the database, not from memory, so the answer is the stored record of truth
    # (and an outage shows as a 503 here as it does on /predict).
    with Session(services.engine) as session:
        stored = session.execute(
            select(ModelVersion.algorithm, ModelVersion.metrics, ModelVersion.trained_at,
                   ModelVersion.features).where(
                ModelVersion.version == model.version
            )
        ).one()
        live = registry.live_metrics(session).get(model.version, registry.NO_OUTCOMES)
    metrics = stored.metrics
    return AccuracyResponse(
        model=stored.algorithm,
        accuracy=metrics["accuracy"],
        confusion_matrix=metrics["confusion_matrix"],
        roc_auc=metrics["roc_auc"],
        n_train=metrics["n_train"],
        n_test=metrics["n_test"],
        model_version=model.version,
        features=stored.features,
        trained_at=stored.trained_at,
        live=live_accuracy(live),
    )
