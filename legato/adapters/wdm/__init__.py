"""Workload Deployment Manager: components onto clusters."""

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
        self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str
    ) -> WorkloadStatus:
        """Rolling, with surge: old replicas keep serving until their replacements are ready, so
        ready replicas never drop below the requested count (Kubernetes maxUnavailable=0)."""
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
