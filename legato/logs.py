"""Structured JSON logs: one object a line, with the service id and the trace id when known, so a
log line leads to the workflow in the Web UI and to its trace. Secrets never reach a record:
tokens and keys are held in SecretStr or digests and are not logged anywhere."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace

from legato.config import Settings

STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _service_id(record: logging.LogRecord) -> str | None:
    """Temporal's workflow and activity loggers attach the workflow id: service-<id>[/...]."""
    info = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None) or {}
    workflow_id = info.get("workflow_id") if isinstance(info, dict) else None
    if workflow_id and workflow_id.startswith("service-"):
        return workflow_id.removeprefix("service-").split("/")[0]
    return getattr(record, "service_id", None)


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
        for key, value in vars(record).items():
            if key not in STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: Settings, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
