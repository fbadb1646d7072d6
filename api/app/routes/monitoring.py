"""GET /metrics (Prometheus, on the API's own port only: nginx answers 404) and GET /drift."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app import drift
from app.metrics import Metrics, drift_family, exposition
from app.registry import ServedModel
from app.routes.predict import served_model
from app.schemas import ErrorResponse
from app.services import Services, get_services

router = APIRouter()


class DriftResponse(BaseModel):
    model_version: int
    window: int  # how many newest logged inputs of this version are compared, at most
    rows: int  # how many there were
    psi: dict[str, float]  # per feature


def compute_drift(services: Services, model: ServedModel) -> DriftResponse:
    window = services.settings.drift_window
    with Session(services.engine) as session:
        recent = drift.recent_inputs(session, model.version, window)
    training = [(age, salary) for age, salary, _ in model.training_points]
    return DriftResponse(model_version=model.version, window=window, rows=len(recent),
                         psi=drift.psi_by_feature(training, recent))


@router.get("/drift", response_model=DriftResponse, tags=["model"],
            responses={503: {"model": ErrorResponse}})
def input_drift(
    services: Annotated[Services, Depends(get_services)],
    model: Annotated[ServedModel, Depends(served_model)],
) -> DriftResponse:
    """Population stability index of recent inputs against the training rows, per feature."""
    return compute_drift(services, model)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    collected: Metrics = request.app.state.metrics
    extra = []
    model = services.models.loaded
    if model is not None:
        collected.served_version.set(model.version)  # also when loaded after a late start
        try:
            figures = compute_drift(services, model)
        except Exception:  # noqa: BLE001  # the database is away: every other figure still counts
            figures = None
        if figures is not None:
            extra = drift_family(figures.model_version, figures.rows, figures.psi)
    body = exposition(collected, services.settings.prometheus_multiproc_dir is not None, extra)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
