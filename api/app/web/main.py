"""The FastAPI application: `create_app()` is what gunicorn's workers call."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from app import __version__
from app.core.database import app_dsn, make_engine
from app.core.settings import Settings, get_settings
from app.store import served_version_listener
from app.store.prediction_log import PredictionLog
from app.store.served_version_listener import ServedVersionListener
from app.web import errors, openapi
from app.web.middleware import (
    MAX_BODY_BYTES,
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    ObservabilityMiddleware,
    ServerTimingMiddleware,
)
from app.web.prometheus import Metrics
from app.web.routes import (
    accuracy,
    health,
    model_parameters,
    monitoring,
    outcomes,
    predict,
    predictions,
    versions,
)
from app.web.services import Services

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A fixed thread count per worker, so the container's pids_limit can be computed.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        engine = make_engine(settings)
        prediction_log = PredictionLog(
            app_dsn(settings),
            max_batch_rows=settings.log_batch_max_rows,
            max_waiting=settings.log_queue_max_requests,
            timeout=settings.db_timeout_s,
            on_commit=metrics.observe_commit,
            on_failure=metrics.log_commit_failures.inc,
            bulk_engine=engine,
        )
        # The gauge is set by the worker that switches (its listener), not by a scrape.
        services = Services(settings, engine, prediction_log,
                            on_model_loaded=metrics.served_version.set)
        listener = ServedVersionListener(
            app_dsn(settings, application_name=served_version_listener.APPLICATION_NAME),
            services.models, timeout=settings.db_timeout_s)
        prediction_log.start()
        try:
            served = await run_in_threadpool(services.models.get)
            log.info("serving model version %d", served.version)
        except Exception as error:  # noqa: BLE001  # start anyway; /readyz says not ready
            log.warning("model not loaded at start (%s); will retry on first request",
                        error.__class__.__name__)
        app.state.services = services
        # Everything loaded so far (numpy, FastAPI, the model) lives as long as the worker:
        # moving it out of the collector's reach keeps full collections short, which was
        # the main source of tail latency.
        gc.freeze()
        listener.start()
        yield
        await listener.stop()
        await prediction_log.stop()
        engine.dispose()

    # FastAPIOffline: /docs and /redoc load their JavaScript from this package, not a CDN.
    app = FastAPIOffline(
        title="Social Network Ads purchase predictor",
        version=__version__,
        summary="Logistic regression on age and salary, with every prediction logged.",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ServerTimingMiddleware)
    # Outside the app's error handlers, so it sees every answer they give; inside HEAD-as-GET,
    # whose copy of the request is the one the router marks with its route.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_middleware(HeadAsGetMiddleware)
    errors.install(app)
    for router in (predict.router, accuracy.router, model_parameters.router, versions.router,
                   predictions.router, outcomes.router, health.router, monitoring.router):
        app.include_router(router)
    openapi.install(app)
    return app
