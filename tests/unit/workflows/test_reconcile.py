"""Reconcile on doubles: drift found on a service goes to that service's own workflow as a repair
signal (a service gone meanwhile does not stop the run), and pooled nodes running nothing are
given back through ScaleCluster."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from legato.activities.contracts import PoolGiveBack, Reclaimed
from legato.activities.inventory import InventoryActivities
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.activities.reconcile import ReconcileActivities
from legato.model.continuum import pool_owner
from legato.model.operations import Finding
from legato.workflows.deploy_service import DeployService
from legato.workflows.reconcile import Reconcile, ReconcileSummary
from legato.workflows.scale_cluster import ScaleCluster
from tests.unit.workflows.doubles import Doubles, answer, eventually, fail, unique, worker
from tests.unit.workflows.services import active, deployed, placed


def finding(service_id: str, component: str = "web", resource: str = "web-1") -> Finding:
    return Finding(kind="workload-missing", resource=resource, detail="not on its cluster", service_id=service_id,
                   component=component, action="repair-requested")


ORPHAN = Finding(kind="orphan-workload", resource="stray-1", detail="on no service")  # reported only


@pytest.fixture
def doubles() -> Doubles:
    return placed(Doubles()).on(ReconcileActivities.reclaim, answer(Reclaimed()))


async def test_drift_on_a_service_goes_to_its_workflow_which_repairs_it(client, doubles):
    async with worker(client, doubles, Reconcile, DeployService) as tq:
        service = await active(client, tq)
        (web,) = deployed(doubles, "web")
        doubles.on(ReconcileActivities.scan, answer([finding(web.service_id, resource=web.id), ORPHAN]))
        summary = await client.execute_workflow(Reconcile.run, id=unique("reconcile"), task_queue=tq)

        def repaired():
            return [r.record for r in doubles.args(InventoryActivities.record_operation)
                    if r.record["kind"] == "repair" and r.record["state"] != "running"]

        (record,) = await eventually(repaired)
        await service.execute_update(DeployService.terminate)

    assert summary == ReconcileSummary(findings=2, repairs_requested=1, reported=1)
    assert record["state"] == "succeeded" and record["requested_by"] == "reconcile"
    first, again = deployed(doubles, "web")
    assert again.id == first.id == web.id  # put back as it was recorded, through the service's own workflow


async def test_a_service_gone_meanwhile_does_not_stop_the_run(client, doubles):
    doubles.on(ReconcileActivities.scan, answer([finding("gone-1"), finding("gone-2", "db"), ORPHAN]))
    async with worker(client, doubles, Reconcile) as tq:
        summary = await client.execute_workflow(Reconcile.run, id=unique("reconcile"), task_queue=tq)

    assert summary == ReconcileSummary(findings=3, repairs_requested=2, reported=1)
    assert doubles.count(ReconcileActivities.reclaim) == 1  # the run went on past the failed signals


async def test_pooled_nodes_running_nothing_are_given_back(client, doubles):
    pool = PoolGiveBack(cluster_id="edge-1-k8s", site="edge-1",
                        allocations={"h5": "svc-1/to-pool/0", "h6": "svc-2/to-pool/0"})
    doubles.on(ReconcileActivities.scan, answer([]))
    doubles.on(ReconcileActivities.reclaim, answer(Reclaimed(reservations=["svc-3/place"], pools=[pool])))
    async with worker(client, doubles, Reconcile, ScaleCluster) as tq:
        summary = await client.execute_workflow(Reconcile.run, id=unique("reconcile"), task_queue=tq)

    assert summary == ReconcileSummary(findings=0, repairs_requested=0, reported=0, reservations_reclaimed=1,
                                       pool_nodes_given_back=2)
    (removed,) = doubles.args(MCMActivities.remove_nodes)
    assert removed.host_ids == ["h5", "h6"] and removed.service_id == pool_owner("edge-1-k8s")
    assert [(r.allocation_op_id, r.host_ids) for r in doubles.args(PIMActivities.release_hosts)] == [
        ("svc-1/to-pool/0", ["h5"]), ("svc-2/to-pool/0", ["h6"])]


async def test_a_scan_that_fails_for_good_fails_the_run(client, doubles):
    doubles.on(ReconcileActivities.scan, fail("InvalidRequest", "no inventory"))
    async with worker(client, doubles, Reconcile) as tq:
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(Reconcile.run, id=unique("reconcile"), task_queue=tq)

    assert doubles.count(ReconcileActivities.scan) == 1 and doubles.count(ReconcileActivities.reclaim) == 0
