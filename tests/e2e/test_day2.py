"""Day-2 operations through the HTTP API on a running service, with serving continuity measured
by the simulator (ready replicas and the user traffic path over the whole operation)."""

import asyncio
import time

from tests.e2e.calls import active, component_workloads, day2, operate
from tests.specs import example, scale_path_spec


async def test_scale_keeps_serving_and_grows_the_cluster_when_needed(stack):
    service_id = await active(stack, example("web-shop"))
    since = time.time()
    record = await operate(stack, service_id, "components/api/scale", {"replicas": 5})
    assert record["state"] == "succeeded", record
    report = stack.sim.serving(service_id, "api", since)
    assert report.min_ready >= 2 and report.final_ready == 5  # never below what was running

    # More than the shared cluster holds: the cluster grows first (ScaleCluster), then the workload.
    big = await active(stack, scale_path_spec())
    nodes_before = set(stack.sim.cluster("paris-cloud-k8s").hosts)
    since = time.time()
    record = await operate(stack, big, "components/batch/scale", {"replicas": 14})
    assert record["state"] == "succeeded", record
    assert len(set(stack.sim.cluster("paris-cloud-k8s").hosts) - nodes_before) >= 1
    assert stack.sim.serving(big, "batch", since).min_ready >= 10
    [batch] = await component_workloads(stack, big, "batch")
    assert batch.replicas == 14 and batch.ready

    for sid in (service_id, big):
        await stack.remove(sid)


async def test_rolling_upgrade_never_drops_below_requested_replicas(stack):
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_ready_delay(0.3)
    since = time.time()
    record = await operate(stack, service_id, "components/api/upgrade", {"version": "1.3.0"})
    assert record["state"] == "succeeded", record
    report = stack.sim.serving(service_id, "api", since)
    assert report.min_ready >= 2, report
    [api] = await component_workloads(stack, service_id, "api")
    assert api.version == "1.3.0" and api.ready
    async with stack.http() as client:
        svc = (await client.get(f"/v1/services/{service_id}")).json()
    assert {c["name"]: c["version"] for c in svc["components"]}["api"] == "1.3.0"


async def test_canary_passing_its_gate_rolls_out_and_failing_rolls_back(stack):
    service_id = await active(stack, example("web-shop"))
    canary = {"version": "1.3.0", "strategy": "canary", "canary": {"replicas": 1, "max_error_rate": 0.05,
                                                                   "observe_seconds": 0.5}}
    record = await operate(stack, service_id, "components/api/upgrade", canary)
    assert record["state"] == "succeeded", record
    [api] = await component_workloads(stack, service_id, "api")
    assert api.version == "1.3.0"

    stack.sim.set_error_rate("1.4.0", 0.4)  # a bad release
    since = time.time()
    record = await operate(stack, service_id, "components/api/upgrade", {**canary, "version": "1.4.0"})
    assert record["state"] == "rolled-back" and "error rate 0.4" in record["detail"], record
    [api] = await component_workloads(stack, service_id, "api")
    assert api.version == "1.3.0" and api.replicas == 2  # the canary is gone, the old version stayed
    assert not await component_workloads(stack, service_id, "api-canary")
    assert stack.sim.serving(service_id, "api", since).min_ready >= 2
    assert stack.sim.duplicate_allocations() == 0


async def test_move_make_before_break_keeps_users_connected(stack):
    service_id = await active(stack, example("video-analytics"))
    async with stack.http() as client:
        source = {c["name"]: c for c in (await client.get(f"/v1/services/{service_id}")).json()["components"]}
    since = time.time()
    record = await operate(stack, service_id, "components/ingest/move", {"placement": {"tiers": ["far-edge"]}})
    assert record["state"] == "succeeded", record
    report = stack.sim.serving(service_id, "ingest", since)
    assert report.min_ready >= 1 and report.path_connected, report
    async with stack.http() as client:
        svc = (await client.get(f"/v1/services/{service_id}")).json()
    moved = {c["name"]: c for c in svc["components"]}["ingest"]
    assert moved["site"] != source["ingest"]["site"] and "far-edge" in moved["site"]
    [ingest] = await component_workloads(stack, service_id, "ingest")
    assert ingest.cluster == moved["cluster"]  # the source is drained and removed
    assert len(await stack.sim_connections(service_id)) == 3  # links and QoS rewired, not doubled
    assert stack.inventory_hosts(service_id) == await stack.sim_hosts(service_id)
    await stack.remove(service_id)


