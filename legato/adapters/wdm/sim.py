"""WDM backend on the simulated continuum (the embedded default); the logic lives in SimContinuum."""

from __future__ import annotations

import asyncio

from legato.model.workloads import ServingHistory, WorkloadMetrics, WorkloadSpec, WorkloadStatus
from legato.simulator import SimContinuum


class SimWDM:
    """Workloads on the simulated continuum's clusters."""

    def __init__(self, continuum: SimContinuum) -> None:
        self.continuum = continuum

    async def deploy(self, op_id: str, cluster_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        return await self.continuum.deploy(op_id, cluster_id, spec)

    async def status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        return await self.continuum.workload_status(cluster_id, workload_id)

    async def scale(self, op_id: str, cluster_id: str, workload_id: str, replicas: int,
                    prefer_nodes: list[str] | None = None) -> WorkloadStatus:
        return await self.continuum.scale(op_id, cluster_id, workload_id, replicas, prefer_nodes)

    async def upgrade(self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str,
                      values: dict | None = None) -> WorkloadStatus:
        return await self.continuum.upgrade(op_id, cluster_id, workload_id, image, version, values)

    async def remove(self, op_id: str, cluster_id: str, workload_id: str) -> None:
        await self.continuum.remove(op_id, cluster_id, workload_id)

    async def list_workloads(self, cluster_id: str | None = None) -> list[WorkloadStatus]:
        return await asyncio.to_thread(self.continuum.workloads, cluster_id)

    async def metrics(self, cluster_id: str, workload_id: str) -> WorkloadMetrics | None:
        return await self.continuum.metrics(cluster_id, workload_id)

    async def serving_history(self, service_id: str, component: str, since: float,
                              until: float) -> ServingHistory | None:
        """Exact: every replica's and every connection's lifetime is recorded. None when the
        component never had a replica here (it runs on another backend)."""
        report = await asyncio.to_thread(self.continuum.serving, service_id, component, since, until)
        if report.max_ready == 0 and report.min_ready == 0 and not await asyncio.to_thread(
                self.continuum.ever_ran, service_id, component):
            return None
        return ServingHistory(min_ready=report.min_ready, path_connected=report.path_connected)
