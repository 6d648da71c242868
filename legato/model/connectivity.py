"""Links between sites and user-access QoS, as the TCM and the workflows speak of them."""

from __future__ import annotations

from pydantic import BaseModel


class LinkRequest(BaseModel):
    id: str
    service_id: str
    source_site: str
    target_site: str
    source_endpoint: str
    target_endpoint: str
    bandwidth_mbps: float
    max_latency_ms: float


class QosRequest(BaseModel):
    id: str
    service_id: str
    area: str
    site: str
    endpoint: str
    profile: str
    bandwidth_mbps: float
    max_latency_ms: float


class Connection(BaseModel):
    """A link or a QoS session as the TCM reports it."""

    id: str
    service_id: str
    kind: str  # link | qos
    latency_ms: float
