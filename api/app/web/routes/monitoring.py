"""GET /metrics (Prometheus, on the API's own port only: nginx answers 404) and GET /drift."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.domain import drift
from app.domain.served_model import ServedModel
from app.store import registry
from app.store.prediction_reads import recent_inputs
from app.web.deadline import within_deadline
from app.web.deps import ServedModelDep, ServicesDep
from app.web.prometheus import Metrics, drift_families, exposition, live_families
from app.web.schemas import ErrorResponse
from app.web.services import Services

router = APIRouter()


class DriftResponse(BaseModel):
    model_version: int
    window: int  # how many newest logged inputs of this version are compared, at most
    rows: int  # how many there were
    min_rows: int  # fewer than this: no figures, the verdict "not enough data yet"
    enough_data: bool
    verdict: str  # "not enough data yet", "stable", "moderate shift" or "shifted"
    psi: dict[str, float]  # per input of this version; empty without enough data


def compute_drift(services: Services, model: ServedModel) -> DriftResponse:
    window = services.settings.drift_window
    with Session(services.engine) as session:
        recent = recent_inputs(session, model.version, model.features, window)
    enough = len(recent) >= drift.MIN_ROWS
    figures = (drift.psi_by_feature(model.features, model.training_points, recent)
               if enough else {})
    return DriftResponse(model_version=model.version, window=window, rows=len(recent),
                         min_rows=drift.MIN_ROWS, enough_data=enough,
                         verdict=drift.verdict(len(recent), figures), psi=figures)


def enough_data_family(model_version: int, enough: bool) -> Metric:
    family = GaugeMetricFamily(
        "model_input_drift_enough_data",
        f"1 when the drift figures rest on at least {drift.MIN_ROWS} logged inputs; 0: not "
        "enough data yet, and model_input_drift_psi is left out.", labels=["model_version"])
    family.add_metric([str(model_version)], int(enough))
    return family


@router.get("/drift", response_model=DriftResponse, tags=["model"],
            responses={503: {"model": ErrorResponse}})
async def input_drift(services: ServicesDep, model: ServedModelDep) -> DriftResponse:
    """Population stability index of recent inputs against the training rows, per input."""
    return await within_deadline(services, lambda: compute_drift(services, model))


def database_figures(services: Services, model: ServedModel | None) -> list[Metric]:
    """Drift of the served version and every version's outcomes, read at scrape time."""
    families: list[Metric] = []
    with Session(services.engine) as session:
        families += live_families(registry.live_figures(session))
    if model is not None:
        figures = compute_drift(services, model)
        families += drift_families(figures.model_version, figures.rows, figures.psi)
        families.append(enough_data_family(figures.model_version, figures.enough_data))
    return families


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    collected: Metrics = request.app.state.metrics
    model = services.models.loaded
    try:
        extra = await within_deadline(services, lambda: database_figures(services, model))
    except Exception:  # noqa: BLE001  # the database is away: every other figure still counts
        extra = []
    body = exposition(collected, services.settings.prometheus_multiproc_dir is not None, extra)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
