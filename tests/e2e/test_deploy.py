"""DeployService through the real API, on the real Temporal server, to `active` — and back."""

import pytest

from tests.specs import example, scale_path_spec


async def test_video_analytics_deploys_to_active_and_inventory_matches_sim(stack):
    service_id = await stack.deploy(example("video-analytics"))
    svc = await stack.wait_state(service_id, {"active", "failed"})
    assert svc["state"] == "active", svc.get("error")

    # Every component runs, on the site the placement chose, and is ready in the simulator.
    placed = {p["component"]: p for p in svc["placement"]["components"]}
    assert set(placed) == {"ingest", "inference", "analytics"}
    sim_workloads = {w.component: w for w in await stack.sim_workloads(service_id)}
    for comp in svc["components"]:
        assert comp["site"] == placed[comp["name"]]["site"]
        sim = sim_workloads[comp["name"]]
        assert sim.cluster == comp["cluster"] and sim.ready and sim.replicas == comp["replicas"]
    assert {e["component"] for e in svc["endpoints"]} == set(placed)
    assert all(e["address"] for e in svc["endpoints"])

    # Links and user QoS exist in the TCM, and the inventory agrees.
    spec = example("video-analytics")
    connections = await stack.sim_connections(service_id)
    assert len(connections) == len(spec["links"]) + len(spec["user_areas"]) == len(svc["connections"])

    # Hosts the inventory says the service holds are the ones the PIM says it holds.
    assert stack.inventory_hosts(service_id) == await stack.sim_hosts(service_id)

    # Every step ended done; the operations log has them in order.
    assert svc["steps"] and all(s["state"] == "done" for s in svc["steps"])
    assert [op.step for op in stack.inventory.operations(service_id)][:1]

    async with stack.http() as client:
        resp = await client.delete(f"/v1/services/{service_id}")
        assert resp.status_code == 202, resp.text
        await stack.wait_state(service_id, {"terminated"})
        again = await client.delete(f"/v1/services/{service_id}")
        assert again.status_code == 409
    stack.assert_nothing_left(service_id)


async def test_scale_path_grows_shared_cluster_and_gives_hosts_back(stack):
    service_id = await stack.deploy(scale_path_spec())
    svc = await stack.wait_state(service_id, {"active", "failed"})
    assert svc["state"] == "active", svc.get("error")
    plan = svc["placement"]["sites"][0]
    assert plan["action"] == "scale" and plan["add_hosts"]
    cluster = stack.sim.cluster(plan["cluster"])
    assert set(plan["add_hosts"]) <= set(cluster.hosts)

    async with stack.http() as client:
        assert (await client.delete(f"/v1/services/{service_id}")).status_code == 202
    await stack.wait_state(service_id, {"terminated"})
    stack.assert_nothing_left(service_id)
    # The shared cluster is back to its own nodes, and still exists.
    assert not set(plan["add_hosts"]) & set(stack.sim.cluster(plan["cluster"]).hosts)


FAILING_STEPS = [
    ("pim.allocate", "video-analytics", "allocate-hosts"),
    ("mcm.create_cluster", "video-analytics", "create-cluster"),
    ("mcm.add_nodes", "scale", "scale-cluster"),
    ("wdm.deploy", "video-analytics", "deploy@"),
    ("wdm.status", "video-analytics", "ready@"),
    ("tcm.connect", "video-analytics", "link@"),
    ("tcm.set_qos", "video-analytics", "user-qos@"),
]


@pytest.mark.parametrize(("kind", "spec_name", "step"), FAILING_STEPS, ids=[k for k, _, _ in FAILING_STEPS])
async def test_permanent_failure_at_any_step_rolls_back_without_leaks(stack, kind, spec_name, step):
    stack.sim.set_fault(kind, permanent=True)
    if kind == "wdm.status":
        stack.sim.set_ready_delay(0.5)  # workloads ready at once skip the wait (and this step)
    spec = scale_path_spec() if spec_name == "scale" else example(spec_name)
    service_id = await stack.deploy(spec)
    svc = await stack.wait_state(service_id, {"active", "failed"})
    assert svc["state"] == "failed"
    assert f"injected permanent failure on {kind}" in svc["error"]
    failed = [s for s in svc["steps"] if s["state"] == "failed"]
    assert failed and failed[0]["name"].startswith(step), svc["steps"]
    # Every step that ran (or was about to) was undone, newest first, and each undo succeeded.
    steps = {s["name"]: s["state"] for s in svc["steps"]}
    for name, state in steps.items():
        if name.startswith("undo "):
            assert state == "compensated", svc["steps"]
        elif name != "place" and not name.startswith(("ready@", "reuse-cluster@")):
            assert steps.get(f"undo {name}") == "compensated", (name, svc["steps"])
    stack.assert_nothing_left(service_id)
    assert stack.inventory.service(service_id).state == "failed"


async def test_transient_faults_everywhere_still_end_active_without_duplicates(stack):
    from legato.simulator import KINDS

    for kind in KINDS:
        stack.sim.set_fault(kind, transient_rate=0.3)
    ids = [await stack.deploy(example("video-analytics")), await stack.deploy(example("web-shop"))]
    for service_id in ids:
        svc = await stack.wait_state(service_id, {"active", "failed"}, timeout=240)
        assert svc["state"] == "active", svc.get("error")
        assert stack.inventory_hosts(service_id) == await stack.sim_hosts(service_id)
    assert stack.sim.duplicate_allocations() == 0
    stack.sim.clear_faults()
    for service_id in ids:
        async with stack.http() as client:
            assert (await client.delete(f"/v1/services/{service_id}")).status_code == 202
        await stack.wait_state(service_id, {"terminated"})
        stack.assert_nothing_left(service_id)


async def test_deferred_deployment_waits_for_not_before(stack):
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) + timedelta(seconds=4)
    service_id = await stack.deploy({**example("web-shop"), "not_before": start.isoformat()})
    assert (await stack.wait_state(service_id, {"scheduled"}))["state"] == "scheduled"
    assert await stack.sim_workloads(service_id) == []
    await stack.wait_state(service_id, {"active"})
    assert datetime.now(UTC) >= start
