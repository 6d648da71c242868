"""Structured JSON logs: one object a line, with a timestamp, the service id and the trace id when
known, so a log line leads to the workflow in the Web UI and to its trace. Secrets never reach a
record: tokens and keys are held in SecretStr or digests and are not logged anywhere.

Both processes (the API and the worker) call `setup_logging` first thing, and everything they
write goes through it: their own loggers, uvicorn's (server and access lines), the Temporal Rust
core's (forwarded by the runtime, see `legato.telemetry.temporal_runtime`), Python warnings and an
uncaught exception. `LEGATO_LOG_FORMAT=text` gives the same lines as plain text."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace

from legato.config import Settings

STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# uvicorn adds `color_message` (ANSI escapes) to its records; the Temporal core's records carry
# `temporal_log`, whose target and fields are written out as `target` and `fields` instead.
DROPPED = {"color_message", "temporal_log"}
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def _service_id(record: logging.LogRecord) -> str | None:
    """Temporal's workflow and activity loggers attach the workflow id: service-<id>[/...]."""
    info = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None) or {}
    workflow_id = info.get("workflow_id") if isinstance(info, dict) else None
    if workflow_id and workflow_id.startswith("service-"):
        return workflow_id.removeprefix("service-").split("/")[0]
    return getattr(record, "service_id", None)


def _plain(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        service_id = _service_id(record)
        if service_id:
            entry["service_id"] = service_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = f"{context.trace_id:032x}"
        core = getattr(record, "temporal_log", None)
        if core is not None:
            entry["target"] = core.target
            try:
                fields = core.fields
            except Exception:  # noqa: BLE001 - the SDK says this cannot fail; a log line must not
                fields = {}
            if fields:
                entry["fields"] = {key: _plain(value) for key, value in fields.items()}
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _, status = record.args
            entry.update(client=_plain(client), method=method, path=path, status=status)
        for key, value in vars(record).items():
            if key not in STANDARD and key not in DROPPED and key not in entry and not key.startswith("_"):
                entry[key] = _plain(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _log_uncaught(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("legato").critical("uncaught exception", exc_info=(kind, value, traceback))


def setup_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Send every line of the process to stderr through one formatter. uvicorn's loggers keep the
    levels it gave them (its --log-level) but lose their own plain-text handlers."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
