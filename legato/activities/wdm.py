"""WDM activities: workloads deployed, awaited until ready, removed; mirrored into the inventory."""

import asyncio

from temporalio import activity

from legato.activities.base import ActivityGroup, heartbeat, maps_adapter_errors
from legato.activities.contracts import (
    DeployWorkload,
    RemoveWorkload,
    ScaleWorkload,
    UpgradeWorkload,
    WaitReady,
    WorkloadRef,
)
from legato.adapters.errors import NotFound
from legato.adapters.wdm import WDM, WorkloadMetrics, WorkloadStatus
from legato.inventory import Inventory
from legato.inventory.tables import ComponentRow


class WDMActivities(ActivityGroup):
    def __init__(self, wdm: WDM, inventory: Inventory):
        super().__init__(inventory)
        self.wdm = wdm

    @activity.defn(name="wdm.deploy_workload")
    @maps_adapter_errors
    async def deploy_workload(self, req: DeployWorkload) -> WorkloadStatus:
        w = req.workload
        status = await self.wdm.deploy(req.op_id, req.cluster_id, w)
        row = ComponentRow(
            service_id=req.service_id, name=w.component, site=req.site, cluster=req.cluster_id, workload_id=w.id,
            endpoint=status.endpoint,
            **w.model_dump(include={"image", "version", "replicas", "cpu", "memory_mb", "gpu"}),
        )
        await self.mirror(req, f"{w.id} on {req.cluster_id}", self.inventory.component_deployed, row)
        return status

    @activity.defn(name="wdm.wait_ready")
    @maps_adapter_errors
    async def wait_ready(self, req: WaitReady) -> WorkloadStatus:
        """Polls until every replica is ready; heartbeats so a dead worker is noticed quickly and
        the retry resumes polling (the timeout of the whole wait is the workflow's choice)."""
        while True:
            status = await self.wdm.status(req.cluster_id, req.workload_id)
            if status is None:
                raise NotFound(f"workload {req.workload_id} is not on cluster {req.cluster_id}")
            heartbeat(f"{status.ready_replicas}/{status.replicas} ready")
            if status.ready:
                return status
            await asyncio.sleep(req.poll_seconds)

    @activity.defn(name="wdm.remove_workload")
    @maps_adapter_errors
    async def remove_workload(self, req: RemoveWorkload) -> None:
        await self.wdm.remove(req.op_id, req.cluster_id, req.workload_id)
        await self.mirror(req, req.workload_id, self.inventory.component_removed, req.service_id, req.component,
                          req.workload_id)

    @activity.defn(name="wdm.scale_workload")
    @maps_adapter_errors
    async def scale_workload(self, req: ScaleWorkload) -> WorkloadStatus:
        status = await self.wdm.scale(req.op_id, req.cluster_id, req.workload_id, req.replicas)
        await self.mirror(req, f"{req.workload_id} ×{req.replicas}", self.inventory.component_changed,
                          req.service_id, req.component, replicas=req.replicas)
        return status

    @activity.defn(name="wdm.upgrade_workload")
    @maps_adapter_errors
    async def upgrade_workload(self, req: UpgradeWorkload) -> WorkloadStatus:
        status = await self.wdm.upgrade(req.op_id, req.cluster_id, req.workload_id, req.image, req.version)
        await self.mirror(req, f"{req.workload_id} → {req.version}", self.inventory.component_changed,
                          req.service_id, req.component, image=req.image, version=req.version)
        return status

    @activity.defn(name="wdm.workload_metrics")
    @maps_adapter_errors
    async def workload_metrics(self, req: WorkloadRef) -> WorkloadMetrics:
        metrics = await self.wdm.metrics(req.cluster_id, req.workload_id)
        if metrics is None:
            raise NotFound(f"no metrics for workload {req.workload_id} on {req.cluster_id}")
        return metrics
