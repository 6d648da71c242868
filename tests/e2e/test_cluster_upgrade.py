"""POST /v1/clusters/{id}/upgrade on the sim, through the real HTTP API: a shared cluster moves one
minor up while two services run on it, none of them ever below its requested ready replicas (judged
from the simulator's replica history); the new version is what the cluster reports and what
/v1/clusters shows; bad requests are refused before anything changes."""

from __future__ import annotations

import asyncio
import time

from legato.schedules import ensure_schedules, reconcile_id
from legato.temporal import connect
from tests.e2e.calls import active, legato
from tests.e2e.test_shared_continuum import CLUSTER, ORIGINAL, on_milan
from tests.specs import example

OLD, NEW = "v1.34.4", "v1.35.4"


async def upgrade(stack, body: dict, tenant: str = "operator", wait: float = 0):
    async with stack.http(tenant) as client:
        return await client.post(f"/v1/clusters/{CLUSTER}/upgrade", json=body, params={"wait": wait}, timeout=300)


async def progress(stack, request_id: str) -> dict:
    async with stack.http("operator") as client:
        resp = await client.get(f"/v1/clusters/{CLUSTER}/upgrades/{request_id}")
    assert resp.status_code in (200, 202), resp.text
    return resp.json()


async def listed(stack) -> dict:
    async with stack.http("operator") as client:
        page = (await client.get("/v1/clusters", params={"site": "milan-cloud"})).json()
    return next(c for c in page["items"] if c["id"] == CLUSTER)


async def test_a_shared_cluster_moves_one_minor_up_while_its_services_keep_serving(stack):
    a = await active(stack, on_milan("a", 3, 10))
    b = await active(stack, on_milan("b", 2, 20))
    assert (await listed(stack))["kubernetes_version"] == OLD  # read from the cluster, not "1.31"
    stack.sim.set_upgrade_time(control_plane=0.5, node=0.5)
    since = time.time()
    started = await upgrade(stack, {"version": NEW, "request_id": "to-135"})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["workflow_id"] == f"cluster-{CLUSTER}/upgrade/to-135" and body["state"] == "running"
    assert [s["name"] for s in body["steps"]][:2] == ["claim", "check"]

    for _ in range(600):
        status = await progress(stack, "to-135")
        if status["state"] != "running":
            break
        await asyncio.sleep(0.2)
    assert status["state"] == "done", status
    assert [s["name"] for s in status["steps"]] == ["claim", "check", "control-plane",
                                                    *(f"node {h}" for h in sorted(ORIGINAL))]
    assert status["result"]["nodes"] == sorted(ORIGINAL) and status["result"]["from_version"] == OLD

    cluster = stack.sim.cluster(CLUSTER)
    assert (cluster.kubernetes_version, set(cluster.node_versions.values())) == (NEW, {NEW})
    assert set(cluster.hosts) == ORIGINAL  # replaced under their names, none added or lost
    for service_id, component, wanted in ((a, "work", 3), (b, "work", 2)):
        assert stack.sim.serving(service_id, component, since).min_ready == wanted  # never a dip
    shown = await listed(stack)
    assert shown["kubernetes_version"] == NEW and shown["node_versions"] == dict.fromkeys(sorted(ORIGINAL), NEW)

    # Asked again, it is the same upgrade: its outcome, nothing done twice.
    again = await upgrade(stack, {"version": NEW, "request_id": "to-135"})
    assert again.status_code == 200 and again.json()["result"]["nodes"] == sorted(ORIGINAL)
    # Now older than the cluster: a downgrade, refused.
    down = await upgrade(stack, {"version": OLD})
    assert down.status_code == 422 and "downgrades are not supported" in down.text, down.text
    for sid in (a, b):
        await stack.remove(sid)


async def test_bad_upgrades_are_refused_before_anything_changes(stack):
    refusals = [
        ({"version": "v1.36.0"}, 422, "skips a minor version"),
        ({"version": "v1.35.99"}, 422, "not offered"),
        ({"version": "latest"}, 422, "not a Kubernetes version"),
        ({"version": OLD}, 422, "already runs"),
    ]
    for body, code, words in refusals:
        resp = await upgrade(stack, body)
        assert resp.status_code == code and words in resp.text, (body, resp.text)
    assert (await upgrade(stack, {"version": NEW}, tenant="alpha")).status_code == 403
    async with stack.http("operator") as client:
        assert (await client.post("/v1/clusters/nope/upgrade", json={"version": NEW})).status_code == 404
    async with stack.http("operator") as client:  # an upgrade drains every node: inside the windows only
        windows = {"windows": [{"cron": "0 3 1 1 *", "duration_minutes": 60}]}  # New Year's night only
        assert (await client.put(f"/v1/clusters/{CLUSTER}/maintenance-windows", json=windows)).status_code == 200
        outside = await upgrade(stack, {"version": NEW})
        assert outside.status_code == 409 and "outside the maintenance windows" in outside.text, outside.text
        assert (await client.put(f"/v1/clusters/{CLUSTER}/maintenance-windows", json={"windows": []})).is_success
    cluster = stack.sim.cluster(CLUSTER)
    assert (cluster.kubernetes_version, set(cluster.node_versions.values())) == (OLD, {OLD})
    assert stack.sim.op_count("mcm.upgrade_control_plane") == stack.sim.op_count("mcm.drain_nodes") == 0


