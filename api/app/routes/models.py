"""GET /models: every version, its holdout and live metrics, and which one is served."""

from fastapi import APIRouter
from sqlalchemy.orm import Session

from app import registry
from app.deps import ServicesDep
from app.schemas import ErrorResponse, HoldoutMetrics, LiveAccuracy, ModelsResponse, VersionInfo

router = APIRouter(tags=["model"])


def live_accuracy(live: registry.LiveMetrics) -> LiveAccuracy:
    return LiveAccuracy(n_outcomes=live.n_outcomes, accuracy=live.accuracy,
                        confusion_matrix=live.confusion_matrix)


@router.get("/models", response_model=ModelsResponse, responses={503: {"model": ErrorResponse}})
def models(services: ServicesDep) -> ModelsResponse:
    with Session(services.engine) as session:
        summaries = registry.versions(session)
    return ModelsResponse(
        served_version=next((v.version for v in summaries if v.served), None),
        versions=[
            VersionInfo(version=v.version, trained_at=v.trained_at, algorithm=v.algorithm,
                        features=v.features, training=v.training,
                        holdout=HoldoutMetrics.model_validate(v.metrics),
                        live=live_accuracy(v.live), served=v.served)
            for v in summaries
        ],
    )
