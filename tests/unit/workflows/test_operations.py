"""DeployService's day-2 operations (the `operate` update), its activities replaced by doubles: one
at a time, idempotent on the request id, undone when they fail, and what each kind leaves behind."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage

from legato.activities.contracts import SiteChoice
from legato.activities.inventory import InventoryActivities
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.activities.placement import PlacementActivities
from legato.activities.tcm import TCMActivities
from legato.activities.wdm import WDMActivities
from legato.model import ServiceSpec, ServiceState, SitePlan
from legato.model.intents import SLO, ServiceAutopilot
from legato.model.operations import CanaryPolicy, Finding, Operation, RepairRequest, UpdateServiceRequest
from legato.model.workloads import WorkloadMetrics
from legato.workflows.deploy_service import DeployService
from legato.workflows.migrate_workload import MigrateWorkload
from legato.workflows.saga import activity_name
from legato.workflows.scale_cluster import ScaleCluster
from tests.unit.workflows.doubles import Doubles, eventually, fail, gated, worker
from tests.unit.workflows.services import (
    active,
    deployed,
    grown_by_h7,
    move,
    operate,
    placed,
    scale,
    spec,
    status,
    upgrade,
)


@pytest.fixture
def doubles() -> Doubles:
    return placed(Doubles())


def refusal(err: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    return err.value.cause.type


async def test_an_operation_while_another_runs_is_refused_busy_and_a_retry_joins_it(client, doubles):
    gate, started = asyncio.Event(), asyncio.Event()
    doubles.on(WDMActivities.scale_workload, gated(gate, doubles.behaviour(WDMActivities.scale_workload), started))
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        first = await handle.start_update(DeployService.operate, scale("web", 2, "r1"),
                                          wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        await started.wait()
        with pytest.raises(WorkflowUpdateFailedError) as busy:
            await operate(handle, scale("db", 2, "r2"))
        retry = await handle.start_update(DeployService.operate, scale("web", 2, "r1"),
                                          wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        gate.set()
        done, joined = await first.result(), await retry.result()

    assert refusal(busy) == "Busy"
    assert done.state == "succeeded" and joined == done
    assert [s.replicas for s in doubles.args(WDMActivities.scale_workload)] == [2]


async def test_terminate_waits_for_the_running_operation(client, doubles):
    gate, started = asyncio.Event(), asyncio.Event()
    doubles.on(WDMActivities.scale_workload, gated(gate, doubles.behaviour(WDMActivities.scale_workload), started))
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        running = await handle.start_update(DeployService.operate, scale("web", 2),
                                            wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        await started.wait()
        ending = await handle.start_update(DeployService.terminate, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        with pytest.raises(WorkflowUpdateFailedError) as refused:  # taking no more operations
            await operate(handle, scale("db", 2, "r2"))
        assert doubles.count(WDMActivities.remove_workload) == 0  # nothing torn down under the operation
        gate.set()
        record, ended = await running.result(), await ending.result()

    assert refusal(refused) == "InvalidState"
    assert record.state == "succeeded" and ended.state == ServiceState.terminated
    assert doubles.count(WDMActivities.remove_workload) == 2


async def test_the_same_request_id_answers_the_first_outcome_and_refuses_another_request(client, doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        first = await operate(handle, scale("web", 2, "r1"))
        again = await operate(handle, scale("web", 2, "r1"))
        with pytest.raises(WorkflowUpdateFailedError) as mismatch:
            await operate(handle, scale("web", 3, "r1"))

    assert first.state == "succeeded" and again == first
    assert refusal(mismatch) == "IdempotencyMismatch"
    assert doubles.count(WDMActivities.scale_workload) == 1


async def test_operations_the_service_cannot_take_are_refused(client, doubles):
    doubles.on(PlacementActivities.place_component, lambda req: SiteChoice(plan=None, reason="no site has room"))
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await operate(handle, scale("cache", 2))
        with pytest.raises(WorkflowUpdateFailedError) as same_site:
            await operate(handle, move("web", "edge-1"))
        nowhere = await operate(handle, move("web", "edge-9", "m2"))

    assert refusal(unknown) == "NotFound" and refusal(same_site) == "InvalidOperation"
    assert nowhere.state == "refused" and "no site has room" in nowhere.detail
    # its reservation given back, nothing else touched
    assert doubles.count(PlacementActivities.release) == 2  # the deployment's and the move's
    assert doubles.count(WDMActivities.deploy_workload) == 2


async def test_a_scale_out_not_ready_in_time_scales_back_and_gives_back_the_grown_nodes(client, doubles):
    doubles.on(PlacementActivities.plan_growth, grown_by_h7)
    doubles.on(WDMActivities.wait_ready, fail("ProgressDeadlineExceeded", "1 of 3 replicas ready", times=1,
                                              then=doubles.behaviour(WDMActivities.wait_ready), non_retryable=True))
    watched = (MCMActivities.add_nodes, WDMActivities.scale_workload, WDMActivities.wait_ready,
               MCMActivities.remove_nodes, PIMActivities.release_hosts, PlacementActivities.release)
    async with worker(client, doubles, DeployService, ScaleCluster) as tq:
        handle = await active(client, tq)
        before = len(doubles.names(*watched))
        failed = await operate(handle, scale("web", 3, "r1"))
        during = doubles.names(*watched)[before:]
        retried = await operate(handle, scale("web", 3, "r2"))

    assert failed.state == "failed" and failed.detail.startswith("ProgressDeadlineExceeded")
    # the replicas asked for go, then the node grown for them, then the reservation
    assert during == [activity_name(a) for a in (
        MCMActivities.add_nodes, WDMActivities.scale_workload, WDMActivities.wait_ready,
        WDMActivities.scale_workload, MCMActivities.remove_nodes, PIMActivities.release_hosts,
        PlacementActivities.release)]
    assert [s.replicas for s in doubles.args(WDMActivities.scale_workload)][:2] == [3, 1]
    assert doubles.args(PIMActivities.release_hosts)[0].host_ids == ["h7"]
    # the service is as it was: 1 replica, so the same scale asked again really scales
    assert retried.state == "succeeded" and doubles.args(WDMActivities.scale_workload)[-1].replicas == 3


async def test_a_scale_in_gives_back_the_nodes_grown_for_the_scale_out(client, doubles):
    doubles.on(PlacementActivities.plan_growth, grown_by_h7)
    async with worker(client, doubles, DeployService, ScaleCluster) as tq:
        handle = await active(client, tq)
        assert (await operate(handle, scale("web", 3, "r1"))).state == "succeeded"
        shrunk = await operate(handle, scale("web", 1, "r2"))
        before = len(doubles.calls)
        await handle.execute_update(DeployService.terminate)

    assert shrunk.state == "succeeded"
    assert [r.host_ids for r in doubles.args(MCMActivities.remove_nodes)] == [["h7"]]
    # given back for good: the teardown drains nothing more
    assert activity_name(MCMActivities.drain_nodes) not in [c.name for c in doubles.calls[before:]]


async def test_a_canary_failing_its_gate_is_removed_and_the_upgrade_ends_rolled_back(client, doubles):
    doubles.on(WDMActivities.workload_metrics, lambda req: WorkloadMetrics(id=req.workload_id, version="2.0",
                                                                           error_rate=0.5, requests=100))
    gate = CanaryPolicy(replicas=1, observe_seconds=0, max_error_rate=0.05)
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        record = await operate(handle, upgrade("web", "2.0", canary=gate))
        now = await status(handle)

    assert record.state == "rolled-back" and "failed its health gate" in record.detail
    (canary,) = deployed(doubles, "web-canary")
    assert (canary.version, canary.replicas) == ("2.0", 1)
    assert [(r.component, r.workload_id) for r in doubles.args(WDMActivities.remove_workload)] == [
        ("web-canary", canary.id)]
    assert doubles.count(WDMActivities.upgrade_workload) == 0  # the old version never stopped serving
    assert {s.name: s.state for s in now.steps}["canary-gate@web"] == "failed"


async def test_a_canary_passing_its_gate_serves_until_the_rollout_is_done(client, doubles):
    gate = CanaryPolicy(replicas=1, observe_seconds=0, max_error_rate=0.05)
    watched = (WDMActivities.deploy_workload, WDMActivities.workload_metrics, WDMActivities.upgrade_workload,
               WDMActivities.wait_ready, WDMActivities.remove_workload)
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        before = len(doubles.names(*watched))
        record = await operate(handle, upgrade("web", "2.0", "u1", canary=gate))
        during = doubles.names(*watched)[before:]
        again = await operate(handle, upgrade("web", "2.0", "u2"))

    assert record.state == "succeeded"
    assert during == [activity_name(a) for a in watched]
    assert doubles.args(WDMActivities.upgrade_workload)[0].version == "2.0"
    assert again.state == "succeeded" and again.detail.endswith("already runs registry.test/web:2.0")


async def test_a_move_adopts_what_the_migration_built_and_frees_the_site_it_left(client, doubles):
    doubles.on(PlacementActivities.place_component, lambda req: SiteChoice(
        plan=SitePlan(site="edge-2", components=["web"], add_hosts=["h9"], action="create"),
        reason="closer to paris", score=0.5, reasons=["edge site"]))
    async with worker(client, doubles, DeployService, MigrateWorkload) as tq:
        handle = await active(client, tq)
        old_cluster = doubles.args(MCMActivities.create_cluster)[0].cluster_id
        record = await operate(handle, move("web", "edge-2"))
        now = await status(handle)
        moved = doubles.args(MCMActivities.create_cluster)[-1].cluster_id
        new_link = doubles.args(TCMActivities.connect)[-1].link.id
        new_qos = doubles.args(TCMActivities.set_user_qos)[-1].qos.id
        before = len(doubles.calls)
        await handle.execute_update(DeployService.terminate)
        teardown = doubles.calls[before:]

    assert record.state == "succeeded" and record.detail == "web: edge-1 → edge-2 (closer to paris)"
    web = next(e for e in now.endpoints if e.component == "web")
    assert (web.site, web.cluster) == ("edge-2", moved)
    placed_web = next(p for p in now.placement.components if p.component == "web")
    assert placed_web.site == "edge-2" and placed_web.history[0].startswith("edge-1 until")
    # the site it left, given back during the move
    assert [d.cluster_id for d in doubles.args(MCMActivities.delete_cluster)][:1] == [old_cluster]
    assert doubles.args(PIMActivities.release_hosts)[0].host_ids == ["h1"]
    # teardown removes what the move built, not what it replaced
    removed = {c.arg.cluster_id for c in teardown if c.name == activity_name(MCMActivities.delete_cluster)}
    released = [c.arg.host_ids for c in teardown if c.name == activity_name(PIMActivities.release_hosts)]
    cut = {c.arg.connection_id for c in teardown if c.name == activity_name(TCMActivities.disconnect)}
    workloads = {c.arg.cluster_id for c in teardown if c.name == activity_name(WDMActivities.remove_workload)}
    assert removed == {moved} and released == [["h9"]] and cut == {new_link, new_qos}
    assert moved in workloads and old_cluster not in workloads


async def test_a_repair_signal_redeploys_and_reconnects_what_is_missing(client, doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        (web,) = deployed(doubles, "web")
        old_link = doubles.args(TCMActivities.connect)[0].link.id
        await handle.signal(DeployService.repair, RepairRequest(requested_by="reconcile", findings=[
            Finding(kind="workload-missing", resource=web.id, detail="gone", service_id=web.service_id,
                    component="web", action="repair-requested"),
            Finding(kind="connection-missing", resource=old_link, detail="gone", service_id=web.service_id,
                    action="repair-requested")]))
        await eventually(lambda: doubles.count(TCMActivities.connect) == 2)  # the repair runs after the signal
        new_link = doubles.args(TCMActivities.connect)[-1].link.id
        before = len(doubles.calls)
        await handle.execute_update(DeployService.terminate)
        cut = {c.arg.connection_id for c in doubles.calls[before:] if c.name == activity_name(TCMActivities.disconnect)}

    redeployed = doubles.args(WDMActivities.deploy_workload)[-1]
    assert redeployed.workload.id == web.id and "/op/repair-" in redeployed.op_id
    assert new_link != old_link and new_link in cut and old_link not in cut



async def test_an_update_keeps_new_slos_and_the_validator_refuses_ones_the_spec_contradicts(client, doubles):
    """The API checks SLOs first; the workflow checks them again against the spec as it holds it, so
    a scheduled or forwarded update cannot leave a spec whose SLOs name what it does not have."""
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        slos = [SLO(component="web", p95_latency_ms=30), SLO(component="db", utilisation=[0.2, 0.7])]
        done = await operate(handle, Operation(kind="update", update=UpdateServiceRequest(
            request_id="slo-1", slos=slos, autopilot=ServiceAutopilot(approval="approve"))))
        with pytest.raises(WorkflowUpdateFailedError) as entry:  # db is the entry of no area
            await operate(handle, Operation(kind="update", update=UpdateServiceRequest(
                request_id="slo-2", slos=[SLO(component="db", p95_latency_ms=10)])))
    assert done.state == "succeeded" and "slos and autopilot updated" in done.detail
    assert refusal(entry) == "InvalidOperation" and "'db' is the entry of no user area" in entry.value.cause.message
    kept = ServiceSpec.model_validate(doubles.args(InventoryActivities.update_service)[-1].spec)  # as recorded
    assert kept.slos == slos and kept.autopilot.approval == "approve" and kept.policy == spec().policy
