"""Inputs of the activities: what a workflow passes (all carry the step's operation id)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from legato.model import Candidate, ServiceSpec, SitePlan
from legato.model.components import ComponentRecord, Footprint
from legato.model.connectivity import LinkRequest, QosRequest
from legato.model.workloads import WorkloadSpec


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


class TransferHosts(ReleaseHosts):
    """Hand hosts to a shared cluster's pool instead of releasing them (their nodes still serve)."""

    owner: str


class DrainNodes(Op):
    cluster_id: str
    host_ids: list[str]
    partial: bool


class WaitDrained(Op):
    cluster_id: str
    host_ids: list[str]
    deadline: float = Field(description="epoch seconds: past it, the nodes still busy are given up on")
    poll_seconds: float = 0.2


class HeldHosts(BaseModel):
    cluster_id: str
    allocations: dict[str, str]  # host -> the op id it must still be held under


class ReleaseReservation(Op):
    """Give back what a placement still holds (idempotent)."""


class CreateCluster(Op):
    cluster_id: str
    site: str
    host_ids: list[str]


class ChangeNodes(Op):
    cluster_id: str
    host_ids: list[str]


class DeleteCluster(Op):
    cluster_id: str


class ClusterClaim(BaseModel):
    """An operation's claim on a cluster (one at a time per cluster)."""

    cluster_id: str
    workflow_id: str
    kind: str
    detail: str = ""


class ClusterJoin(BaseModel):
    """A scaling joining the operations on a cluster: it waits, until `deadline` (epoch seconds),
    while an upgrade holds the cluster."""

    cluster_id: str
    workflow_id: str
    deadline: float = 0.0
    poll_seconds: float = 1.0


class CheckUpgrade(Op):
    cluster_id: str
    version: str


class UpgradeControlPlane(Op):
    cluster_id: str
    version: str


class UpgradeNodes(Op):
    cluster_id: str
    host_ids: list[str]
    version: str


class WaitUpgraded(Op):
    """Until the control plane, and these nodes, report `version`."""

    cluster_id: str
    version: str
    host_ids: list[str] = Field(default_factory=list)
    deadline: float = Field(description="epoch seconds: past it, the upgrade is given up on")
    poll_seconds: float = 0.5


class DeployWorkload(Op):
    cluster_id: str
    site: str
    workload: WorkloadSpec
    reservation: str | None = Field(default=None, description="the placement whose room this deploy uses")


class WaitReady(Op):
    cluster_id: str
    workload_id: str
    poll_seconds: float = 0.2
    deadline: float | None = Field(default=None, description="epoch seconds: the progress deadline; past it the "
                                   "wait fails for good (ProgressDeadlineExceeded) and the operation undoes itself")


class RemoveWorkload(Op):
    cluster_id: str
    workload_id: str
    component: str


class Connect(Op):
    link: LinkRequest
    description: str
    reservation: str | None = None


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


class Hold(BaseModel):
    """Who holds what a placement reserves: the placing operation, released by this workflow."""

    op_id: str
    workflow_id: str


class PickHosts(Op):
    """Free hosts of a site, reserved when picked: for an operator's growth of a shared cluster, or
    a service's surge node before an upgrade (which must hold any replica of the cluster: `fits`)."""

    site: str
    count: int
    hold: Hold
    fits: Footprint | None = None
    features: list[str] = Field(default_factory=list)


class Exclusions(BaseModel):
    """What a re-placement must not use: the resources a backend refused for capacity."""

    sites: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    clusters: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)  # "<site>|<site>", sorted

    def add(self, resources: list[str]) -> None:
        for resource in resources:
            kind, _, name = resource.partition(":")
            target = {"host": self.hosts, "cluster": self.clusters, "link": self.links, "site": self.sites}.get(kind)
            if target is not None and name not in target:
                target.append(name)

    def __bool__(self) -> bool:
        return bool(self.sites or self.hosts or self.clusters or self.links)


