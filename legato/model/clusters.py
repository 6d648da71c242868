"""Growing, shrinking and upgrading a cluster: what ScaleCluster and UpgradeCluster are asked and
answer (the API, the service workflows and reconcile start them), and what a drain reports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from legato.model.continuum import Cluster
from legato.model.status import Step


class DrainResult(BaseModel):
    draining: list[str] = Field(default_factory=list, description="nodes being emptied, make-before-break")
    stuck: list[str] = Field(default_factory=list, description="nodes left as they were: their pods fit nowhere else")
    reasons: dict[str, str] = Field(default_factory=dict, description="why each stuck node could not be emptied")


class ScaleClusterRequest(BaseModel):
    service_id: str  # who holds the hosts: a service, or a shared cluster's pool (`pool_owner`)
    site: str
    cluster_id: str
    add_hosts: list[str] = Field(default_factory=list)
    add_count: int = Field(default=0, description="free hosts of the site to pick and add (an operator's growth); "
                           "they are reserved when picked, like any placement")
    remove_hosts: list[str] = Field(default_factory=list)
    # For removal: the operation that allocated the hosts being given back (one for all), or per host.
    allocation_op_id: str | None = None
    allocations: dict[str, str] = Field(default_factory=dict)
    # A rollback's shrink: retried until it succeeds like every undo (a permanent fault in draining
    # must not leave the hosts allocated), instead of failing as an operator's shrink does.
    undo: bool = False
    # Nodes whose pods fit on no other node: "refuse" (an operator's shrink: all or nothing), "pool"
    # (a teardown: hand them to the cluster's pool, so it completes), "keep" (a scale-in: the
    # service keeps them). An undo without a choice pools.
    stuck: Literal["refuse", "pool", "keep"] = "refuse"
    drain_seconds: float = Field(default=600, description="how long a node may take to empty before it counts "
                                 "as stuck")
    ready_poll_seconds: float = 0.2
    upgrade_wait_seconds: float = Field(default=7200, description="how long the scaling waits for an upgrade "
                                        "running on the cluster to end before it gives up")

    @property
    def on_stuck(self) -> str:
        return "pool" if self.undo and self.stuck == "refuse" else self.stuck


class ScaleClusterResult(BaseModel):
    cluster: Cluster | None = None
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list, description="drained, removed and released")
    pooled: list[str] = Field(default_factory=list, description="handed to the cluster's pool: still serving others")
    kept: list[str] = Field(default_factory=list, description="still held: their pods fit nowhere else")


class UpgradeClusterRequest(BaseModel):
    """A cluster's Kubernetes version one step up (the next minor, or a later patch of its own):
    the control plane first, then each node, drained make-before-break and replaced."""

    cluster_id: str
    site: str
    version: str
    service_id: str = Field(description="in whose name the steps are logged: the owner, or the cluster's pool")
    drain_seconds: float = Field(default=600, description="how long a node may take to empty before the roll stops")
    upgrade_seconds: float = Field(default=1800, description="how long the control plane, or a node, may take to "
                                   "come back on the new version before the roll stops")
    ready_poll_seconds: float = 0.2  # a read of the cluster each time: cheap next to a wasted half second per step


class UpgradeClusterResult(BaseModel):
    cluster: Cluster | None = None
    from_version: str = ""
    version: str = ""
    nodes: list[str] = Field(default_factory=list, description="nodes replaced by this run, in order")


class UpgradeClusterStatus(BaseModel):
    """What an UpgradeCluster run shows while it rolls (its `progress` query, the API's GET)."""

    cluster_id: str = ""
    version: str = ""
    state: Literal["running", "done", "failed"] = "running"
    steps: list[Step] = Field(default_factory=list)
    error: str | None = None
    result: UpgradeClusterResult | None = None
