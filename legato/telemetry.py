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
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig

from legato.config import Settings

log = logging.getLogger("legato.telemetry")
tracer = trace.get_tracer("legato")


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


CORE_LOGGER = "temporalio.core"
_runtimes: dict[str | None, Runtime] = {}  # by metrics address: one runtime each, built once


def temporal_runtime(settings: Settings, metrics: bool = False) -> Runtime:
    """The process's Temporal runtime. The Rust core's own lines (a poll failing while the server
    restarts, ...) are forwarded to the Python logger `temporalio.core`, so they come out as the
    process's JSON lines instead of being printed to stderr in colour. With `metrics` (the worker)
    and `LEGATO_WORKER_METRICS_ADDRESS` set, it also exports the worker's metrics for Prometheus
    there; the API, which shares the environment under `legato up`, never binds that port."""
    address = settings.worker_metrics_address if metrics else None
    if address not in _runtimes:
        forward = LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER), append_target_to_name=False,
                                      prepend_target_on_message=False, append_log_fields_to_message=False)
        prometheus = None if address is None else PrometheusConfig(bind_address=address, durations_as_seconds=True)
        _runtimes[address] = Runtime(telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=LoggingConfig.default.filter, forwarding=forward), metrics=prometheus))
    return _runtimes[address]


def worker_runtime(settings: Settings) -> Runtime:
    """The worker's runtime: core logs forwarded, metrics exported when an address is set."""
    return temporal_runtime(settings, metrics=True)


SPAN_FIELDS = {"service_id": "legato.service_id", "site": "legato.site", "step": "legato.operation",
               "op_id": "legato.op_id", "cluster_id": "legato.cluster"}


@contextmanager
def adapter_span(name: str, request: object):
    """A span around one backend call, named for the adapter operation, with the request's ids."""
    attributes = {key: str(getattr(request, field)) for field, key in SPAN_FIELDS.items()
                  if getattr(request, field, None) is not None}
    with tracer.start_as_current_span(f"adapter {name}", attributes=attributes) as span:
        yield span
