"""Legato end to end on real infrastructure: three sites whose hosts are Redfish systems (the
sushy-tools emulator) and whose clusters are real Kubernetes control planes with kwok nodes.
DeployService, scale, rolling upgrade, move, ScaleCluster and a rollback, all through the API and
Temporal; the clusters and the BMCs are checked directly."""

from __future__ import annotations

import asyncio
import time

import pytest
import sushy
import yaml
from kubernetes import client

from legato.adapters.wdm.tenancy import service_namespace
from tests.e2e.calls import active, operate
from tests.real.redfish_emulator import PASSWORD, USER
from tests.real.testbed import delete_every_cluster
from tests.stack import running_stack

SITES = {
    "paris-edge": {"tier": "edge", "lat": 48.92, "lon": 2.36, "hosts": ["par-h1", "par-h2", "par-h3"],
                   "clusters": [{"id": "paris-edge-k8s", "hosts": ["par-h1"]}]},
    "lyon-edge": {"tier": "edge", "lat": 45.75, "lon": 4.85, "hosts": ["lyo-h1", "lyo-h2"]},
    "lyon-regional": {"tier": "regional", "lat": 45.73, "lon": 4.83, "hosts": ["lyr-h1", "lyr-h2"]},
}  # fmt: skip
HOSTS = [h for s in SITES.values() for h in s["hosts"]]


def topology(emulator_url: str, credentials: str) -> dict:
    backend = {"pim": "redfish", "mcm": "kwok", "wdm": "kubernetes",
               "redfish": {"endpoints": [emulator_url], "credentials": f"file:{credentials}"}}  # fmt: skip
    sites = [
        {"id": sid, "tier": s["tier"], "provider": "orange-fr", "region": "eu-west", "country": "FR", "lat": s["lat"],
         "lon": s["lon"], "cost_per_vcpu_hour": 0.05, "backend": backend, "clusters": s.get("clusters", []),
         "hosts": [{"id": h, "cpu": 8, "memory_mb": 16384, "features": ["sriov"]} for h in s["hosts"]]}
        for sid, s in SITES.items()
    ]  # fmt: skip
    areas = [{"id": "paris-center", "region": "eu-west", "lat": 48.86, "lon": 2.35},
             {"id": "lyon", "region": "eu-west", "lat": 45.76, "lon": 4.84}]  # fmt: skip
    return {"areas": areas, "sites": sites}


def shop(name: str = "shop") -> dict:
    return {
        "name": name,
        "components": [
            {"name": "frontend", "image": "nginx", "version": "1.27", "replicas": 2, "cpu": 0.5, "memory_mb": 256,
             "ports": [80], "placement": {"sites": ["paris-edge"]}},
            {"name": "api", "image": "registry.example/api", "version": "1.0", "replicas": 2, "cpu": 1,
             "memory_mb": 1024, "ports": [8080], "placement": {"sites": ["lyon-regional"]}},
        ],
        "links": [{"from": "frontend", "to": "api", "bandwidth_mbps": 10, "max_latency_ms": 50}],
        "user_areas": [{"area": "paris-center", "component": "frontend", "max_latency_ms": 20}],
    }  # fmt: skip


@pytest.fixture(scope="module")
async def real(kube_bin, redfish_factory, temporal_server, tmp_path_factory):
    emulator = redfish_factory(HOSTS)
    work = tmp_path_factory.mktemp("real-continuum")
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(topology(emulator.url, str(emulator.credentials_file))))
    async with running_stack(work / "legato", temporal_server.address, topology=path, testbed_bin=kube_bin) as stack:
        stack.emulator = emulator
        yield stack
        await delete_every_cluster(stack.adapters.mcm.backends.of("paris-edge"))


def powered_on(emulator) -> set[str]:
    conn = sushy.Sushy(emulator.url, auth=sushy.auth.BasicAuth(USER, PASSWORD))
    return {s.name for s in conn.get_system_collection().get_members() if s.power_state == sushy.PowerState.ON}


async def kube(stack, cluster_id: str) -> tuple[client.AppsV1Api, client.CoreV1Api]:
    api = await stack.adapters.mcm.api_client(cluster_id)
    return client.AppsV1Api(api), client.CoreV1Api(api)


async def legato_objects(stack) -> dict[str, list[str]]:
    """Every Deployment, Service and Pod Legato owns, in every cluster that exists."""
    found: dict[str, list[str]] = {}
    for cluster_id in await stack.adapters.mcm.kube_cluster_ids():
        apps, core = await kube(stack, cluster_id)
        sel = "app.kubernetes.io/managed-by=legato"
        objs = [*(await asyncio.to_thread(apps.list_deployment_for_all_namespaces, label_selector=sel)).items,
                *(await asyncio.to_thread(core.list_service_for_all_namespaces, label_selector=sel)).items,
                *(await asyncio.to_thread(core.list_pod_for_all_namespaces, label_selector=sel)).items,
                *(await asyncio.to_thread(core.list_namespace, label_selector=sel)).items]  # fmt: skip
        if objs:
            found[cluster_id] = sorted(o.metadata.name for o in objs)
    return found


