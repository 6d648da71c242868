"""Multi-Cluster Manager: Kubernetes clusters on allocated hosts.

Removing nodes is three calls, so that no pod of any service ever goes before its replacement is
ready (make-before-break), whoever's the pod:

1. `drain_nodes` cordons the nodes and starts, for every pod on them, a replacement on another
   node; the old pod goes once its replacement is ready. Nodes whose pods would not all fit on
   the rest are left untouched (and schedulable) and reported `stuck`: the caller hands them to
   the cluster's pool, or keeps them, instead of evicting anyone.
2. `busy_nodes` says how many pods each node still runs: the caller polls it until 0.
3. `remove_nodes` deletes nodes that run nothing; a node still running a pod is refused.

The contract every backend keeps (sim, kwok); `tests/contract/test_mcm_contract.py` holds each
rule against each backend, and the next backend proves itself by passing it:

| call | rule |
|---|---|
| every mutating call | dedup on `op_id`: a repeat returns the first result and acts no more, even after later calls |
| `list_clusters`, `get_cluster` | `hosts` are the nodes, `service_id` the owner (None: shared); an unknown id → None |
| `create_cluster` | the caller names it: `cluster_id`, a DNS-1123 label (else InvalidRequest) |
| | the same id, site and owner is the same cluster: new hosts join it, nothing else is created |
| | the id taken at another site or by another owner → InvalidRequest ("already exists") |
| | a new cluster without hosts, a host not of the site → InvalidRequest |
| `add_nodes` | idempotent: hosts already its nodes are skipped; an unknown cluster → NotFound |
| | a host not of the site, or a node of another cluster → InvalidRequest |
| `drain_nodes` | `partial=False` and a stuck node → CapacityExhausted, `host:<id>` for each stuck; nothing moves |
| | `partial=True`: stuck nodes in `stuck` (with `reasons`), left schedulable and serving |
| | nodes not in the cluster are ignored; a cluster that is gone → an empty result |
| `busy_nodes` | pods still on each node, ready or not: 0 once drained, for a non-node, for a gone cluster |
| `remove_nodes` | a node still running a pod → TransientFault, nothing removed (its drain is under way) |
| | nodes not in the cluster are skipped; returns the cluster after; None if the cluster is gone |
| `delete_cluster` | idempotent: a cluster that does not exist → success; a shared one → InvalidRequest |
| faults | no answer, 409, 429, 5xx → TransientFault; 401, 403 → PermanentFault; 400, 422 → InvalidRequest |

Declared exception: the kubeconfig MCM (existing clusters, not Legato's) refuses `create_cluster`,
`add_nodes`, `drain_nodes` and `remove_nodes`, and deleting its clusters, with InvalidRequest (the
saga rolls back instead of retrying); it answers `busy_nodes` from the cluster, and NotFound for a
cluster it does not hold.

Known gaps, held by the suite as strict xfails: the kwok MCM dedups by name, not by `op_id` (a
repeat acts again: harmless at once, but `add_nodes` repeated after its nodes were removed adds
them back), and it lets a host be a node of two clusters. Beyond the table: the sim also refuses
hosts its own PIM has not allocated to the owner, since it sees both; a real MCM cannot.
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
