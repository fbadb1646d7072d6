"""GET /models: every version, its holdout and live figures, and which one is served."""

from fastapi import APIRouter
from sqlalchemy.orm import Session

from app.store import registry
from app.web.deadline import within_deadline
from app.web.deps import ServicesDep
from app.web.schemas import ErrorResponse, LiveAccuracy, ModelsResponse, VersionInfo

router = APIRouter(tags=["model"])


@router.get("/models", response_model=ModelsResponse, responses={503: {"model": ErrorResponse}})
async def models(services: ServicesDep) -> ModelsResponse:
    def read() -> list[registry.VersionSummary]:
        with Session(services.engine) as session:
            return registry.versions(session)

    summaries = await within_deadline(services, read)
    return ModelsResponse(
        served_version=next((v.version for v in summaries if v.served), None),
        versions=[
            VersionInfo(version=v.version, trained_at=v.trained_at, algorithm=v.algorithm,
                        features=v.features, training=v.training, holdout=v.holdout,
                        live=LiveAccuracy.of(v.live), served=v.served)
            for v in summaries
        ],
    )