async def test_move_failing_at_target_leaves_source_serving_and_nothing_at_target(stack):
    service_id = await active(stack, example("video-analytics"))
    hosts, clusters = await stack.sim_hosts(service_id), stack.sim.leftovers(service_id)["clusters"]
    stack.sim.set_fault("wdm.deploy", permanent=True)
    since = time.time()
    record = await operate(stack, service_id, "components/analytics/move", {"placement": {"tiers": ["regional"]}})
    assert record["state"] == "failed" and "keeps serving" in record["detail"], record
    stack.sim.clear_faults()
    assert stack.sim.serving(service_id, "analytics", since).min_ready >= 1
    assert await stack.sim_hosts(service_id) == hosts and stack.sim.leftovers(service_id)["clusters"] == clusters
    [analytics] = await component_workloads(stack, service_id, "analytics")
    assert analytics.cluster == "paris-cloud-k8s" and analytics.ready


async def test_move_failing_after_the_target_deployed_keeps_the_inventory_on_the_source(stack):
    service_id = await active(stack, example("video-analytics"))
    stack.sim.set_fault("tcm.connect", permanent=True)  # the target is up; connecting it fails
    record = await operate(stack, service_id, "components/analytics/move", {"placement": {"tiers": ["regional"]}})
    assert record["state"] == "failed" and "keeps serving" in record["detail"], record
    stack.sim.clear_faults()
    [analytics] = await component_workloads(stack, service_id, "analytics")
    [row] = [c for c in stack.inventory.components(service_id) if c.name == "analytics"]
    assert (row.cluster, row.workload_id, row.site) == (analytics.cluster, analytics.id, "paris-cloud")
    await stack.remove(service_id)


async def test_move_without_feasible_target_is_refused_and_changes_nothing(stack):
    service_id = await active(stack, example("video-analytics"))
    before = await stack.sim_workloads(service_id)
    ops = stack.sim.op_count()
    record = await operate(stack, service_id, "components/inference/move", {"site": "rome-far-edge-1"})
    assert record["state"] == "refused" and "stays at" in record["detail"], record
    assert await stack.sim_workloads(service_id) == before and stack.sim.op_count() == ops


async def test_validators_reject_nonsense_before_anything_runs(stack):
    service_id = await active(stack, example("video-analytics"))
    ops = stack.sim.op_count()
    async with stack.http() as client:
        cases = [
            ("components/ingest/scale", {"replicas": -1}, 422, "replicas"),
            ("components/nope/scale", {"replicas": 2}, 404, "unknown component"),
            ("components/ingest/move", {"site": "atlantis"}, 422, "unknown site"),
            ("components/analytics/move", {"site": "paris-cloud"}, 422, "already runs at"),
            ("components/ingest/upgrade", {"version": ""}, 422, "version"),
        ]
        for path, body, code, words in cases:
            resp = await client.post(f"/v1/services/{service_id}/{path}", json=body)
            assert resp.status_code == code and words in resp.text, (path, resp.status_code, resp.text)
    assert stack.sim.op_count() == ops


async def test_one_operation_at_a_time_and_retries_apply_once(stack):
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_latency("wdm.scale", 2.0)
    first = await operate(stack, service_id, "components/api/scale", {"replicas": 3, "request_id": "req-1"},
                          expect=202, wait=False)
    assert first["request_id"] == "req-1"
    async with stack.http() as client:
        busy = await client.post(f"/v1/services/{service_id}/components/frontend/scale", json={"replicas": 3})
        assert busy.status_code == 409 and "is running" in busy.text
        # the same request again (a client retry) joins the first instead of applying twice
        again = await client.post(f"/v1/services/{service_id}/components/api/scale",
                                  json={"replicas": 3, "request_id": "req-1"}, timeout=60)
        assert again.status_code == 200 and again.json()["state"] == "succeeded"
        later = await client.post(f"/v1/services/{service_id}/components/api/scale",
                                  json={"replicas": 3}, headers={"Idempotency-Key": "req-1"})
        assert later.json()["request_id"] == "req-1" and later.json()["started_at"] == again.json()["started_at"]
        ops = day2((await client.get(f"/v1/services/{service_id}/operations")).json())
    assert [(o["request_id"], o["state"], o["requested_by"]) for o in ops] == [("req-1", "succeeded", "alpha")]
    assert ops[0]["duration_seconds"] >= 2.0
    assert stack.sim.op_count("wdm.scale") == 1


