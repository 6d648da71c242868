"""Multi-Cluster Manager: Kubernetes clusters on allocated hosts.

Removing nodes is three calls, so that no pod of any service ever goes before its replacement is
ready (make-before-break), whoever's the pod:

1. `drain_nodes` cordons the nodes and starts, for every pod on them, a replacement on another
   node; the old pod goes once its replacement is ready. Nodes whose pods would not all fit on
   the rest are left untouched (and schedulable) and reported `stuck`: the caller hands them to
   the cluster's pool, or keeps them, instead of evicting anyone.
2. `busy_nodes` says how many pods each node still runs: the caller polls it until 0.
3. `remove_nodes` deletes nodes that run nothing; a node still running a pod is refused.
"""

from typing import Protocol

from legato.model import Cluster
from legato.model.clusters import DrainResult


class MCM(Protocol):
    async def list_clusters(self, site: str | None = None) -> list[Cluster]: ...

    async def get_cluster(self, cluster_id: str) -> Cluster | None: ...

    async def create_cluster(
        self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str
    ) -> Cluster: ...

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster: ...

    async def drain_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], partial: bool) -> DrainResult:
        """Cordon and empty the nodes make-before-break. `partial=False`: all or nothing (a stuck
        node raises CapacityExhausted and nothing is touched); `partial=True`: drain those that can
        be, report the rest as stuck. Idempotent on `op_id`; nodes not in the cluster are ignored."""
        ...

    async def busy_nodes(self, cluster_id: str, host_ids: list[str]) -> dict[str, int]:
        """Pods still running on each of these nodes (a drained node: 0)."""
        ...

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        """Delete the nodes, which must run nothing (drain them first): a node still running a pod
        raises TransientFault (its drain is still under way). None if the cluster is gone."""
        ...

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        """Idempotent: deleting a cluster that does not exist succeeds."""
        ...
