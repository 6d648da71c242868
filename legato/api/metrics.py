"""/metrics for Prometheus: the API's own counters, service and operation figures read from the
inventory at scrape time, and the worker's metrics (Temporal SDK's and Legato's steps,
compensations, placement time) appended from the worker's endpoint when one is configured. The
operator's token only (403 for a tenant): the figures cover every tenant's services."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from starlette.middleware.base import BaseHTTPMiddleware

from legato.api.dependencies import OperatorDep, SettingsDep
from legato.inventory import Inventory

router = APIRouter(tags=["health"])
DURATION_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, float("inf"))


class InventoryCollector(Collector):
    """Figures that must agree with the inventory, so they are read from it at each scrape."""

    def __init__(self, inventory: Inventory):
        self.inventory = inventory

    def collect(self):
        states = GaugeMetricFamily("legato_services", "Services by state", labels=["state"])
        for state, count in sorted(self.inventory.count_services_by_state().items()):
            states.add_metric([state], count)
        yield states
        rows = self.inventory.operation_outcomes()
        outcomes = GaugeMetricFamily("legato_operations", "Day-2 operations by kind and outcome",
                                     labels=["kind", "state"])
        for (kind, state), count in sorted(Counter((k, s) for k, s, _ in rows).items()):
            outcomes.add_metric([kind, state], count)
        yield outcomes
        durations = HistogramMetricFamily("legato_operation_duration_seconds", "Day-2 operation durations",
                                          labels=["kind"])
        for kind in sorted({k for k, _, _ in rows}):
            values = [d for k, _, d in rows if k == kind and d is not None]
            buckets = [(str(b), sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
            durations.add_metric([kind], buckets, sum(values))
        yield durations


class ApiMetrics:
    def __init__(self, inventory: Inventory):
        self.registry = CollectorRegistry()
        self.requests = PromCounter("legato_api_requests", "API requests", ["method", "route", "status"],
                                    registry=self.registry)
        self.latency = Histogram("legato_api_request_seconds", "API request time", ["route"],
                                 registry=self.registry)
        self.registry.register(InventoryCollector(inventory))


class RequestMetrics(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics: ApiMetrics = request.app.state.metrics
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - start)
        return response


def api_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(_: OperatorDep, api: Annotated[ApiMetrics, Depends(api_metrics)],
                  settings: SettingsDep) -> PlainTextResponse:
    body = await asyncio.to_thread(generate_latest, api.registry)
    text = body.decode()
    url = settings.worker_metrics_url
    if url:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                worker = await client.get(url)
            text += f"# worker metrics from {url}\nlegato_worker_metrics_up 1\n" + worker.text
        except httpx.HTTPError:
            text += "legato_worker_metrics_up 0\n"
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
