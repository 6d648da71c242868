"""Multi-Cluster Manager: Kubernetes clusters on allocated hosts.

Removing nodes is three calls, so that no pod of any service ever goes before its replacement is
ready (make-before-break), whoever's the pod:

1. `drain_nodes` cordons the nodes and starts, for every pod on them, a replacement on another
   node; the old pod goes once its replacement is ready. Nodes whose pods would not all fit on
   the rest are left untouched (and schedulable) and reported `stuck`: the caller hands them to
   the cluster's pool, or keeps them, instead of evicting anyone.
2. `busy_nodes` says how many pods each node still runs: the caller polls it until 0.
3. `remove_nodes` deletes nodes that run nothing; a node still running a pod is refused.

Upgrading a cluster's Kubernetes version is the same pattern, control plane first, then node by
node (the caller drains each node first, then replaces it):

1. `kubernetes_versions` lists the releases the backend can run the cluster on.
2. `upgrade_control_plane` starts moving the control plane to a version and returns; the new
   version shows in `get_cluster(...).kubernetes_version` (read from the cluster's `/version`)
   once the new control plane answers. Workloads keep running throughout (their state is in etcd).
3. `upgrade_nodes` replaces drained nodes with nodes whose kubelet runs the version, under the same
   names; each shows in `get_cluster(...).node_versions` once it is back and schedulable.

The contract every backend keeps (sim, kwok); `tests/contract/test_mcm_contract.py` holds each
rule against each backend, and the next backend proves itself by passing it:

| call | rule |
|---|---|
| every mutating call | dedup on `op_id`: a repeat returns the first result and acts no more, even after later calls |
| `list_clusters`, `get_cluster` | `hosts` are the nodes, `service_id` the owner (None: shared); an unknown id → None |
| | `kubernetes_version`: the control plane's, as `/version` reports it (`v1.34.4`) |
| | `node_versions`: each node's kubelet version, as the node reports it |
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
| `kubernetes_versions` | the releases it can run the cluster on, oldest first, its own among them |
| | an unknown cluster → NotFound |
| `upgrade_control_plane` | a version not offered, older, or more than one minor up → InvalidRequest; nothing changes |
| | returns once started; `kubernetes_version` becomes `version` when the new control plane answers; pods keep running |
| | the cluster's own version → nothing to do; an unknown cluster → NotFound |
| `upgrade_nodes` | a node still running a pod → TransientFault, nothing replaced (drain it first) |
| | `version` not the control plane's (a kubelet never leads its API server) → InvalidRequest |
| | each node comes back under its name, schedulable, `node_versions[node] == version` once back |
| | nodes not in the cluster or already at `version` are skipped; None if the cluster is gone |
| `delete_cluster` | idempotent: a cluster that does not exist → success; a shared one → InvalidRequest |
| faults | no answer, 409, 429, 5xx → TransientFault; 401, 403 → PermanentFault; 400, 422 → InvalidRequest |

Declared exception: the kubeconfig MCM (existing clusters, not Legato's) refuses `create_cluster`,
`add_nodes`, `drain_nodes`, `remove_nodes`, both upgrade calls, and deleting its clusters, with
InvalidRequest (the saga rolls back instead of retrying); it offers no version to upgrade to; it
answers `busy_nodes` and the versions from the cluster, and NotFound for a cluster it does not hold.

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

    async def kubernetes_versions(self, cluster_id: str) -> list[str]:
        """The releases this backend can run the cluster on (`v1.35.4`), oldest first: what an
        upgrade may choose from. NotFound for an unknown cluster."""
        ...

    async def upgrade_control_plane(self, op_id: str, cluster_id: str, version: str) -> Cluster:
        """Start moving the control plane to `version` (one allowed step: see
        `legato.model.versions.upgrade_refusal`); returns at once. Done when `get_cluster` reports
        `kubernetes_version == version`. Idempotent on `op_id`."""
        ...

    async def upgrade_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], version: str) -> Cluster | None:
        """Replace these nodes, which must run nothing (drain them first; TransientFault otherwise),
        with nodes of the same names whose kubelet runs `version`, the control plane's. Done for a
        node when `get_cluster` reports `node_versions[node] == version`. Idempotent on `op_id`."""
        ...

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        """Idempotent: deleting a cluster that does not exist succeeds."""
        ...
