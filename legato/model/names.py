"""Deterministic resource names from operation ids (same op id -> same name, on every retry)."""

import hashlib
from datetime import UTC, datetime


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cluster_name(site: str, op_id: str) -> str:
    return f"{site[:40]}-{short_hash(op_id)}"


def workload_name(component: str, op_id: str) -> str:
    return f"{component[:50]}-{short_hash(op_id)}"


def link_name(op_id: str) -> str:
    return f"link-{short_hash(op_id, 12)}"


def qos_name(op_id: str) -> str:
    return f"qos-{short_hash(op_id, 12)}"


def run_request_id(schedule_id: str, at: datetime) -> str:
    """A scheduled run's request id, `<schedule id>@<scheduled time, UTC, to the second>`: the same
    for every start of that time (a retry, a second backfill), so the service applies it once."""
    return f"{schedule_id}@{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
