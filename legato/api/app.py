"""The FastAPI application: one Temporal client, one inventory, token auth on every route."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from temporalio.client import Client

from legato.api import (
    clusters,
    errors,
    federation,
    health,
    metrics,
    operations,
    proposals,
    resources,
    services,
    tmf,
)
from legato.api.auth import TokenStore
from legato.config import Settings
from legato.federation.partners import load_federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.tmf import TmfRecords
from legato.telemetry import setup_tracing
from legato.temporal import connect, search_attributes_registered

log = logging.getLogger("legato.api")


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
                    client = await connect(settings)
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
    )
    app.state.settings = settings
    app.state.inventory = Inventory(settings.inventory_url, settings.public_base)
    app.state.live = LiveContinuum(app.state.inventory)  # validation reads the continuum without re-reading it
    app.state.tmf = TmfRecords(app.state.inventory)
    app.state.tokens = TokenStore.from_settings(settings)
    app.state.federation = load_federation(settings.federation_file)
    app.state.metrics = metrics.ApiMetrics(app.state.inventory)
    app.add_middleware(metrics.RequestMetrics)
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
    for router in tmf.routers:
        app.include_router(router)

    errors.install(app)
    return app
