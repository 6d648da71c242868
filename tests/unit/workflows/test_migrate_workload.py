"""MigrateWorkload on doubles: make-before-break (the target deployed and ready, the paths switched to
it, and only then the source removed), and a failure before the switch leaves the source serving."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowFailureError

from legato.activities.inventory import InventoryActivities
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.activities.tcm import TCMActivities
from legato.activities.wdm import WDMActivities
from legato.model import SitePlan
from legato.workflows.entity import ComponentState, ConnectionState
from legato.workflows.migrate_workload import MigrateRequest, MigrateResult, MigrateWorkload
from legato.workflows.saga import activity_name
from tests.unit.workflows.doubles import Doubles, fail, unique, worker
from tests.unit.workflows.services import SHARED, spec

SOURCE = ComponentState(name="web", site="edge-1", cluster="edge-1-k8s", workload_id="web-old",
                        image="registry.test/web", version="1.0", replicas=1, endpoint="web-old.edge-1.test:80")
DB = ComponentState(name="db", site="cloud-1", cluster=SHARED, workload_id="db-1", image="registry.test/db",
                    version="1.0", replicas=1, endpoint="db-1.cloud-1.test:5432")
OLD_PATHS = [ConnectionState(key="link@0", kind="link", id="link-old", description="web->db"),
             ConnectionState(key="qos@0", kind="qos", id="qos-old", description="paris->web")]


def request() -> MigrateRequest:
    """web moves from edge-1 to a new cluster at edge-2 (on host h9); db stays at cloud-1."""
    return MigrateRequest(spec=spec(), component="web", components={"web": SOURCE, "db": DB}, connections=OLD_PATHS,
                          plan=SitePlan(site="edge-2", components=["web"], add_hosts=["h9"], action="create"),
                          ready_poll_seconds=0.05)


async def migrated(client: Client, doubles: Doubles) -> MigrateResult:
    async with worker(client, doubles, MigrateWorkload) as tq:
        return await client.execute_workflow(MigrateWorkload.run, request(), id=unique("migrate"), task_queue=tq)


def starting_unready(doubles: Doubles) -> Doubles:
    """The target's replicas are not ready when deployed: the migration must wait for them."""
    deploy = doubles.behaviour(WDMActivities.deploy_workload)
    return doubles.on(WDMActivities.deploy_workload, lambda req: deploy(req).model_copy(update={"ready_replicas": 0}))


async def test_the_target_is_ready_and_connected_before_the_source_goes(client):
    doubles = starting_unready(Doubles())
    result = await migrated(client, doubles)

    called = doubles.names()
    assert called[:4] == [activity_name(a) for a in (PIMActivities.allocate_hosts, MCMActivities.create_cluster,
                                                      WDMActivities.deploy_workload, WDMActivities.wait_ready)]
    assert sorted(called[4:6]) == sorted(activity_name(a) for a in (TCMActivities.connect, TCMActivities.set_user_qos))
    assert called[6:] == [activity_name(a) for a in (TCMActivities.disconnect, TCMActivities.disconnect,
                                                     WDMActivities.remove_workload)]
    # the new paths lead to the target; the old ones are cut only after them; the source goes last
    (link,), (qos,) = doubles.args(TCMActivities.connect), doubles.args(TCMActivities.set_user_qos)
    assert (link.link.source_site, link.link.target_site, qos.qos.site) == ("edge-2", "cloud-1", "edge-2")
    assert {d.connection_id for d in doubles.args(TCMActivities.disconnect)} == {"link-old", "qos-old"}
    (removed,) = doubles.args(WDMActivities.remove_workload)
    assert (removed.cluster_id, removed.workload_id) == ("edge-1-k8s", "web-old")

    target = doubles.args(MCMActivities.create_cluster)[0].cluster_id
    assert (result.component.site, result.component.cluster) == ("edge-2", target)
    assert {(c.key, c.id) for c in result.connections} == {("link@0", link.link.id), ("qos@0", qos.qos.id)}
    # how to undo what the target holds goes to the parent, which adopts it
    assert {u.key.split("#")[0] for u in result.undo} == {
        "hosts@edge-2", "cluster@edge-2", f"workload@web@{target}", "link@0", "qos@0"}
    assert result.steps and all(s.name.startswith("move web: ") for s in result.steps)


async def test_a_target_not_ready_in_time_is_removed_and_the_source_keeps_serving(client):
    doubles = starting_unready(Doubles()).on(
        WDMActivities.wait_ready, fail("ProgressDeadlineExceeded", "0 of 1 replicas ready", non_retryable=True))
    with pytest.raises(WorkflowFailureError) as failed:
        await migrated(client, doubles)

    assert failed.value.cause.type == "MoveFailed" and "edge-1 keeps serving" in failed.value.cause.message
    target = doubles.args(MCMActivities.create_cluster)[0].cluster_id
    # the target undone (workload, cluster, hosts), the source untouched and named again in the inventory
    assert doubles.names()[4:] == [activity_name(a) for a in (
        WDMActivities.remove_workload, MCMActivities.delete_cluster, PIMActivities.release_hosts,
        InventoryActivities.record_component)]
    assert [r.cluster_id for r in doubles.args(WDMActivities.remove_workload)] == [target]
    assert doubles.count(TCMActivities.connect) == doubles.count(TCMActivities.disconnect) == 0
    (named,) = doubles.args(InventoryActivities.record_component)
    assert (named.site, named.cluster, named.workload_id) == ("edge-1", "edge-1-k8s", "web-old")
