"""POST /v1/clusters/{id}/scale: operators grow and shrink shared clusters; draining is safe."""

from tests.e2e.calls import active, operate
from tests.specs import scale_path_spec

CLUSTER = "paris-cloud-k8s"


async def scale(stack, body: dict, tenant: str = "operator"):
    async with stack.http(tenant) as client:
        return await client.post(f"/v1/clusters/{CLUSTER}/scale", json=body, timeout=120)


async def test_operator_grows_then_shrinks_a_shared_cluster(stack):
    before = set(stack.sim.cluster(CLUSTER).hosts)
    grown = await scale(stack, {"add": 2})
    assert grown.status_code == 200, grown.text
    added = set(grown.json()["hosts"]) - before
    assert len(added) == 2 and set(stack.sim.cluster(CLUSTER).hosts) == before | added
    assert {h.id for h in stack.sim.hosts("paris-cloud") if h.state == "allocated"} >= added

    shrunk = await scale(stack, {"remove_hosts": sorted(added)})
    assert shrunk.status_code == 200, shrunk.text
    assert set(stack.sim.cluster(CLUSTER).hosts) == before
    assert all(h.state == "free" for h in stack.sim.hosts("paris-cloud") if h.id in added)
    rows, _ = stack.inventory.hosts(site="paris-cloud")
    assert all(r.state == "free" and r.cluster is None for r in rows if r.id in added)


async def test_shrinking_below_what_the_workloads_need_is_refused(stack):
    grown = await scale(stack, {"add": 1})
    assert grown.status_code == 200, grown.text
    service_id = await active(stack, scale_path_spec())  # 10 x 30 vCPU: two per node, the added one too
    nodes = set(stack.sim.cluster(CLUSTER).hosts)
    extra = sorted(h for h in nodes if h not in {"par-c-h01", "par-c-h02", "par-c-h03", "par-c-h04"})
    refused = await scale(stack, {"remove_hosts": extra})
    assert refused.status_code == 409 and "not scaled" in refused.text, refused.text
    assert set(stack.sim.cluster(CLUSTER).hosts) == nodes  # nothing drained, nothing released
    [batch] = [w for w in await stack.sim_workloads(service_id)]
    assert batch.ready

    # A node a service added is the service's to give back, not the operator's to take.
    record = await operate(stack, service_id, "components/batch/scale", {"replicas": 12})
    assert record["state"] == "succeeded", record
    added = sorted(await stack.sim_hosts(service_id))
    assert added
    refused = await scale(stack, {"remove_hosts": added})
    assert refused.status_code == 409 and "added for service" in refused.text, refused.text


async def test_cluster_scaling_is_guarded(stack):
    assert (await scale(stack, {"add": 1}, tenant="alpha")).status_code == 403
    topology_node = sorted(stack.sim.cluster(CLUSTER).hosts)[0]
    resp = await scale(stack, {"remove_hosts": [topology_node]})
    assert resp.status_code == 409 and "not allocated by Legato" in resp.text
    resp = await scale(stack, {"add": 1000})
    assert resp.status_code == 422 and "add" in resp.text
    async with stack.http("operator") as client:
        assert (await client.post("/v1/clusters/nope/scale", json={"add": 1})).status_code == 404