async def until_clean(stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (left := await legato_objects(stack)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert not left, f"Legato objects left behind: {left}"


async def components(stack, service_id: str) -> dict[str, dict]:
    async with stack.http() as http:
        return {c["name"]: c for c in (await http.get(f"/v1/services/{service_id}")).json()["components"]}


async def test_deploy_day2_and_remove_on_real_clusters_and_bmcs(real):
    service_id = await active(real, shop())
    comps = await components(real, service_id)
    assert comps["frontend"]["site"] == "paris-edge" and comps["api"]["site"] == "lyon-regional"
    held = real.inventory_hosts(service_id)
    assert held and held <= powered_on(real.emulator)  # the service's own cluster hosts, powered on
    apps, core = await kube(real, comps["api"]["cluster"])
    NS = service_namespace(service_id)  # noqa: N806
    api = await asyncio.to_thread(apps.read_namespaced_deployment, comps["api"]["workload_id"], NS)
    assert api.status.available_replicas == 2 and api.metadata.labels["legato.io/service"] == service_id
    svc = await asyncio.to_thread(core.read_namespaced_service, comps["api"]["workload_id"], NS)
    # Published (a link's target) by NodePort, at the node's address (kwok's nodes have a hostname only).
    assert svc.spec.type == "NodePort" and comps["api"]["endpoint"] == f"localhost:{svc.spec.ports[0].node_port}"

    record = await operate(real, service_id, "components/api/scale", {"replicas": 4})
    assert record["state"] == "succeeded", record
    api = await asyncio.to_thread(apps.read_namespaced_deployment, comps["api"]["workload_id"], NS)
    assert api.status.available_replicas == 4

    # Rolling upgrade by the Deployment controller, sampled while it runs.
    samples: list[int] = []
    async def sample():
        while True:
            d = await asyncio.to_thread(apps.read_namespaced_deployment, comps["api"]["workload_id"], NS)
            samples.append(d.status.available_replicas or 0)
            await asyncio.sleep(0.05)
    sampler = asyncio.create_task(sample())
    record = await operate(real, service_id, "components/api/upgrade", {"version": "1.1"})
    sampler.cancel()
    assert record["state"] == "succeeded", record
    assert samples and min(samples) >= 4, samples
    d = await asyncio.to_thread(apps.read_namespaced_deployment, comps["api"]["workload_id"], NS)
    assert d.spec.template.spec.containers[0].image == "registry.example/api:1.1"

    # Move make-before-break: the frontend keeps ready replicas somewhere all along.
    ready: list[int] = []
    async def serving():
        while True:
            total = 0
            for w in await real.adapters.wdm.list_workloads():
                if w.service_id == service_id and w.component == "frontend":
                    total += w.ready_replicas
            ready.append(total)
            await asyncio.sleep(0.1)
    watcher = asyncio.create_task(serving())
    record = await operate(real, service_id, "components/frontend/move", {"site": "lyon-edge"})
    watcher.cancel()
    assert record["state"] == "succeeded", record
    assert ready and min(ready) >= 2, ready
    moved = (await components(real, service_id))["frontend"]
    assert moved["site"] == "lyon-edge"
    frontends = [w for w in await real.adapters.wdm.list_workloads() if w.component == "frontend"]
    assert [w.cluster for w in frontends] == [moved["cluster"]]  # the source was removed

    await real.remove(service_id)
    await until_clean(real)
    assert await real.adapters.mcm.kube_cluster_ids() == ["paris-edge-k8s"]  # the service's clusters are gone
    assert powered_on(real.emulator) == set() and real.adapters.pim.backends.of("paris-edge").ledger.holds() == {}


async def test_a_failure_in_the_middle_rolls_back_every_cluster_object_and_host(real):
    real.sim.set_fault("tcm.connect", permanent=True)  # after hosts, clusters and workloads are real
    try:
        service_id = await real.deploy(shop("doomed"))
        svc = await real.wait_state(service_id, {"active", "failed"}, timeout=240)
    finally:
        real.sim.clear_faults()
    assert svc["state"] == "failed", svc
    await until_clean(real)
    assert await real.adapters.mcm.kube_cluster_ids() == ["paris-edge-k8s"]
    assert powered_on(real.emulator) == set()
    assert real.inventory_hosts(service_id) == set()


async def test_operator_scales_a_shared_kwok_cluster_with_redfish_hosts(real):
    cluster = "paris-edge-k8s"
    async with real.http("operator") as http:
        grown = await http.post(f"/v1/clusters/{cluster}/scale", json={"add": 1}, timeout=180)
    assert grown.status_code == 200, grown.text
    added = set(grown.json()["hosts"]) - {"par-h1"}
    assert len(added) == 1 and added <= powered_on(real.emulator)
    _, core = await kube(real, cluster)
    nodes = {n.metadata.name for n in (await asyncio.to_thread(core.list_node)).items}
    assert nodes == {"par-h1"} | added

    async with real.http("operator") as http:
        shrunk = await http.post(f"/v1/clusters/{cluster}/scale", json={"remove_hosts": sorted(added)}, timeout=180)
    assert shrunk.status_code == 200, shrunk.text
    nodes = {n.metadata.name for n in (await asyncio.to_thread(core.list_node)).items}
    assert nodes == {"par-h1"} and powered_on(real.emulator) == set()
