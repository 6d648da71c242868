"""Telco Connectivity Manager: links between sites and user-access QoS."""

from typing import Protocol

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


class TCM(Protocol):
    async def connect(self, op_id: str, link: LinkRequest) -> Connection: ...

    async def disconnect(self, op_id: str, link_id: str) -> None: ...

    async def set_user_qos(self, op_id: str, qos: QosRequest) -> Connection: ...

    async def clear_user_qos(self, op_id: str, qos_id: str) -> None: ...

    async def list_connections(self, service_id: str | None = None) -> list[Connection]: ...
