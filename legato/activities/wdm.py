"""WDM activities: workloads deployed, awaited until ready, removed; mirrored into the inventory."""

import asyncio
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.activities.base import ActivityGroup, heartbeat, maps_adapter_errors
from legato.activities.contracts import (
    ClusterRef,
    ContinuityQuery,
    DeployWorkload,
    RemoveWorkload,
    ScaleWorkload,
    UpgradeWorkload,
    WaitReady,
    WorkloadRef,
)
from legato.adapters.errors import NotFound
from legato.adapters.wdm import WDM
from legato.inventory import Inventory
from legato.inventory.tables import ComponentRow
from legato.model.workloads import ServingHistory, WorkloadMetrics, WorkloadStatus

REFUSAL_GRACE_SECONDS = 10.0  # how long a readiness wait lets a cluster refuse replicas before failing on it


class WDMActivities(ActivityGroup):
    def __init__(self, wdm: WDM, inventory: Inventory):
        super().__init__(inventory)
        self.wdm = wdm

    def _placed(self, service_id: str, component: str, status: WorkloadStatus, size: tuple[float, int, int],
                reservation: str | None = None) -> None:
        """Where the backend runs the replicas now: the room each node holds for them."""
        self.inventory.workload_placed(service_id, component, status.cluster, status.id, status.nodes,
                                       status.replicas, size, reservation)

    def _settled(self, service_id: str, status: WorkloadStatus) -> None:
        """A workload that is ready again (after a rollout, a scale): where its replicas are now."""
        with self.inventory.session():
            row = self.inventory.component(service_id, status.component)
            if row is not None and row.workload_id == status.id:
                self._placed(service_id, status.component, status, (row.cpu, row.memory_mb, row.gpu))

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

        def write() -> None:
            self.inventory.component_deployed(row)
            self._placed(req.service_id, w.component, status, (w.cpu, w.memory_mb, w.gpu), req.reservation)

        await self.mirror(req, f"{w.id} on {req.cluster_id}", write)
        return status

    @activity.defn(name="wdm.wait_ready")
    @maps_adapter_errors
    async def wait_ready(self, req: WaitReady) -> WorkloadStatus:
        """Polls until every replica is ready; heartbeats so a dead worker is noticed quickly and
        the retry resumes polling. Past the progress deadline (like a Deployment's
        progressDeadlineSeconds) it fails for good, so the operation undoes itself instead of
        holding the service: an image that never pulls must not block every later operation."""
        lowest: int | None = None  # the fewest serving seen: the continuity sample where no history is kept
        refused_since: float | None = None
        while True:
            status = await self.wdm.status(req.cluster_id, req.workload_id)
            if status is None:
                raise NotFound(f"workload {req.workload_id} is not on cluster {req.cluster_id}")
            serving = sum(status.serving.values())
            lowest = serving if lowest is None else min(lowest, serving)
            heartbeat(f"{status.ready_replicas}/{status.replicas} ready")
            if status.ready:
                await self.record(self._settled, req.service_id, status)
                return status.model_copy(update={"lowest_serving": lowest})
            # The cluster's own refusal (a namespace quota exceeded): past a short grace (the quota's usage
            # catching up with pods just gone), waiting will not help.
            refused_since = (refused_since or time.time()) if status.refused else None
            if status.refused and time.time() - refused_since >= REFUSAL_GRACE_SECONDS:
                raise ApplicationError(f"{status.component}: cluster {req.cluster_id} refuses its replicas: "
                                       f"{status.refused}", type="WorkloadRefused", non_retryable=True)
            if req.deadline is not None and time.time() > req.deadline:
                old = serving - status.updated_replicas
                before = f" ({old} of the version before serve)" if old else ""
                raise ApplicationError(
                    f"{status.component}: {status.updated_replicas} of {status.replicas} replicas of {status.version} "
                    f"ready when the progress deadline passed{before}", type="ProgressDeadlineExceeded",
                    non_retryable=True)
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
        status = await self.wdm.scale(req.op_id, req.cluster_id, req.workload_id, req.replicas,
                                      req.prefer_nodes or None)

        def write() -> None:
            self.inventory.component_changed(req.service_id, req.component, replicas=req.replicas)
            row = self.inventory.component(req.service_id, req.component)
            if row is not None:
                self._placed(req.service_id, req.component, status, (row.cpu, row.memory_mb, row.gpu),
                             req.reservation)

        await self.mirror(req, f"{req.workload_id} ×{req.replicas}", write)
        return status

    @activity.defn(name="wdm.upgrade_workload")
    @maps_adapter_errors
    async def upgrade_workload(self, req: UpgradeWorkload) -> WorkloadStatus:
        status = await self.wdm.upgrade(req.op_id, req.cluster_id, req.workload_id, req.image, req.version,
                                        req.values)
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

    @activity.defn(name="wdm.record_placements")
    @maps_adapter_errors
    async def record_placements(self, req: ClusterRef) -> int:
        """After a drain moved pods between nodes: what every component on the cluster holds where."""
        workloads = await self.wdm.list_workloads(req.cluster_id)

        def write() -> int:
            with self.inventory.session():
                known = {c.workload_id: c for c in self.inventory.cluster_components(req.cluster_id)}
                for status in workloads:
                    row = known.get(status.id)
                    if row is not None:
                        self._placed(row.service_id, row.name, status, (row.cpu, row.memory_mb, row.gpu))
            return len(workloads)

        return await asyncio.to_thread(write)

    @activity.defn(name="wdm.serving_history")
    @maps_adapter_errors
    async def serving_history(self, req: ContinuityQuery) -> ServingHistory | None:
        """How the component served while an operation ran, from the backend's own history."""
        return await self.wdm.serving_history(req.service_id, req.component, req.since, req.until)
