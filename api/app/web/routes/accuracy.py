"""GET /accuracy: the served version's metrics on the workshop's held-out rows, and `live`:
how its logged predictions compare with the outcomes recorded for them."""

from fastapi import APIRouter
from sqlalchemy.orm import Session

from app.store import registry
from app.web.deadline import within_deadline
from app.web.deps import ServedModelDep, ServicesDep
from app.web.schemas import AccuracyResponse, ErrorResponse, LiveAccuracy

router = APIRouter(tags=["model"])


@router.get("/accuracy", response_model=AccuracyResponse, responses={503: {"model": ErrorResponse}})
async def accuracy(
    services: ServicesDep,
    model: ServedModelDep,
) -> AccuracyResponse:
    # Read from the database, not from memory, so the answer is the stored record of truth
    # (and an outage shows as a 503 here as it does on /predict).
    def read() -> registry.VersionSummary:
        with Session(services.engine) as session:
            return registry.summary(session, model.version)

    stored = await within_deadline(services, read)
    return AccuracyResponse(
        **stored.holdout.model_dump(),
        model=stored.algorithm,
        model_version=model.version,
        features=stored.features,
        trained_at=stored.trained_at,
        live=LiveAccuracy.of(stored.live),
    )
