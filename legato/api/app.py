"""The FastAPI application: one Temporal client, one inventory, token auth on every route."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_standalone_docs
from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from legato.api import (
    autopilot,
    clusters,
    errors,
    federation,
    health,
    measures,
    metrics,
    operations,
    proposals,
    resources,
    schedules,
    services,
    sim,
    user_locations,
)
from legato.api.auth import TokenStore
from legato.api.tmf.routes import routers as tmf_routers
from legato.config import Settings
from legato.federation.partners import load_federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.tmf import TmfRecords
from legato.telemetry import setup_tracing, temporal_runtime
from legato.temporal import connect, search_attributes_registered

log = logging.getLogger("legato.api")
# Swagger UI 5 and ReDoc as shipped in the PyPI package `fastapi-standalone-docs`.
DOCS_ASSETS = Path(fastapi_standalone_docs.__path__[0]) / "static"


def serve_docs_offline(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from files inside the installed package: FastAPI's own pages
    load their JavaScript and CSS from a CDN, so they were blank without Internet. The package is
    `fastapi-standalone-docs` rather than `swagger-ui-bundle`, whose Swagger UI 4 refuses FastAPI's
    OpenAPI 3.1 ("Unable to render this definition"). No validator badge: it calls out too."""
    app.mount("/docs/swagger", StaticFiles(directory=DOCS_ASSETS / "swagger"), name="docs-swagger")
    app.mount("/docs/fastapi", StaticFiles(directory=DOCS_ASSETS / "fastapi"), name="docs-favicon")
    # the ReDoc bundle in this package looks for its logo beside the page: /redoc/logo-mini.svg
    app.mount("/redoc", StaticFiles(directory=DOCS_ASSETS / "redoc"), name="docs-redoc")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}/docs/swagger/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/swagger/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/fastapi/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=root + app.openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}/redoc/redoc.standalone.js", redoc_favicon_url=f"{root}/docs/fastapi/favicon.png",
            with_google_fonts=False)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    setup_tracing(settings, "legato-api")
    lock = asyncio.Lock()
    client_box: list[Client] = []

    async def get_temporal() -> Client:
        """Connect lazily (and again after a failure) so the API starts before Temporal is up."""
        if client_box:
            return client_box[0]
        async with lock:
            if not client_box:
                try:
                    client = await connect(settings, temporal_runtime(settings))
                except Exception:  # noqa: BLE001 - reported to the caller as 503, details in our log
                    log.exception("cannot reach Temporal at %s", settings.temporal_address)
                    raise HTTPException(503, "the orchestration engine is unreachable; retry later") from None
                app.state.indexed = await search_attributes_registered(client)
                client_box.append(client)
        return client_box[0]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        warming = asyncio.create_task(asyncio.to_thread(app.state.live.warm))  # read the continuum at start-up
        yield
        await warming

    app = FastAPI(
        title="Legato",
        version="0.1.0",
        description="Multi-Cloud Orchestrator for the telco cloud-edge continuum. Every route needs a bearer token.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    serve_docs_offline(app)
    app.state.settings = settings
    app.state.inventory = Inventory(settings.inventory_url, settings.public_base)
    app.state.live = LiveContinuum(app.state.inventory)  # validation reads the continuum without re-reading it
    app.state.tmf = TmfRecords(app.state.inventory)
    app.state.tokens = TokenStore.from_settings(settings)
    app.state.federation = load_federation(settings.federation_file)
    app.state.metrics = metrics.ApiMetrics(app.state.inventory)
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(errors.BodyLimit)
    app.state.temporal = get_temporal
    app.state.indexed = False
    app.include_router(services.router)
    app.include_router(operations.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(clusters.router)
    app.include_router(resources.router)
    app.include_router(federation.router)
    app.include_router(proposals.router)
    app.include_router(autopilot.router)
    app.include_router(measures.router)
    app.include_router(user_locations.router)
    app.include_router(schedules.router)
    app.include_router(sim.router)
    for router in tmf_routers:
        app.include_router(router)

    errors.install(app)
    return app
