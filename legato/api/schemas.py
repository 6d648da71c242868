"""What the API returns (request bodies are the domain model's ServiceSpec)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from legato.model import PlacementDecision, Step
from legato.model.components import DeployedComponent
from legato.model.status import Endpoint

MAX_OFFSET = 2**62  # paging offsets beyond this would overflow the database's integers


class Accepted(BaseModel):
    id: str
    workflow_id: str
    state: str
    location: str


class ServingOut(BaseModel):
    """What a component serves now on one cluster, as its backend reports it."""

    cluster: str
    workload_id: str
    replicas: int = Field(description="asked for")
    ready: int = Field(description="ready replicas taking traffic now, whatever their version")
    updated: int = Field(description="ready replicas on the target version")
    versions: dict[str, int] = Field(default_factory=dict, description="ready replicas per version")


class ComponentOut(DeployedComponent):
    endpoint: str | None = None
    serving: list[ServingOut] | None = Field(
        default=None, description="what serves now, per cluster (a move or a canary shows two); None when the "
        "backend could not be asked")


class ConnectionOut(BaseModel):
    id: str
    kind: str
    description: str
    latency_ms: float


class FederatedPartOut(BaseModel):
    partner: str
    request_id: str
    remote_id: str
    components: list[str]
    state: str
    endpoints: list[Endpoint] = Field(default_factory=list)


class ServiceSummary(BaseModel):
    id: str
    name: str
    tenant: str
    state: str
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class ServiceDetail(ServiceSummary):
    workflow_id: str
    spec: dict
    placement: PlacementDecision | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)
    components: list[ComponentOut] = Field(default_factory=list)
    connections: list[ConnectionOut] = Field(default_factory=list)
    federated: list[FederatedPartOut] = Field(default_factory=list, description="parts run by partner operators")
    steps: list[Step] = Field(default_factory=list, description="live progress from the workflow")


class Page(BaseModel):
    items: list
    total: int
    offset: int
    limit: int
