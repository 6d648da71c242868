"""Inputs of the activities: what a workflow passes (all carry the step's operation id)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from legato.adapters.tcm import LinkRequest, QosRequest
from legato.adapters.wdm import WorkloadSpec
from legato.model import Candidate, ServiceSpec, SitePlan


class Op(BaseModel):
    op_id: str
    service_id: str
    step: str


class AllocateHosts(Op):
    site: str
    host_ids: list[str]


class ReleaseHosts(Op):
    allocation_op_id: str
    host_ids: list[str]


class CreateCluster(Op):
    cluster_id: str
    site: str
    host_ids: list[str]


class ChangeNodes(Op):
    cluster_id: str
    host_ids: list[str]


class DeleteCluster(Op):
    cluster_id: str


class DeployWorkload(Op):
    cluster_id: str
    site: str
    workload: WorkloadSpec


class WaitReady(Op):
    cluster_id: str
    workload_id: str
    poll_seconds: float = 0.2


class RemoveWorkload(Op):
    cluster_id: str
    workload_id: str
    component: str


class Connect(Op):
    link: LinkRequest
    description: str


class SetQos(Op):
    qos: QosRequest
    description: str


class Disconnect(Op):
    connection_id: str
    kind: str  # link | qos


class ServiceUpdate(BaseModel):
    service_id: str
    state: str
    error: str | None = None
    placement: dict | None = None
    endpoints: list[dict] | None = None
    spec: dict | None = None


class PlaceRequest(BaseModel):
    spec: ServiceSpec
    exclude_sites: list[str] = Field(default_factory=list)
    federate: bool = Field(default=True, description="may send components to partners (never for a partner's own)")


class ScaleWorkload(Op):
    cluster_id: str
    workload_id: str
    component: str
    replicas: int


class UpgradeWorkload(Op):
    cluster_id: str
    workload_id: str
    component: str
    image: str
    version: str


class WorkloadRef(BaseModel):
    cluster_id: str
    workload_id: str


class PlanGrowth(BaseModel):
    spec: ServiceSpec
    component: str
    extra_replicas: int
    site: str
    cluster_id: str


class PlaceComponent(BaseModel):
    spec: ServiceSpec
    component: str
    current: dict[str, str]  # component -> site
    target_site: str | None = None


class SiteChoice(BaseModel):
    plan: SitePlan | None
    reason: str
    rejected: list[Candidate] = Field(default_factory=list)


class RecordComponent(BaseModel):
    """A component's inventory row as its workflow knows it (the fields of ComponentRow)."""

    service_id: str
    name: str
    site: str
    cluster: str
    workload_id: str
    image: str
    version: str
    replicas: int
    cpu: float
    memory_mb: int
    gpu: int = 0
    endpoint: str | None = None


class RecordOperation(BaseModel):
    service_id: str
    record: dict


class RebalanceScan(BaseModel):
    min_gain: float


class ExecuteProposal(BaseModel):
    proposal_id: str
    by: str = "rebalance"

class RemotePart(Op):
    """A part of the service at a partner, named by our request id (the partner dedups on it)."""

    partner: str
    request_id: str
    components: list[str]
    poll_seconds: float = 0.5


class SendFederation(RemotePart):
    spec: ServiceSpec  # the whole service: the activity cuts the partner's part out of it


class ForwardOperation(RemotePart):
    operation: dict  # an Operation, as JSON
