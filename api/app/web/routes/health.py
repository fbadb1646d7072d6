"""Liveness and readiness, for compose healthchecks and load balancers."""


from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.store.registry import NoModelError
from app.web.deadline import within_deadline
from app.web.deps import ServicesDep
from app.web.errors import DATABASE_UNAVAILABLE
from app.web.schemas import Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """The process is alive (cheap: no database)."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status, responses={503: {"model": Status}})
async def readyz(services: ServicesDep) -> Status | JSONResponse:
    """The database answers and a model version is loaded (within the database deadline)."""
    def check() -> None:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        services.models.get()

    try:
        await within_deadline(services, check)
    except NoModelError:
        return JSONResponse({"status": "No model has been trained yet."}, status_code=503)
    except Exception:  # noqa: BLE001  # any other failure means the database is not usable
        return JSONResponse({"status": DATABASE_UNAVAILABLE}, status_code=503)
    return Status(status="ready")
