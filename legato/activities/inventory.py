"""Service records in the workload inventory."""

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from legato.activities.base import ActivityGroup
from legato.activities.contracts import ClusterClaim, HeldHosts, RecordComponent, RecordOperation, ServiceUpdate
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
        """Take the cluster for this workflow, or fail (ClusterBusy, not retried) naming the workflow
        that holds it. A holder whose workflow is over (terminated from the Web UI before it gave
        the claim back) holds nothing any more."""
        holder = await self.record(self.inventory.claim_cluster, req.cluster_id, req.workflow_id, req.kind,
                                   req.detail)
        if holder is None:
            return
        if not await _running(holder):
            holder = await self.record(self.inventory.claim_cluster, req.cluster_id, req.workflow_id, req.kind,
                                       req.detail, frozenset({holder}))
            if holder is None:
                return
        raise ApplicationError(f"cluster {req.cluster_id} is busy: workflow {holder} runs on it; wait for it to end",
                               holder, type="ClusterBusy", non_retryable=True)

    @activity.defn(name="inventory.release_cluster")
    async def release_cluster(self, req: ClusterClaim) -> None:
        await self.record(self.inventory.release_cluster, req.cluster_id, req.workflow_id)


async def _running(workflow_id: str) -> bool:
    try:
        described = await activity.client().get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return described.status == WorkflowExecutionStatus.RUNNING
