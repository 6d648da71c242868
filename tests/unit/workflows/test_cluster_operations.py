"""An upgrade runs alone on its cluster, scalings beside each other but never during an upgrade:
ScaleCluster and UpgradeCluster on the real dev server, with the real claim activities on a real
inventory (every other activity a double). A scaling that starts while the cluster is being
upgraded waits, then runs once the upgrade gives the cluster back; an upgrade asked while a
scaling runs is refused, naming it, before anything changes."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from legato.activities.inventory import InventoryActivities
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.inventory import Inventory
from legato.model.clusters import ScaleClusterRequest
from legato.topology_loader import load_topology
from legato.workflows.scale_cluster import ScaleCluster
from legato.workflows.upgrade_cluster import UpgradeCluster
from tests.unit.workflows.doubles import Doubles, unique, worker
from tests.unit.workflows.test_upgrade_cluster import FakeCluster, request

CLUSTER = "edge-1-k8s"


def claims(tmp_path, doubles: Doubles) -> Inventory:
    """The real claim, release, join and leave activities on a real inventory behind `doubles`."""
    inventory = Inventory(f"sqlite:///{tmp_path / 'inv.db'}")
    inventory.load_topology(load_topology("deploy/topologies/default.yaml"))
    real = InventoryActivities(inventory)
    for name in ("claim_cluster", "release_cluster", "join_cluster", "leave_cluster"):
        doubles.on(getattr(InventoryActivities, name), getattr(real, name))
    return inventory


def growth() -> ScaleClusterRequest:
    return ScaleClusterRequest(service_id="svc-1", site="edge-1", cluster_id=CLUSTER, add_hosts=["h9"],
                               ready_poll_seconds=0.05)


async def until(check, timeout: float = 30.0) -> None:
    async def loop():
        while not check():
            await asyncio.sleep(0.05)
    await asyncio.wait_for(loop(), timeout)


async def test_a_scaling_waits_while_the_cluster_is_upgraded_then_runs(client: Client, tmp_path):
    fake = FakeCluster()
    doubles = fake.doubles()
    inventory = claims(tmp_path, doubles)
    rolling = asyncio.Event()
    plain_upgrade = doubles.behaviour(MCMActivities.upgrade_control_plane)

    async def control_plane(req):
        await rolling.wait()  # the upgrade holds the cluster until the test lets it go on
        return plain_upgrade(req)

    doubles.on(MCMActivities.upgrade_control_plane, control_plane)
    async with worker(client, doubles, UpgradeCluster, ScaleCluster) as tq:
        upgrade = await client.start_workflow(UpgradeCluster.run, request(), id=unique("upgrade"), task_queue=tq)
        await until(lambda: doubles.count(MCMActivities.upgrade_control_plane) == 1)
        scale = await client.start_workflow(ScaleCluster.run, growth(), id=unique("scale"), task_queue=tq)
        await asyncio.sleep(2.0)  # the scaling has had every chance to start
        assert doubles.count(PIMActivities.allocate_hosts) == 0 and doubles.count(MCMActivities.add_nodes) == 0
        assert (await scale.describe()).status == WorkflowExecutionStatus.RUNNING
        assert inventory.cluster_scalings(CLUSTER) == []  # not counted yet: it waits

        rolling.set()
        await upgrade.result()
        result = await scale.result()
    assert result.added == ["h9"]
    order = [c.name for c in doubles.calls]
    assert order.index("inventory.release_cluster") < order.index("pim.allocate_hosts")  # only once given back
    assert inventory.cluster_scalings(CLUSTER) == [] and inventory.cluster_operation(CLUSTER) is None


async def test_an_upgrade_asked_while_a_scaling_runs_is_refused_naming_it(client: Client, tmp_path):
    fake = FakeCluster()
    doubles = fake.doubles()
    inventory = claims(tmp_path, doubles)
    allocating = asyncio.Event()

    async def allocate(req):
        await allocating.wait()  # the scaling is under way until the test lets it finish

    doubles.on(PIMActivities.allocate_hosts, allocate)
    async with worker(client, doubles, UpgradeCluster, ScaleCluster) as tq:
        scale_id = unique("scale")
        scale = await client.start_workflow(ScaleCluster.run, growth(), id=scale_id, task_queue=tq)
        await until(lambda: inventory.cluster_scalings(CLUSTER) == [scale_id])
        with pytest.raises(WorkflowFailureError) as refused:
            await client.execute_workflow(UpgradeCluster.run, request(), id=unique("upgrade"), task_queue=tq)
        allocating.set()
        await scale.result()
    assert refused.value.cause.type == "ClusterBusy" and scale_id in refused.value.cause.message
    assert doubles.count(MCMActivities.check_upgrade) == 0 and doubles.count(MCMActivities.upgrade_control_plane) == 0
    assert inventory.cluster_scalings(CLUSTER) == [] and inventory.cluster_operation(CLUSTER) is None