class PlaceRequest(BaseModel):
    spec: ServiceSpec
    hold: Hold | None = Field(default=None, description="reserve what is chosen under this operation")
    exclude: Exclusions = Field(default_factory=Exclusions)
    federate: bool = Field(default=True, description="may send components to partners (never for a partner's own)")


class WorkloadOp(Op):
    """A change to one component's running workload."""

    cluster_id: str
    workload_id: str
    component: str


class ScaleWorkload(WorkloadOp):
    replicas: int
    reservation: str | None = None
    prefer_nodes: list[str] = Field(default_factory=list, description="the node reserved for each added replica")


class ContinuityQuery(BaseModel):
    service_id: str
    component: str
    since: float  # epoch seconds
    until: float


class ClusterRef(BaseModel):
    cluster_id: str


class UpgradeWorkload(WorkloadOp):
    image: str
    version: str
    values: dict[str, Any] | None = Field(default=None, description="a chart's new values (its `chart.values`, "
                                          "merged); None: the release's stay")


class WorkloadRef(BaseModel):
    cluster_id: str
    workload_id: str


class PlanGrowth(BaseModel):
    spec: ServiceSpec
    component: str
    extra_replicas: int
    site: str
    cluster_id: str
    hold: Hold | None = None


class PlaceComponent(BaseModel):
    spec: ServiceSpec
    component: str
    current: dict[str, str]  # component -> site
    target_site: str | None = None
    hold: Hold | None = None


class SiteChoice(BaseModel):
    plan: SitePlan | None
    reason: str
    rejected: list[Candidate] = Field(default_factory=list)
    score: float | None = None
    reasons: list[str] = Field(default_factory=list, description="why there, as a placement explains itself")


class RecordComponent(ComponentRecord):
    """A component's inventory row as its workflow knows it (the fields of ComponentRow)."""


class RecordOperation(BaseModel):
    service_id: str
    record: dict


class AutopilotRound(BaseModel):
    """One run of the autopilot: how it reads, forecasts and measures (the schedule's parameters)."""

    round_id: str = ""  # set by the workflow: names the actions decided in the round
    window_seconds: float = Field(default=60, gt=0, description="each reading's window")
    history_seconds: float = Field(default=2 * 86_400, gt=0, description="samples kept and forecast from")
    horizon_steps: int = Field(default=5, ge=1, description="how many readings ahead the forecast looks")
    season_steps: int | None = Field(default=1440, ge=2, description="readings per day (the season)")
    before_samples: int = Field(default=5, ge=1, description="the readings an action's 'before' is the mean of")
    settle_seconds: float = Field(default=60, ge=0, description="after an action, readings ignored while it settles")
    measure_after_seconds: float = Field(default=600, gt=0, description="when an action's effect is measured")
    health_window_seconds: float = Field(default=600, gt=0, description="health readings kept: the confirmation "
                                         "window (the policy's confirm_seconds) must fit in it")


class AutopilotAction(BaseModel):
    """A decision of the planner, with what it was decided on (kept as the measure's record)."""

    id: str
    service_id: str
    tenant: str
    component: str
    kind: Literal["scale", "move", "heal"]
    breach: str
    reason: str
    replicas: int | None = None
    area: str | None = None
    mode: Literal["auto", "approve"] = "auto"
    decided_at: float
    before: dict = Field(default_factory=dict)
    data: dict = Field(default_factory=dict)


class ApplyMeasure(BaseModel):
    """An approved autopilot proposal to carry out."""

    measure_id: str


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


POOL_TRANSFER = "/to-pool/"  # in the op id under which a pool holds a host a service gave up (ScaleCluster)


class PoolGiveBack(BaseModel):
    """Nodes a shared cluster's pool holds that run nothing any more: ScaleCluster gives them back."""

    cluster_id: str
    site: str
    allocations: dict[str, str] = Field(description="host -> the op id the pool holds it under")


class Reclaimed(BaseModel):
    reservations: list[str] = Field(default_factory=list, description="op ids of reservations released")
    pools: list[PoolGiveBack] = Field(default_factory=list)
