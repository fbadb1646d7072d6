"""GET /accuracy: the served version's metrics on the held-out quarter of the data set."""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ModelVersion
from app.registry import ServedModel
from app.routes.predict import served_model
from app.schemas import AccuracyResponse, ErrorResponse
from app.services import Services, get_services

router = APIRouter(tags=["model"])


@router.get("/accuracy", response_model=AccuracyResponse, responses={503: {"model": ErrorResponse}})
def accuracy(
    services: Annotated[Services, Depends(get_services)],
    model: Annotated[ServedModel, Depends(served_model)],
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
    )
