"""Reconcile: run by the Temporal Schedule `reconcile`. Scans for drift, then hands each service its
repairs as a signal: the service's own workflow repairs through the normal activities, one
operation at a time, so reconciliation never races an operator's change."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import Reclaimed
    from legato.activities.reconcile import ReconcileActivities
    from legato.model.clusters import ScaleClusterRequest, ScaleClusterResult
    from legato.model.continuum import pool_owner
    from legato.model.operations import Finding, RepairRequest
    from legato.workflows.contracts import service_workflow_id
    from legato.workflows.deploy_service import DeployService
    from legato.workflows.options import STEP
    from legato.workflows.scale_cluster import ScaleCluster


class ReconcileSummary(BaseModel):
    findings: int
    repairs_requested: int
    reported: int
    reservations_reclaimed: int = 0
    pool_nodes_given_back: int = 0


@workflow.defn(name="Reconcile")
class Reconcile:
    @workflow.run
    async def run(self) -> ReconcileSummary:
        findings: list[Finding] = await workflow.execute_activity_method(
            ReconcileActivities.scan, **STEP)
        repairs: dict[str, list[Finding]] = {}
        for f in findings:
            if f.action == "repair-requested" and f.service_id:
                repairs.setdefault(f.service_id, []).append(f)
        for service_id, items in sorted(repairs.items()):
            handle = workflow.get_external_workflow_handle(service_workflow_id(service_id))
            try:
                await handle.signal(DeployService.repair, RepairRequest(findings=items, requested_by="reconcile"))
            except Exception as err:  # noqa: BLE001 - the service ended meanwhile: nothing to repair
                workflow.logger.info("service %s not repaired: %s", service_id, err)
        repaired = sum(len(v) for v in repairs.values())
        reclaimed: Reclaimed = await workflow.execute_activity_method(
            ReconcileActivities.reclaim, **STEP)
        given_back = 0
        for i, pool in enumerate(reclaimed.pools):  # a pool gives back what runs nothing any more
            result = await workflow.execute_child_workflow(ScaleCluster.run, ScaleClusterRequest(
                service_id=pool_owner(pool.cluster_id), site=pool.site, cluster_id=pool.cluster_id,
                remove_hosts=sorted(pool.allocations), allocations=pool.allocations, stuck="keep"),
                id=f"{workflow.info().workflow_id}/{workflow.info().run_id}/pool-{i}", result_type=ScaleClusterResult)
            given_back += len(result.removed)
        return ReconcileSummary(findings=len(findings), repairs_requested=repaired, reported=len(findings) - repaired,
                                reservations_reclaimed=len(reclaimed.reservations), pool_nodes_given_back=given_back)
