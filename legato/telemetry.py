"""Tracing and metrics set-up. One trace runs from the API request through the workflow, each
activity and each adapter call (Temporal's OpenTelemetry interceptor carries the context across
processes in workflow and activity headers). Worker metrics, Temporal's and Legato's own, go
through the Temporal runtime's Prometheus exporter."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from legato.config import Settings

log = logging.getLogger("legato.telemetry")
tracer = trace.get_tracer("legato")
_runtime: Runtime | None = None


def setup_tracing(settings: Settings, service_name: str) -> None:
    """`none` (default) keeps OpenTelemetry's no-op provider; `console` prints spans; `otlp` sends
    them to `LEGATO_OTEL_ENDPOINT` (an OTLP/HTTP collector)."""
    exporter = settings.otel_exporter
    if exporter == "none" or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint)
    else:
        raise ValueError(f"LEGATO_OTEL_EXPORTER must be none, console or otlp, not {exporter!r}")
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the worker's metrics for Prometheus, once per process."""
    global _runtime
    if settings.worker_metrics_address is None:
        return None
    if _runtime is None:
        _runtime = Runtime(telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=settings.worker_metrics_address, durations_as_seconds=True)))
    return _runtime


SPAN_FIELDS = {"service_id": "legato.service_id", "site": "legato.site", "step": "legato.operation",
               "op_id": "legato.op_id", "cluster_id": "legato.cluster"}


@contextmanager
def adapter_span(name: str, request: object):
    """A span around one backend call, named for the adapter operation, with the request's ids."""
    attributes = {key: str(getattr(request, field)) for field, key in SPAN_FIELDS.items()
                  if getattr(request, field, None) is not None}
    with tracer.start_as_current_span(f"adapter {name}", attributes=attributes) as span:
        yield span
