"""DeployService's deployment and teardown, its activities replaced by doubles: the order of the
steps, the rollback of a failed step, placing again when a backend refuses for capacity, the
deferred start, and termination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from legato.activities.inventory import InventoryActivities
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.activities.placement import PlacementActivities
from legato.activities.tcm import TCMActivities
from legato.activities.wdm import WDMActivities
from legato.devserver import DevServer, free_port
from legato.model import ServiceState
from legato.temporal import pydantic_data_converter
from legato.workflows.deploy_service import MAX_PLACEMENTS, DeployService
from legato.workflows.saga import activity_name
from legato.workflows.scale_cluster import ScaleCluster
from tests.unit.workflows.doubles import Doubles, fail, worker
from tests.unit.workflows.services import (
    SHARED,
    active,
    decision,
    grown_by_h7,
    operate,
    placed,
    reaches,
    scale,
    spec,
    start,
    status,
)

# The compensations a deployment registers, by the layer they tear down (links first, reservation last).
UNDO = (TCMActivities.disconnect, WDMActivities.remove_workload, MCMActivities.drain_nodes,
        MCMActivities.delete_cluster, PIMActivities.release_hosts, PlacementActivities.release)


@pytest.fixture
def doubles() -> Doubles:
    return placed(Doubles(), decision("h1"))


async def test_places_provisions_deploys_connects_then_active(client, doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        now = await status(handle)

    states = [u.state for u in doubles.args(InventoryActivities.update_service)]
    assert states == ["placing", "provisioning", "deploying", "connecting", "active"]
    order = doubles.names(PlacementActivities.place, PIMActivities.allocate_hosts, MCMActivities.create_cluster,
                          WDMActivities.deploy_workload, TCMActivities.connect, TCMActivities.set_user_qos)
    assert order[:3] == [activity_name(a) for a in (PlacementActivities.place, PIMActivities.allocate_hosts,
                                                     MCMActivities.create_cluster)]
    assert order[3:5] == [activity_name(WDMActivities.deploy_workload)] * 2
    assert sorted(order[5:]) == sorted(activity_name(a) for a in (TCMActivities.connect, TCMActivities.set_user_qos))
    # a new cluster where there is none (on the hosts placement chose); the shared one reused as it is
    (created,) = doubles.args(MCMActivities.create_cluster)
    assert created.site == "edge-1" and created.host_ids == ["h1"]
    deployed = {d.workload.component: d.cluster_id for d in doubles.args(WDMActivities.deploy_workload)}
    assert deployed == {"web": created.cluster_id, "db": SHARED}
    # what placement reserved and the steps did not take goes back once the service is active
    (released,) = doubles.args(PlacementActivities.release)
    assert released.op_id == doubles.args(PlacementActivities.place)[0].hold.op_id
    assert {(e.component, e.site, e.cluster) for e in now.endpoints} == {
        ("web", "edge-1", created.cluster_id), ("db", "cloud-1", SHARED)}
    assert now.placement is not None and now.error is None


async def test_a_failed_step_unwinds_in_reverse_layer_order_and_the_service_fails(client, doubles):
    doubles.on(WDMActivities.deploy_workload, fail("PermanentFault", "image pull failed"))
    service = spec()
    async with worker(client, doubles, DeployService) as tq:
        handle = await start(client, tq, service)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        now = await status(handle)

    assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == "ServiceFailed"
    assert now.state == ServiceState.failed and now.error == "PermanentFault: image pull failed"
    assert [u.state for u in doubles.args(InventoryActivities.update_service)][-2:] == ["rolling-back", "failed"]
    # workloads first (both deploys had registered their removal), then the cluster, its hosts, the reservation
    undone = doubles.names(*UNDO)
    assert undone == [activity_name(a) for a in (
        WDMActivities.remove_workload, WDMActivities.remove_workload, MCMActivities.delete_cluster,
        PIMActivities.release_hosts, PlacementActivities.release)]
    # nothing connected: the deployment never got that far
    assert doubles.count(TCMActivities.connect) == doubles.count(TCMActivities.disconnect) == 0
    steps = {s.name: s.state for s in now.steps}
    assert steps["undo create-cluster@edge-1"] == steps["undo allocate-hosts@edge-1"] == "compensated"


async def test_a_capacity_refusal_places_again_without_what_refused(client, doubles):
    placed(doubles, decision("h1"), decision("h2"))
    doubles.on(PIMActivities.allocate_hosts, fail("CapacityExhausted", "h1 is taken", "host:h1", times=1,
                                                  then=lambda req: []))
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        now = await status(handle)

    first, second = doubles.args(PlacementActivities.place)
    assert first.exclude.hosts == [] and second.exclude.hosts == ["h1"]
    assert first.hold.op_id != second.hold.op_id  # a fresh reservation, the first one given back
    allocated = doubles.args(PIMActivities.allocate_hosts)
    assert [a.host_ids for a in allocated] == [["h1"], ["h2"]]
    assert allocated[0].op_id != allocated[1].op_id  # fresh op ids: the first try's were done
    # between the two placements, what the first held went back
    names = doubles.names()
    between = names[names.index(activity_name(PlacementActivities.place)) + 1:
                    len(names) - names[::-1].index(activity_name(PlacementActivities.place)) - 1]
    assert activity_name(PlacementActivities.release) in between
    assert any(s.name == "re-place [2/3]" and s.state == "done" for s in now.steps)


async def test_placement_is_tried_at_most_three_times(client, doubles):
    placed(doubles, decision("h1"), decision("h2"), decision("h3"), decision("h4"))
    doubles.on(PIMActivities.allocate_hosts,
               lambda req: fail("CapacityExhausted", "taken", f"host:{req.host_ids[0]}")(req))
    async with worker(client, doubles, DeployService) as tq:
        handle = await start(client, tq, spec())
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        now = await status(handle)

    assert MAX_PLACEMENTS == 3
    assert [p.exclude.hosts for p in doubles.args(PlacementActivities.place)] == [[], ["h1"], ["h1", "h2"]]
    assert now.state == ServiceState.failed and now.error.startswith("CapacityExhausted")


async def test_terminate_runs_the_compensations_and_ends_terminated(client, doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        before = len(doubles.calls)
        ended = await handle.execute_update(DeployService.terminate)
        result = await handle.result()

    assert ended.state == result.state == ServiceState.terminated and result.error is None
    teardown = [c.name for c in doubles.calls[before:] if c.name in {activity_name(a) for a in UNDO}]
    # paths, then workloads, then the cluster, then its hosts; the reservation was released already
    assert teardown == [activity_name(a) for a in (
        TCMActivities.disconnect, TCMActivities.disconnect, WDMActivities.remove_workload,
        WDMActivities.remove_workload, MCMActivities.delete_cluster, PIMActivities.release_hosts)]
    made = {c.link.id for c in doubles.args(TCMActivities.connect)} | {
        q.qos.id for q in doubles.args(TCMActivities.set_user_qos)}
    assert {d.connection_id for d in doubles.args(TCMActivities.disconnect)} == made
    assert doubles.workloads == {}
    assert [r.record["kind"] for r in doubles.args(InventoryActivities.record_operation)][-2:] == [
        "terminate", "terminate"]
    assert doubles.args(InventoryActivities.record_operation)[-1].record["state"] == "succeeded"


async def test_teardown_goes_by_layer_not_by_age(client, doubles):
    """Nodes grown by a scale-out after the workloads were deployed still go after the workloads."""
    doubles.on(PlacementActivities.plan_growth, grown_by_h7)
    async with worker(client, doubles, DeployService, ScaleCluster) as tq:
        handle = await active(client, tq)
        assert (await operate(handle, scale("web", 3))).state == "succeeded"
        before = len(doubles.calls)
        await handle.execute_update(DeployService.terminate)

    teardown = [c.name for c in doubles.calls[before:] if c.name in {activity_name(a) for a in UNDO}]
    assert teardown == [activity_name(a) for a in (
        TCMActivities.disconnect, TCMActivities.disconnect, WDMActivities.remove_workload,
        WDMActivities.remove_workload, MCMActivities.drain_nodes, PIMActivities.release_hosts,
        MCMActivities.delete_cluster, PIMActivities.release_hosts)]
    # the grown node is drained and released under the allocation that added it
    releases = doubles.args(PIMActivities.release_hosts)
    assert [r.host_ids for r in releases] == [["h7"], ["h1"]]


async def test_a_deferred_service_terminated_before_its_start_deploys_nothing(client, doubles):
    later = spec(not_before=datetime.now(UTC) + timedelta(hours=1))
    async with worker(client, doubles, DeployService) as tq:
        handle = await start(client, tq, later)
        await reaches(handle, ServiceState.scheduled)
        ended = await handle.execute_update(DeployService.terminate)
        result = await handle.result()

    assert ended.state == result.state == ServiceState.terminated
    assert doubles.names() == [activity_name(InventoryActivities.record_service)] + [
        activity_name(InventoryActivities.update_service)] * 2


@pytest.fixture(scope="module")
def eager_server(tmp_path_factory):
    """A dev server of its own that suggests continue-as-new at 40 history events (the session's
    suggests it at thousands): the entity workflow continues as new after a deployment or two operations."""
    data = tmp_path_factory.mktemp("temporal-continue-as-new")
    server = DevServer(data / "temporal.db", port=free_port(), ui_port=None,
                       extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"])
    server.start()
    yield server
    server.stop()


async def test_continue_as_new_carries_the_service_its_operations_and_its_compensations(eager_server, doubles):
    client = await Client.connect(eager_server.address, data_converter=pydantic_data_converter)
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        record = await operate(handle, scale("web", 2, "r1"))
        replicas = 2
        while len(await _runs(client, handle.id)) < 3:  # so the run that did r1 has ended
            assert replicas < 8, "the entity workflow did not continue as new"
            replicas += 1  # operations grow the history until the server suggests continuing as new
            assert (await operate(handle, scale("web", replicas, f"r{replicas}"))).state == "succeeded"
        again = await operate(handle, scale("web", 2, "r1"))
        now = await status(handle)
        before = len(doubles.calls)
        ended = await handle.execute_update(DeployService.terminate)
        teardown = doubles.calls[before:]

    # the new runs know the service, the operations done before, and how to undo what it holds
    assert now.state == ServiceState.active and {e.component for e in now.endpoints} == {"web", "db"}
    assert again == record and doubles.count(WDMActivities.scale_workload) == replicas - 1
    assert ended.state == ServiceState.terminated
    assert {c.name for c in teardown} >= {activity_name(a) for a in (
        TCMActivities.disconnect, WDMActivities.remove_workload, MCMActivities.delete_cluster,
        PIMActivities.release_hosts)}
    assert [c.arg.host_ids for c in teardown if c.name == activity_name(PIMActivities.release_hosts)] == [["h1"]]


async def _runs(client: Client, workflow_id: str) -> set[str]:
    return {w.run_id async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")}