async def test_one_operation_at_a_time_on_a_cluster(stack):
    stack.sim.set_upgrade_time(control_plane=3, node=0.2)
    first = await upgrade(stack, {"version": NEW, "request_id": "first"})
    assert first.status_code == 202, first.text
    second = await upgrade(stack, {"version": NEW, "request_id": "second"})
    assert second.status_code == 409 and "busy" in second.text and "first" in second.text, second.text
    async with stack.http("operator") as client:
        scaled = await client.post(f"/v1/clusters/{CLUSTER}/scale", json={"add": 1}, timeout=60)
    assert scaled.status_code == 409 and "busy" in scaled.text, scaled.text
    done = await upgrade(stack, {"version": NEW, "request_id": "first"}, wait=120)
    assert done.status_code == 200 and done.json()["state"] == "done", done.text
    assert stack.inventory.cluster_operation(CLUSTER) is None  # the claim is given back


async def test_reconcile_keeps_the_inventory_on_the_versions_clusters_report(stack):
    # The topology names no version: the inventory starts without one, never with a made-up string.
    assert stack.inventory.cluster(CLUSTER).kubernetes_version == ""
    client = await connect(stack.settings)
    await ensure_schedules(client, stack.settings)
    await client.get_schedule_handle(reconcile_id(stack.settings)).trigger()
    for _ in range(300):
        row = stack.inventory.cluster(CLUSTER)
        if row.kubernetes_version:
            break
        await asyncio.sleep(0.2)
    assert row.kubernetes_version == OLD and row.node_versions == dict.fromkeys(sorted(ORIGINAL), OLD)


async def test_the_cli_follows_an_upgrade_and_says_why_one_is_refused(stack):
    stack.sim.set_upgrade_time(control_plane=0.5, node=0.3)
    code, out = await legato(stack, "cluster", "upgrade", CLUSTER, NEW, tenant="operator")
    assert code == 0, out
    for words in ("✓ claim", "✓ check", "✓ control-plane", *(f"✓ node {h}" for h in sorted(ORIGINAL)),
                  f"{OLD} -> {NEW}"):
        assert words in out, (words, out)
    code, out = await legato(stack, "cluster", "upgrade", CLUSTER, "v1.37.0", tenant="operator")
    assert code == 1 and "422" in out and "not offered" in out and "Traceback" not in out, out
    code, out = await legato(stack, "cluster", "upgrade", CLUSTER, "v1.36.0")  # a tenant may not
    assert code == 1 and "403" in out, out


async def test_a_service_upgrades_a_cluster_of_its_own_as_one_of_its_operations(stack):
    """The tenant, not the operator: the cluster created for its service moves one minor up as a
    day-2 operation of that service (UpgradeCluster a child of its workflow), its components never
    below their ready replicas; other tenants, shared clusters and bad versions are refused."""
    service_id = await active(stack, example("video-analytics"))
    async with stack.http() as client:
        components = (await client.get(f"/v1/services/{service_id}")).json()["components"]
    own = [c for c in components if not stack.inventory.cluster(c["cluster"]).shared]
    assert own, components  # the example's placement creates a cluster for it
    cluster_id = own[0]["cluster"]
    on_it = {c["name"]: c["replicas"] for c in components if c["cluster"] == cluster_id}
    nodes, held = set(stack.sim.cluster(cluster_id).hosts), stack.inventory_hosts(service_id)
    route = f"/v1/services/{service_id}/clusters/{cluster_id}/upgrade"
    async with stack.http("beta") as other:
        assert (await other.post(route, json={"version": NEW})).status_code == 404  # not even told it exists
    async with stack.http() as client:
        shared = await client.post(f"/v1/services/{service_id}/clusters/{CLUSTER}/upgrade", json={"version": NEW})
        assert shared.status_code == 404 and "upgraded by the operator" in shared.text, shared.text
        skip = await client.post(route, json={"version": "v1.36.0"})
        assert skip.status_code == 422 and "skips a minor" in skip.text, skip.text

        stack.sim.set_upgrade_time(control_plane=0.3, node=0.3)
        since = time.time()
        done = await client.post(route, json={"version": NEW, "request_id": "k8s-135"}, params={"timeout": 240},
                                 timeout=300)
        assert done.status_code == 200, done.text
        record = done.json()
        assert (record["kind"], record["state"]) == ("cluster_upgrade", "succeeded"), record
        assert f"{OLD} -> {NEW}" in record["detail"], record
        logged = (await client.get(f"/v1/services/{service_id}/operations/k8s-135")).json()
        assert logged["kind"] == "cluster_upgrade" and logged["requested_by"] == "alpha", logged
    cluster = stack.sim.cluster(cluster_id)
    assert (cluster.kubernetes_version, set(cluster.node_versions.values())) == (NEW, {NEW})
    # A one-node cluster sized for its pods: a surge node came first (so the node could be emptied)
    # and went after; the service holds what it held before.
    assert stack.sim.op_count("mcm.add_nodes") == stack.sim.op_count("mcm.remove_nodes") == 1
    assert set(cluster.hosts) == nodes and stack.inventory_hosts(service_id) == held
    for name, replicas in on_it.items():
        assert stack.sim.serving(service_id, name, since).min_ready == replicas, name
    code, out = await legato(stack, "cluster", "upgrade", cluster_id, NEW, "--service", service_id)
    assert code == 1 and "422" in out and f"already runs {NEW}" in out, out  # the tenant's CLI path, checked first
    await stack.remove(service_id)