async def test_terminate_waits_for_a_running_operation(stack):
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_latency("wdm.scale", 1.5)
    await operate(stack, service_id, "components/db/scale", {"replicas": 2}, expect=202, wait=False)
    async with stack.http() as client:
        assert (await client.delete(f"/v1/services/{service_id}")).status_code == 202
    await stack.wait_state(service_id, {"terminated"})
    async with stack.http() as client:
        ops = (await client.get(f"/v1/services/{service_id}/operations")).json()
    assert [(o["kind"], o["state"]) for o in ops] == [("deploy", "succeeded"), ("scale", "succeeded"),
                                                      ("terminate", "succeeded")]  # in that order
    assert stack.sim.leftovers(service_id) == {"hosts": 0, "clusters": 0, "workloads": 0, "connections": 0}


async def test_canary_on_a_full_gpu_cluster_grows_it_first(stack):
    service_id = await active(stack, example("video-analytics"))
    [inference] = await component_workloads(stack, service_id, "inference")
    nodes = set(stack.sim.cluster(inference.cluster).hosts)
    since = time.time()
    record = await operate(stack, service_id, "components/inference/upgrade", {
        "version": "2.2.0", "strategy": "canary", "canary": {"replicas": 1, "observe_seconds": 0}})
    assert record["state"] == "succeeded", record
    assert len(set(stack.sim.cluster(inference.cluster).hosts) - nodes) == 1  # one more GPU host
    assert stack.sim.serving(service_id, "inference", since).min_ready >= 1
    [inference] = await component_workloads(stack, service_id, "inference")
    assert inference.version == "2.2.0"
    await stack.remove(service_id)


async def test_teardown_outlasts_a_failing_drain_and_gives_every_grown_host_back(stack):
    """The nodes a day-2 operation added are drained on teardown; a drain failing for good for a
    while is retried like every undo, never skipped with its hosts left allocated."""
    service_id = await active(stack, example("video-analytics"))
    await operate(stack, service_id, "components/inference/upgrade", {
        "version": "2.2.0", "strategy": "canary", "canary": {"replicas": 1, "observe_seconds": 0}})
    stack.sim.set_fault("mcm.remove_nodes", permanent=True)
    async with stack.http() as client:
        assert (await client.delete(f"/v1/services/{service_id}")).status_code == 202
    await stack.wait_state(service_id, {"terminating"})
    await asyncio.sleep(3)  # several failed drains
    assert (await stack.wait_state(service_id, {"terminating", "terminated"}))["state"] == "terminating"
    stack.sim.clear_faults()
    svc = await stack.wait_state(service_id, {"terminated"})
    assert svc["error"] is None, svc["error"]
    stack.assert_nothing_left(service_id)


async def test_a_move_to_a_site_the_service_uses_joins_its_cluster_there(stack):
    """One cluster per service and site: freeing a site the service leaves depends on it."""
    service_id = await active(stack, example("5g-core-app"))
    [upf] = await component_workloads(stack, service_id, "upf")
    site = stack.sim.cluster(upf.cluster).site
    record = await operate(stack, service_id, "components/smf/move", {"site": site})
    assert record["state"] == "succeeded", record
    [smf] = await component_workloads(stack, service_id, "smf")
    assert smf.cluster == upf.cluster
    assert [c.id for c in await stack.adapters.mcm.list_clusters() if c.service_id == service_id and c.site == site] \
        == [upf.cluster]
    await stack.remove(service_id)


async def test_a_named_site_overrides_earlier_placement_rules(stack):
    service_id = await active(stack, example("video-analytics"))
    first = await operate(stack, service_id, "components/analytics/move", {"placement": {"tiers": ["regional"]}})
    assert first["state"] == "succeeded", first
    back = await operate(stack, service_id, "components/analytics/move", {"site": "paris-cloud"})
    assert back["state"] == "succeeded" and "→ paris-cloud" in back["detail"], back
    [analytics] = await component_workloads(stack, service_id, "analytics")
    assert analytics.cluster == "paris-cloud-k8s"
    # the regional site it left is given back entirely
    assert not [h for h in stack.sim.hosts() if h.site.endswith("-regional") and h.service_id == service_id]
