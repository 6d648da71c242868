"""UpgradeCluster on doubles: the cluster claimed, the step checked, the control plane first, then
each node drained make-before-break (ScaleCluster's drain steps) before it is replaced; a failure
stops the roll where it is, says where and what runs which version, and gives the claim back."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowFailureError

from legato.activities.inventory import InventoryActivities
from legato.activities.mcm import MCMActivities
from legato.activities.wdm import WDMActivities
from legato.model import Cluster
from legato.model.clusters import DrainResult, UpgradeClusterRequest, UpgradeClusterResult
from legato.workflows.upgrade_cluster import UpgradeCluster
from tests.unit.workflows.doubles import Doubles, answer, fail, nothing, unique, worker
from tests.unit.workflows.test_scale_cluster import names

OLD, NEW = "v1.34.4", "v1.35.4"
NODE_STEPS = (MCMActivities.drain_nodes, MCMActivities.wait_drained, WDMActivities.record_placements,
              MCMActivities.upgrade_nodes, MCMActivities.wait_upgraded)


class FakeCluster:
    """What the MCM doubles answer: a cluster whose versions move as the upgrade calls ask."""

    def __init__(self, control_plane: str = OLD, nodes: dict[str, str] | None = None) -> None:
        self.cluster = Cluster(id="edge-1-k8s", site="edge-1", kubernetes_version=control_plane,
                               node_versions=nodes or {"n1": OLD, "n2": OLD, "n3": OLD})
        self.cluster.hosts = sorted(self.cluster.node_versions)

    def upgrade_control_plane(self, req) -> Cluster:
        self.cluster.kubernetes_version = req.version
        return self.cluster

    def upgrade_nodes(self, req) -> Cluster:
        for h in req.host_ids:
            self.cluster.node_versions[h] = req.version
        return self.cluster

    def doubles(self) -> Doubles:
        return (Doubles()
                .on(InventoryActivities.claim_cluster, nothing).on(InventoryActivities.release_cluster, nothing)
                .on(MCMActivities.check_upgrade, lambda req: self.cluster)
                .on(MCMActivities.upgrade_control_plane, self.upgrade_control_plane)
                .on(MCMActivities.upgrade_nodes, self.upgrade_nodes)
                .on(MCMActivities.wait_upgraded, lambda req: self.cluster))  # fmt: skip


def request() -> UpgradeClusterRequest:
    return UpgradeClusterRequest(cluster_id="edge-1-k8s", site="edge-1", version=NEW, service_id="cluster-edge-1-k8s",
                                 ready_poll_seconds=0.05)


async def upgraded(client: Client, doubles: Doubles, workflow_id: str | None = None) -> UpgradeClusterResult:
    async with worker(client, doubles, UpgradeCluster) as tq:
        return await client.execute_workflow(UpgradeCluster.run, request(), id=workflow_id or unique("upgrade"),
                                             task_queue=tq)


async def test_the_control_plane_goes_first_then_each_node_drained_before_it_is_replaced(client):
    fake = FakeCluster()
    doubles = fake.doubles()
    result = await upgraded(client, doubles)

    assert doubles.names() == names(
        InventoryActivities.claim_cluster, MCMActivities.check_upgrade, MCMActivities.upgrade_control_plane,
        MCMActivities.wait_upgraded, *NODE_STEPS * 3, InventoryActivities.release_cluster)
    drained = [d.host_ids for d in doubles.args(MCMActivities.drain_nodes)]
    replaced = [u.host_ids for u in doubles.args(MCMActivities.upgrade_nodes)]
    assert drained == replaced == [["n1"], ["n2"], ["n3"]]  # one by one, each drained right before
    assert all(not d.partial for d in doubles.args(MCMActivities.drain_nodes))  # a stuck node moves nothing
    assert doubles.args(MCMActivities.upgrade_control_plane)[0].version == NEW
    assert (result.from_version, result.version, result.nodes) == (OLD, NEW, ["n1", "n2", "n3"])
    assert result.cluster.node_versions == {"n1": NEW, "n2": NEW, "n3": NEW}


async def test_the_roll_is_visible_as_steps(client):
    fake = FakeCluster()
    doubles = fake.doubles()
    async with worker(client, doubles, UpgradeCluster) as tq:
        handle = await client.start_workflow(UpgradeCluster.run, request(), id=unique("upgrade"), task_queue=tq)
        await handle.result()
        status = await handle.query(UpgradeCluster.progress)
    assert [(s.name, s.state) for s in status.steps] == [
        ("claim", "done"), ("check", "done"), ("control-plane", "done"),
        ("node n1", "done"), ("node n2", "done"), ("node n3", "done")]  # fmt: skip
    assert status.state == "done" and status.result.nodes == ["n1", "n2", "n3"]


async def test_a_node_whose_pods_fit_nowhere_stops_the_roll_there_and_says_so(client):
    fake = FakeCluster()
    doubles = fake.doubles()

    def drain(req) -> DrainResult:
        if req.host_ids == ["n2"]:
            return fail("CapacityExhausted", "cluster edge-1-k8s: cannot remove nodes ['n2']", "host:n2")(req)
        return DrainResult(draining=list(req.host_ids))

    doubles.on(MCMActivities.drain_nodes, drain)
    with pytest.raises(WorkflowFailureError) as failed:
        await upgraded(client, doubles)

    message = failed.value.cause.message
    assert failed.value.cause.type == "UpgradeFailed"
    assert "stopped at node n2" in message and "cannot remove nodes" in message
    assert f"Control plane {NEW}" in message and f"nodes on {NEW}: n1;" in message and "not yet: n2, n3" in message
    assert "Nothing was rolled back" in message
    # n2 not replaced, n3 not reached
    assert [u.host_ids for u in doubles.args(MCMActivities.upgrade_nodes)] == [["n1"]]
    assert doubles.count(InventoryActivities.release_cluster) == 1  # the claim is given back


async def test_a_drain_that_does_not_finish_in_time_stops_the_roll(client):
    fake = FakeCluster()
    doubles = fake.doubles().on(MCMActivities.wait_drained, answer(["n1"]))
    with pytest.raises(WorkflowFailureError) as failed:
        await upgraded(client, doubles)
    assert "still runs pods" in failed.value.cause.message and "stays cordoned" in failed.value.cause.message
    assert doubles.count(MCMActivities.upgrade_nodes) == 0
    assert doubles.count(InventoryActivities.release_cluster) == 1


async def test_asking_again_resumes_where_the_roll_stopped(client):
    fake = FakeCluster(control_plane=NEW, nodes={"n1": NEW, "n2": OLD, "n3": OLD})
    doubles = fake.doubles()
    result = await upgraded(client, doubles)
    assert doubles.count(MCMActivities.upgrade_control_plane) == 0
    assert result.nodes == ["n2", "n3"] and result.from_version == NEW


async def test_a_cluster_another_operation_holds_is_refused_before_anything_changes(client):
    fake = FakeCluster()
    doubles = fake.doubles().on(InventoryActivities.claim_cluster,
                                fail("ClusterBusy", "cluster edge-1-k8s is busy: workflow w-1 runs on it",
                                     non_retryable=True))  # as the real one says
    with pytest.raises(WorkflowFailureError) as failed:
        await upgraded(client, doubles)
    assert failed.value.cause.type == "ClusterBusy" and "w-1" in failed.value.cause.message
    assert doubles.names() == names(InventoryActivities.claim_cluster)  # not even released: it was not ours


async def test_a_refused_step_changes_nothing(client):
    fake = FakeCluster()
    doubles = fake.doubles().on(MCMActivities.check_upgrade,
                                fail("InvalidRequest", "v1.36.0 skips a minor version"))
    with pytest.raises(WorkflowFailureError) as failed:
        await upgraded(client, doubles)
    assert failed.value.cause.type == "UpgradeRefused" and "skips a minor" in failed.value.cause.message
    assert doubles.names() == names(InventoryActivities.claim_cluster, MCMActivities.check_upgrade,
                                    InventoryActivities.release_cluster)
