"""Live state of a service as its workflow reports it (query) and the inventory records it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from legato.model.placement import PlacementDecision


class ServiceState(StrEnum):
    accepted = "accepted"
    scheduled = "scheduled"  # waiting for not_before
    placing = "placing"
    provisioning = "provisioning"
    deploying = "deploying"
    connecting = "connecting"
    active = "active"
    rolling_back = "rolling-back"
    failed = "failed"
    terminating = "terminating"
    terminated = "terminated"


TERMINAL_STATES = frozenset({ServiceState.failed, ServiceState.terminated})


class StepState(StrEnum):
    running = "running"
    done = "done"
    failed = "failed"
    compensating = "compensating"
    compensated = "compensated"


class Step(BaseModel):
    name: str
    state: StepState
    detail: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None


class Endpoint(BaseModel):
    component: str
    site: str
    cluster: str
    address: str


class ServiceStatus(BaseModel):
    service_id: str
    tenant: str
    name: str
    state: ServiceState
    steps: list[Step] = Field(default_factory=list)
    placement: PlacementDecision | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)
    error: str | None = None
