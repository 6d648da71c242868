"""Workload Deployment Manager: components onto clusters.

The contract every backend keeps (sim, Kubernetes); `tests/contract/test_wdm_contract.py` holds
each rule against each backend, and the next backend proves itself by passing it:

| call | rule |
|---|---|
| every mutating call | dedup on `op_id`: a repeat returns the first result and acts no more, even after later calls |
| `deploy` | the caller names it: workload `spec.id` on `cluster_id`; deploying an id that runs updates it |
| | in place (still one workload); a cluster the backend does not hold → NotFound |
| | negative replicas → InvalidRequest; replicas no node can hold → CapacityExhausted, `cluster:<id>` |
| `status` | None for a workload the cluster does not run; `ready_replicas` reaches `replicas` only once |
| | every replica runs `version` and is ready; `serving` per version, `nodes`, `endpoint` host:port |
| `scale` | an unknown workload → NotFound; negative replicas → InvalidRequest |
| `upgrade` | rolling with surge: replicas serving never drop below `replicas`; the same version: no change |
| | `values` (a chart's, whole): a new revision with them, the replicas kept; a plain workload's → InvalidRequest |
| | an unknown workload → NotFound |
| `remove` | idempotent: a workload that does not exist → success |
| `list_workloads` | the cluster's workloads (None: every cluster's) as `status` reports them |
| `metrics` | None for an unknown workload; else its version and an error rate in [0, 1] |
| `serving_history` | None for a component the backend never ran; else the fewest ready over the window |
| faults | no answer, 409, 429, 5xx → TransientFault; 401, 403 → PermanentFault; 400, 422 → InvalidRequest |

Kubernetes also keeps each service in its own namespace with a quota of what it was granted
(`tenancy.py`): a `status` whose cluster refuses replicas (the quota exceeded) says why in `refused`,
and a readiness wait fails on it. `secret_env` holds references, resolved only by the backend (the
sim keeps them unresolved).

Declared exceptions of Kubernetes: replicas no node can hold are admitted and stay Pending
(`ready_replicas` short: the readiness wait's progress deadline refuses them); it keeps no history
(`serving_history` is always None: the readiness waits sample instead); and a cluster it does not
hold is NotFound for every call (the sim answers `status`, `remove` and `metrics` there as for an
absent workload; the router sends clusters no real MCM holds to the sim).

A chart component (`spec.chart`) keeps the same rules as one workload, its `version` the chart's;
`status` adds the release's `revision` (None for a plain workload). An `upgrade` back to the previous
revision's version is a rollback to that revision (its values too). Kubernetes installs it as one
Helm release named by the workload id and records each call's `op_id` in the revision it makes,
so charts dedup on the operation id there (`helm.py`); the gap below is plain workloads' only. The
suite holds every rule for charts too, as two more backends (`sim-chart`, `kubernetes-chart`: each
workload a release of `deploy/charts/hello-web`, on Kubernetes from the test bed's chart repository).

Known gap, held by the suite as a strict xfail: Kubernetes dedups by name (server-side apply of
objects named by the workload id), not by `op_id`: a repeat applies again, harmless at once, but a
`deploy` repeated after an `upgrade` rolls the upgrade back.
"""

from typing import Protocol

from legato.model.workloads import ServingHistory, WorkloadMetrics, WorkloadSpec, WorkloadStatus


class WDM(Protocol):
    async def deploy(self, op_id: str, cluster_id: str, spec: WorkloadSpec) -> WorkloadStatus: ...

    async def status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None: ...

    async def scale(self, op_id: str, cluster_id: str, workload_id: str, replicas: int,
                    prefer_nodes: list[str] | None = None) -> WorkloadStatus:
        """`prefer_nodes`: the node reserved for each added replica, a hint as in WorkloadSpec (a
        backend whose scheduler cannot take it per replica, like Kubernetes, ignores it)."""
        ...

    async def upgrade(
        self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str,
        values: dict | None = None,
    ) -> WorkloadStatus:
        """Rolling, with surge: old replicas keep serving until their replacements are ready, so
        ready replicas never drop below the requested count (Kubernetes maxUnavailable=0).
        `values`: a chart workload's new values (its `chart.values`, whole; None keeps the
        release's), the replicas and version still at their paths."""
        ...

    async def remove(self, op_id: str, cluster_id: str, workload_id: str) -> None:
        """Idempotent: removing a workload that does not exist succeeds."""
        ...

    async def list_workloads(self, cluster_id: str | None = None) -> list[WorkloadStatus]: ...

    async def metrics(self, cluster_id: str, workload_id: str) -> WorkloadMetrics | None: ...

    async def serving_history(self, service_id: str, component: str, since: float,
                              until: float) -> ServingHistory | None:
        """The fewest ready replicas of the component at any instant of [since, until] (epoch
        seconds), and whether its users' path stayed connected; None for a backend that keeps no
        such history (Kubernetes: the caller samples instead)."""
        ...
