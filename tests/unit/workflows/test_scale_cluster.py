"""ScaleCluster on doubles: growing adds hosts then nodes (and undoes both if a step fails);
shrinking drains before it removes and releases, and does with stuck nodes what it is asked."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowFailureError

from legato.activities.inventory import InventoryActivities
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.activities.placement import PlacementActivities
from legato.activities.wdm import WDMActivities
from legato.model.clusters import DrainResult, ScaleClusterRequest, ScaleClusterResult
from legato.model.continuum import pool_owner
from legato.workflows.saga import activity_name
from legato.workflows.scale_cluster import ScaleCluster, allocation_op
from tests.unit.workflows.doubles import Doubles, answer, fail, unique, worker

SHRINK = (InventoryActivities.held_hosts, MCMActivities.drain_nodes, MCMActivities.wait_drained,
          WDMActivities.record_placements, MCMActivities.remove_nodes, PIMActivities.release_hosts,
          PIMActivities.transfer_hosts)


def request(**fields) -> ScaleClusterRequest:
    return ScaleClusterRequest(service_id="svc-1", site="edge-1", cluster_id="edge-1-k8s", ready_poll_seconds=0.05,
                               **fields)


async def scaled(client: Client, doubles: Doubles, req: ScaleClusterRequest) -> ScaleClusterResult:
    async with worker(client, doubles, ScaleCluster) as tq:
        return await client.execute_workflow(ScaleCluster.run, req, id=unique("scale-cluster"), task_queue=tq)


def names(*activities) -> list[str]:
    return [activity_name(a) for a in activities]


def scaling(*activities) -> list[str]:
    """A run's calls: it joins the cluster's operations first and leaves them last, whatever happened."""
    return names(InventoryActivities.join_cluster, *activities, InventoryActivities.leave_cluster)


async def test_growing_allocates_the_hosts_then_adds_them_as_nodes(client):
    doubles = Doubles()
    result = await scaled(client, doubles, request(add_hosts=["h1", "h2"]))

    assert doubles.names() == scaling(PIMActivities.allocate_hosts, MCMActivities.add_nodes)
    allocated, added = doubles.args(PIMActivities.allocate_hosts)[0], doubles.args(MCMActivities.add_nodes)[0]
    assert allocated.host_ids == added.host_ids == ["h1", "h2"] and added.cluster_id == "edge-1-k8s"
    assert result.added == ["h1", "h2"] and result.cluster.id == "edge-1-k8s" and result.removed == []


async def test_growing_by_a_count_picks_reserved_hosts_and_releases_the_reservation(client):
    doubles = Doubles()
    result = await scaled(client, doubles, request(add_count=2))

    assert doubles.names() == scaling(PlacementActivities.pick_hosts, PIMActivities.allocate_hosts,
                                    MCMActivities.add_nodes, PlacementActivities.release)
    picked = doubles.args(PlacementActivities.pick_hosts)[0]
    assert doubles.args(PlacementActivities.release)[0].op_id == picked.hold.op_id
    assert result.added == doubles.args(PIMActivities.allocate_hosts)[0].host_ids == ["edge-1-free-0", "edge-1-free-1"]


async def test_a_failed_growth_removes_the_nodes_and_releases_the_hosts(client):
    doubles = Doubles().on(MCMActivities.add_nodes, fail("PermanentFault", "node never joined"))
    with pytest.raises(WorkflowFailureError) as failed:
        await scaled(client, doubles, request(add_hosts=["h1"]))

    assert failed.value.cause.type == "ScaleClusterFailed" and "node never joined" in failed.value.cause.message
    assert doubles.names() == scaling(PIMActivities.allocate_hosts, MCMActivities.add_nodes,
                                    MCMActivities.remove_nodes, PIMActivities.release_hosts)
    (allocated,), (released,) = doubles.args(PIMActivities.allocate_hosts), doubles.args(PIMActivities.release_hosts)
    assert released.host_ids == ["h1"] and released.allocation_op_id == allocated.op_id


async def test_shrinking_drains_waits_removes_then_releases_under_each_allocation(client):
    doubles = Doubles()
    result = await scaled(client, doubles, request(remove_hosts=["h1", "h2", "h3"],
                                                   allocations={"h1": "op-a", "h2": "op-b", "h3": "op-a"}))

    assert doubles.names() == scaling(InventoryActivities.held_hosts, MCMActivities.drain_nodes,
                                    MCMActivities.wait_drained, WDMActivities.record_placements,
                                    MCMActivities.remove_nodes, PIMActivities.release_hosts,
                                    PIMActivities.release_hosts)
    assert doubles.args(MCMActivities.drain_nodes)[0].partial is False  # an operator's shrink: all or nothing
    assert doubles.args(MCMActivities.remove_nodes)[0].host_ids == ["h1", "h2", "h3"]
    assert [(r.allocation_op_id, r.host_ids) for r in doubles.args(PIMActivities.release_hosts)] == [
        ("op-a", ["h1", "h3"]), ("op-b", ["h2"])]
    assert result.removed == ["h1", "h2", "h3"] and result.kept == result.pooled == []


async def test_only_nodes_still_held_under_their_allocation_are_touched(client):
    doubles = Doubles().on(InventoryActivities.held_hosts, answer(["h2"]))  # h1 went to someone else meanwhile
    result = await scaled(client, doubles, request(remove_hosts=["h1", "h2"], allocation_op_id="op-a"))

    assert doubles.args(MCMActivities.drain_nodes)[0].host_ids == ["h2"]
    assert [r.host_ids for r in doubles.args(PIMActivities.release_hosts)] == [["h2"]]
    assert result.removed == ["h2"]

    untouched = Doubles().on(InventoryActivities.held_hosts, answer([]))
    assert (await scaled(client, untouched, request(remove_hosts=["h1"]))).removed == []
    assert untouched.names() == scaling(InventoryActivities.held_hosts)


async def test_a_scale_in_keeps_the_nodes_whose_pods_fit_nowhere_else(client):
    doubles = Doubles().on(MCMActivities.drain_nodes, lambda req: DrainResult(
        draining=["h1"], stuck=["h2"], reasons={"h2": "a GPU pod fits on no other node"}))
    result = await scaled(client, doubles, request(remove_hosts=["h1", "h2"], allocation_op_id="op-a", stuck="keep"))

    assert doubles.args(MCMActivities.drain_nodes)[0].partial is True
    assert doubles.args(MCMActivities.remove_nodes)[0].host_ids == ["h1"]
    assert [r.host_ids for r in doubles.args(PIMActivities.release_hosts)] == [["h1"]]
    assert doubles.count(PIMActivities.transfer_hosts) == 0
    assert (result.removed, result.kept, result.pooled) == (["h1"], ["h2"], [])


async def test_a_teardown_hands_stuck_nodes_to_the_clusters_pool(client):
    doubles = Doubles().on(MCMActivities.wait_drained, answer(["h2"]))  # still busy when the drain time is up
    wid = unique("scale-cluster")
    req = request(remove_hosts=["h1", "h2"], undo=True, drain_seconds=1)
    async with worker(client, doubles, ScaleCluster) as tq:
        result = await client.execute_workflow(ScaleCluster.run, req, id=wid, task_queue=tq)

    (transfer,) = doubles.args(PIMActivities.transfer_hosts)
    assert transfer.host_ids == ["h2"] and transfer.owner == pool_owner("edge-1-k8s")
    assert transfer.allocation_op_id == allocation_op(wid)  # held under this run's allocation until now
    assert doubles.args(MCMActivities.remove_nodes)[0].host_ids == ["h1"]
    assert (result.removed, result.pooled, result.kept) == (["h1"], ["h2"], [])


async def test_an_operators_shrink_with_nodes_still_busy_is_refused_whole(client):
    doubles = Doubles().on(MCMActivities.wait_drained, answer(["h2"]))
    with pytest.raises(WorkflowFailureError) as refused:
        await scaled(client, doubles, request(remove_hosts=["h1", "h2"], drain_seconds=1))

    assert refused.value.cause.type == "DrainTimeout"
    assert doubles.names(*SHRINK) == names(InventoryActivities.held_hosts, MCMActivities.drain_nodes,
                                           MCMActivities.wait_drained, WDMActivities.record_placements)
