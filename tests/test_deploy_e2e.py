"""DeployService through the real API, on the real Temporal server, to `active` — and back."""

import yaml

from tests.stack import EXAMPLES


def example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


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

    # Every step ended done; progress is visible per step.
    assert svc["steps"] and all(s["state"] == "done" for s in svc["steps"])

    async with stack.http() as client:
        resp = await client.delete(f"/v1/services/{service_id}")
        assert resp.status_code == 202, resp.text
    await stack.wait_state(service_id, {"terminated"})
    assert stack.sim.leftovers(service_id) == {k: 0 for k in stack.sim.leftovers(service_id)}
    assert stack.inventory_hosts(service_id) == set()
