"""The state a service's entity workflow carries, also across continue-as-new."""

from __future__ import annotations

from pydantic import BaseModel, Field

from legato.model import ServiceSpec, ServiceStatus
from legato.model.clusters import ScaleClusterRequest
from legato.model.components import DeployedComponent
from legato.model.federation import FederatedPart
from legato.model.operations import OperationRecord


class Compensation(BaseModel):
    """How to undo one step, as data (not a closure), so it survives continue-as-new and can be
    run selectively: a move frees the source site's resources by running their compensations."""

    key: str  # the resource it undoes: "hosts@<site>", "cluster@<site>", "workload@<component>", ...
    step: str  # shown as "undo <step>"
    activity: str | None = None
    arg: dict = Field(default_factory=dict)
    child: ScaleClusterRequest | None = None
    child_id: str | None = None
    child_workflow: str | None = None  # the child's registered name, from its definition (data, like `activity`)


class ComponentState(DeployedComponent):
    endpoint: str = ""


class ConnectionState(BaseModel):
    key: str  # "link@<i>" or "qos@<i>"
    kind: str  # link | qos
    id: str
    description: str


class LeftBehind(BaseModel):
    component: str
    site: str
    cluster: str
    workload_id: str


class ServiceEntity(BaseModel):
    spec: ServiceSpec
    status: ServiceStatus
    undo: list[Compensation] = Field(default_factory=list)
    components: dict[str, ComponentState] = Field(default_factory=dict)
    connections: list[ConnectionState] = Field(default_factory=list)
    federated: dict[str, FederatedPart] = Field(default_factory=dict)  # by partner: parts run by partners
    operations: dict[str, OperationRecord] = Field(default_factory=dict)  # finished, by request id
    deployed: bool = False
    terminate_requested: bool = False
    pending_repairs: list[dict] = Field(default_factory=list)  # RepairRequests signalled by Reconcile
    # What a move away from a failed cluster could not remove there (its cluster did not answer):
    # removed, and the site given back, when the autopilot sees the cluster back (a `left-behind` repair).
    left_behind: list[LeftBehind] = Field(default_factory=list)

    def federated_part(self, component: str | None) -> FederatedPart | None:
        return next((p for p in self.federated.values() if component in p.components), None)
