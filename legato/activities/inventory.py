"""Service records in the workload inventory."""

import asyncio
import time

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from legato.activities.base import ActivityGroup
from legato.activities.contracts import (
    ClusterClaim,
    ClusterJoin,
    HeldHosts,
    RecordComponent,
    RecordOperation,
    ServiceUpdate,
)
from legato.inventory.tables import ComponentRow, ServiceOperationRow
from legato.model import ServiceSpec


class InventoryActivities(ActivityGroup):
    @activity.defn(name="inventory.record_service")
    async def record_service(self, spec: ServiceSpec) -> None:
        await self.record(self.inventory.service_accepted, spec)

    @activity.defn(name="inventory.update_service")
    async def update_service(self, update: ServiceUpdate) -> None:
        fields = update.model_dump(exclude={"service_id"}, exclude_none=True)
        if update.error is None:
            fields["error"] = None
        await self.record(self.inventory.service_updated, update.service_id, **fields)

    @activity.defn(name="inventory.record_operation")
    async def record_operation(self, req: RecordOperation) -> None:
        row = ServiceOperationRow.model_validate({**req.record, "service_id": req.service_id})
        if row.started_at and row.ended_at:
            row.duration_seconds = (row.ended_at - row.started_at).total_seconds()
        await self.record(self.inventory.operation_recorded, row)

    @activity.defn(name="inventory.record_component")
    async def record_component(self, req: RecordComponent) -> None:
        await self.record(self.inventory.component_deployed, ComponentRow(**req.model_dump()))

    @activity.defn(name="inventory.held_hosts")
    async def held_hosts(self, req: HeldHosts) -> list[str]:
        """Which of these hosts are still nodes of the cluster held under the allocation named for
        each: a host given back meanwhile (an operator's shrink) and taken by another service must
        never be drained or removed in the first holder's name."""
        return await self.record(self.inventory.hosts_held, req.cluster_id, req.allocations)

    @activity.defn(name="inventory.claim_cluster")
    async def claim_cluster(self, req: ClusterClaim) -> None:
        """Take the cluster for this workflow alone, or fail (ClusterBusy, not retried) naming the
        workflow in the way: another upgrade, or a scaling under way. One whose workflow is over
        (terminated from the Web UI before it gave the cluster back) is in nobody's way."""
        stale: frozenset[str] = frozenset()
        while True:
            holder = await self.record(self.inventory.claim_cluster, req.cluster_id, req.workflow_id, req.kind,
                                       req.detail, stale)
            if holder is None:
                return
            if await _running(holder):
                raise ApplicationError(f"cluster {req.cluster_id} is busy: workflow {holder} runs on it; wait for "
                                       "it to end", holder, type="ClusterBusy", non_retryable=True)
            stale |= {holder}

    @activity.defn(name="inventory.release_cluster")
    async def release_cluster(self, req: ClusterClaim) -> None:
        await self.record(self.inventory.release_cluster, req.cluster_id, req.workflow_id)

    @activity.defn(name="inventory.join_cluster")
    async def join_cluster(self, req: ClusterJoin) -> None:
        """Count this scaling among the cluster's, waiting while an upgrade holds the cluster (its
        nodes are being replaced one by one: a node added or removed mid-roll would be missed or
        drained twice). Past the deadline, ClusterBusy names the upgrade."""
        stale: frozenset[str] = frozenset()
        while True:
            holder = await self.record(self.inventory.join_cluster, req.cluster_id, req.workflow_id, stale)
            if holder is None:
                return
            if not await _running(holder):
                stale |= {holder}
                continue
            if time.time() > req.deadline:
                raise ApplicationError(f"cluster {req.cluster_id} is still being upgraded by workflow {holder}; "
                                       "the scaling gave up waiting", holder, type="ClusterBusy", non_retryable=True)
            activity.heartbeat(f"waiting for workflow {holder} to finish with {req.cluster_id}")
            await asyncio.sleep(req.poll_seconds)

    @activity.defn(name="inventory.leave_cluster")
    async def leave_cluster(self, req: ClusterJoin) -> None:
        await self.record(self.inventory.leave_cluster, req.cluster_id, req.workflow_id)


async def _running(workflow_id: str) -> bool:
    try:
        described = await activity.client().get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return described.status == WorkflowExecutionStatus.RUNNING
