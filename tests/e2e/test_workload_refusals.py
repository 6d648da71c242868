"""What the API refuses of a workload before anything runs (a VM, a credential in plain env, hardware
the cluster's resources cannot express), and hardware that has run out failing at placement, on the
simulated continuum, through the HTTP API."""

from __future__ import annotations

MARKER = "s3cret-marker-4e1d"


def upf(name: str = "upf", **extra) -> dict:
    component = {"name": "upf", "image": "registry.example/upf", "version": "1.0", "replicas": 3, "cpu": 16,
                 "memory_mb": 16384, "features": ["dpdk", "sriov", "hugepages"],
                 "placement": {"sites": ["paris-far-edge-1"]}} | extra  # fmt: skip
    return {"name": name, "components": [component]}


async def test_vm_and_credentials_in_env_are_refused_naming_the_field(stack):
    async with stack.http() as client:
        vm = await client.post("/v1/services", json={"name": "v", "components": [
            {"name": "box", "image": "img", "kind": "vm"}]})
        assert vm.status_code == 422, vm.text
        assert "components.0.kind: VM workloads are not supported yet" in vm.json()["message"]
        leak = await client.post("/v1/services", json={"name": "l", "components": [
            {"name": "api", "image": "img", "env": {"LOG_LEVEL": "info", "DB_PASSWORD": MARKER}}]})
        assert leak.status_code == 422, leak.text
        message = leak.json()["message"]
        assert "components.0.env.DB_PASSWORD: DB_PASSWORD looks like a credential" in message
        assert "secret_env" in message and MARKER not in leak.text
        pinned = await client.post("/v1/services", json=upf(cpu=1.5))
        assert pinned.status_code == 422 and "components.0.cpu:" in pinned.json()["message"], pinned.text
        listed = await client.get("/v1/services")
    assert listed.json()["items"] == []  # nothing was started


async def test_secret_refs_are_kept_as_references_only(stack):
    spec = {"name": "shop", "components": [{"name": "api", "image": "img", "env": {"LOG_LEVEL": "info"},
            "secret_env": {"DB_PASSWORD": {"kubernetes": "shop-db", "key": "password"},
                           "API_KEY": {"vault": "shop/api", "key": "key"}}}]}  # fmt: skip
    service_id = await stack.deploy(spec)
    svc = await stack.wait_state(service_id, {"active"})
    async with stack.http() as client:
        record = (await client.get(f"/v1/services/{service_id}")).json()
    stored = record["spec"]["components"][0]["secret_env"] if "spec" in record else None
    assert stored in (None, {"DB_PASSWORD": {"kubernetes": "shop-db", "vault": None, "key": "password"},
                             "API_KEY": {"kubernetes": None, "vault": "shop/api", "key": "key"}}), stored
    assert svc["state"] == "active"


async def test_when_no_host_with_the_hardware_is_left_the_deployment_fails_at_placement(stack):
    first = await stack.deploy(upf("upf-a"))  # the three SR-IOV/DPDK/huge-pages hosts of the site, all
    assert (await stack.wait_state(first, {"active", "failed"}))["state"] == "active"
    second = await stack.deploy(upf("upf-b"))
    svc = await stack.wait_state(second, {"active", "failed"})
    assert svc["state"] == "failed", svc
    assert svc["error"].startswith("PlacementInfeasible: placement infeasible: component 'upf'"), svc["error"]
    assert "not enough free capacity with ['dpdk', 'hugepages', 'sriov']" in svc["error"], svc["error"]
    assert not await stack.sim_workloads(second)  # refused before anything reached a cluster
