"""The ASGI application: public API routes, CORS, error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from spyglass.services.container import Services
from spyglass.web.api import (
    datasets,
    experiments,
    health,
    ingestion,
    media,
    metrics,
    models,
    observations,
    prompts,
    scores,
    scores_v3,
    sessions,
    traces,
)
from spyglass.web.errors import install_error_handlers


def create_app(
    services: Services,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            on_startup()
        yield
        if on_shutdown:
            on_shutdown()

    # No Swagger page: it loads its assets from a CDN, which an offline install cannot reach.
    app = FastAPI(title="Spyglass", version=services.version, lifespan=lifespan, docs_url=None,
                  openapi_url="/api/openapi.json", redoc_url=None)
    app.state.services = services
    # Langfuse reflects every origin without credentials; browser SDKs rely on it.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    install_error_handlers(app)
    for module in (health, ingestion, traces, observations, sessions, scores, scores_v3, metrics, models, prompts,
                   datasets, experiments, media):
        app.include_router(module.router)
    return app
