"""The clusterapi MCM on the test bed, through the public API with the Redfish PIM allocating the
hosts: the real Cluster API managers build workload clusters on the hosts Legato hands them (through
the test bed's kwok infrastructure provider), the Kubernetes WDM deploys onto them with the
kubeconfig CAPI wrote, machines come and go with the MachineDeployment, an upgrade rolls the control
plane then each worker while a service runs, and a deleted service leaves no CAPI object and no host
held. The MCM's own calls, one by one, are the contract suite's (tests/contract, `clusterapi`)."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from kubernetes import client

from legato.adapters.mcm.clusterapi import CLUSTER_LABEL
from legato.adapters.wdm.tenancy import SERVICE, service_namespace
from legato.model import Host
from tests.contract.worlds import until
from tests.e2e.calls import active
from tests.real.capi_testbed import ManagementCluster, management_cluster, site_config
from tests.real.pod_history import PodHistory
from tests.real.test_real_continuum import powered_on
from tests.stack import running_stack

KINDS = [("clusters", "cluster.x-k8s.io", "v1beta2"), ("machines", "cluster.x-k8s.io", "v1beta2"),
         ("machinedeployments", "cluster.x-k8s.io", "v1beta2"), ("machinesets", "cluster.x-k8s.io", "v1beta2"),
         ("kubeadmcontrolplanes", "controlplane.cluster.x-k8s.io", "v1beta2"),
         ("kubeadmconfigs", "bootstrap.cluster.x-k8s.io", "v1beta2"),
         ("kubeadmconfigtemplates", "bootstrap.cluster.x-k8s.io", "v1beta2"),
         ("kwokclusters", "infrastructure.legato.test", "v1alpha1"),
         ("kwokmachines", "infrastructure.legato.test", "v1alpha1"),
         ("kwokmachinetemplates", "infrastructure.legato.test", "v1alpha1")]  # fmt: skip


@pytest.fixture(scope="module")
def capi(kube_bin, tmp_path_factory):
    mc = management_cluster(kube_bin, tmp_path_factory.mktemp("capi"), [])  # the API stack enrols its hosts
    yield mc
    mc.stop()


def hosts_of(capi: ManagementCluster) -> dict[str, tuple[str | None, str | None]]:
    """Each KwokHost: the cluster Legato labelled it for, the machine that claimed it."""
    return {h["metadata"]["name"]: (h["metadata"].get("labels", {}).get(CLUSTER_LABEL),
                                    (h.get("spec", {}).get("consumerRef") or {}).get("name"))
            for h in capi.objects("kwokhosts", "infrastructure.legato.test", "v1alpha1")}  # fmt: skip


def worker_nodes(capi: ManagementCluster, cluster_id: str) -> list[str]:
    machines = [m for m in capi.objects("machines") if m["metadata"]["labels"].get("cluster.x-k8s.io/cluster-name")
                == cluster_id and "cluster.x-k8s.io/control-plane" not in m["metadata"]["labels"]]  # fmt: skip
    return sorted(m.get("status", {}).get("nodeRef", {}).get("name", "") for m in machines)


# ---- through the public API: the Redfish PIM allocates, CAPI builds, the WDM deploys

API_SITES = {"capi-edge": ["cap-h1", "cap-h2"], "capi-pool": ["cpl-h1", "cpl-h2", "cpl-h3"]}
POOL = "capi-pool-k8s"  # the topology's (shared) cluster at capi-pool, built by CAPI when the stack starts


def api_topology(capi: ManagementCluster, emulator_url: str, credentials: str) -> dict:
    clusterapi = site_config(capi.kubeconfig, versions=["v1.34.4", "v1.35.4"]).model_dump()
    backend = {"pim": "redfish", "mcm": "clusterapi", "wdm": "kubernetes", "clusterapi": clusterapi,
               "redfish": {"endpoints": [emulator_url], "credentials": f"file:{credentials}"}}  # fmt: skip
    sites = [
        {"id": sid, "tier": "edge", "provider": "orange-fr", "region": "eu-west", "country": "FR", "lat": 48.9,
         "lon": 2.3 + i, "cost_per_vcpu_hour": 0.05, "backend": backend,
         "clusters": [{"id": POOL, "hosts": ["cpl-h1"]}] if sid == "capi-pool" else [],
         "hosts": [{"id": h, "cpu": 8, "memory_mb": 16384} for h in hosts]}
        for i, (sid, hosts) in enumerate(API_SITES.items())
    ]  # fmt: skip
    return {"areas": [{"id": "paris", "region": "eu-west", "lat": 48.86, "lon": 2.35}], "sites": sites}


@pytest.fixture(scope="module")
async def api_stack(capi: ManagementCluster, redfish_factory, temporal_server, tmp_path_factory):
    hosts = [h for hs in API_SITES.values() for h in hs]
    capi.enrol([Host(id=h, cpu=8, memory_mb=16384) for h in hosts])
    emulator = redfish_factory(hosts)
    work = tmp_path_factory.mktemp("capi-api")
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(api_topology(capi, emulator.url, str(emulator.credentials_file))))
    async with running_stack(work / "legato", temporal_server.address, topology=path) as stack:
        stack.emulator = emulator
        yield stack


async def _workers_are(capi: ManagementCluster, cluster_id: str, hosts: list[str]) -> bool:
    return worker_nodes(capi, cluster_id) == hosts


def capi_objects(capi: ManagementCluster, cluster_id: str) -> list[str]:
    """Every CAPI and provider object of the cluster, by kind and name."""
    return sorted(f"{plural}/{o['metadata']['name']}" for plural, group, version in KINDS
                  for o in capi.objects(plural, group, version)
                  if cluster_id in (o["metadata"]["name"], o["metadata"].get("labels", {}).get(
                      "cluster.x-k8s.io/cluster-name")))  # fmt: skip


async def test_a_service_gets_a_cluster_api_cluster_on_its_hosts_and_leaves_nothing(capi, api_stack):
    spec = {"name": "capi-shop", "components": [
        {"name": "web", "image": "nginx", "version": "1.27", "replicas": 2, "cpu": 1, "memory_mb": 256,
         "ports": [80], "placement": {"sites": ["capi-edge"]}}]}  # fmt: skip
    try:
        service_id = await active(api_stack, spec)
    except BaseException:
        print(capi.logs())
        raise
    async with api_stack.http() as http:
        (web,) = (await http.get(f"/v1/services/{service_id}")).json()["components"]
    cluster_id, held = web["cluster"], api_stack.inventory_hosts(service_id)
    assert web["site"] == "capi-edge" and held and held <= powered_on(api_stack.emulator)
    # CAPI built the cluster on exactly the hosts the PIM allocated: its worker machines' nodes are those hosts.
    assert worker_nodes(capi, cluster_id) == sorted(held)
    assert {h for h, (c, claimed) in hosts_of(capi).items() if c == cluster_id and claimed} == held
    # The workload runs there, ready, on those nodes.
    apps = client.AppsV1Api(await api_stack.adapters.mcm.api_client(cluster_id))
    deployment = await asyncio.to_thread(apps.read_namespaced_deployment, web["workload_id"],
                                         service_namespace(service_id))  # fmt: skip
    assert deployment.status.ready_replicas == 2

    await api_stack.remove(service_id)
    assert capi_objects(capi, cluster_id) == []
    assert all(c != cluster_id for c, _ in hosts_of(capi).values())
    assert not held & powered_on(api_stack.emulator) and api_stack.inventory_hosts(service_id) == set()


async def test_operator_scales_a_cluster_api_cluster_out_and_in(capi, api_stack):
    before = worker_nodes(capi, POOL)  # built by CAPI when the stack started, on cpl-h1
    assert "cpl-h1" in before
    async with api_stack.http("operator") as http:
        grown = await http.post(f"/v1/clusters/{POOL}/scale", json={"add": 1}, timeout=300)
    assert grown.status_code == 200, grown.text
    added = set(grown.json()["hosts"]) - set(before)
    assert len(added) == 1 and added <= powered_on(api_stack.emulator)
    assert worker_nodes(capi, POOL) == sorted({*before, *added})  # a machine per host, on that host
    (md,) = [d for d in capi.objects("machinedeployments") if d["metadata"]["name"] == f"{POOL}-workers"]
    assert md["spec"]["replicas"] == len(before) + 1

    async with api_stack.http("operator") as http:
        shrunk = await http.post(f"/v1/clusters/{POOL}/scale", json={"remove_hosts": sorted(added)}, timeout=300)
    assert shrunk.status_code == 200, shrunk.text
    assert worker_nodes(capi, POOL) == before
    assert all(hosts_of(capi)[h] == (None, None) for h in added)  # the host is free again, its machine gone
    assert not added & powered_on(api_stack.emulator)


@pytest.mark.timeout(600)  # a control plane and two workers replaced by CAPI, on a machine shared with other runs
async def test_upgrade_cluster_moves_a_cluster_api_cluster_one_minor_while_a_service_runs(capi, api_stack):
    """UpgradeCluster through the API on the CAPI-built cluster: the control plane (KCP) then each
    worker (drained, its machine replaced on the same host), the service's ready replicas never
    below what it asked for, the new version read from the cluster's /version and its nodes."""
    try:
        await _upgrade_under_a_service(capi, api_stack)
    except BaseException:
        print(capi.logs())
        raise


async def _upgrade_under_a_service(capi: ManagementCluster, api_stack) -> None:
    async with api_stack.http("operator") as http:
        grown = await http.post(f"/v1/clusters/{POOL}/scale", json={"add": 1}, timeout=300)
    assert grown.status_code == 200, grown.text
    workers = sorted(grown.json()["hosts"])
    spec = {"name": "capi-steady", "components": [
        {"name": "api", "image": "registry.example/api", "version": "1.0", "replicas": 2, "cpu": 0.5,
         "memory_mb": 128, "ports": [8080], "placement": {"sites": ["capi-pool"]}}]}  # fmt: skip
    service_id = await active(api_stack, spec)
    async with api_stack.http() as http:
        (comp,) = (await http.get(f"/v1/services/{service_id}")).json()["components"]
    assert comp["cluster"] == POOL

    # Continuity from the workload cluster's whole pod history (a watch that survives the control
    # plane's restart), not from samples that could miss a dip.
    core = client.CoreV1Api(await api_stack.adapters.mcm.api_client(POOL))
    with PodHistory(core, None, restarts_allowed=True) as history:
        async with api_stack.http("operator") as http:
            done = await http.post(f"/v1/clusters/{POOL}/upgrade", json={"version": "v1.35.4"},
                                   params={"wait": 900}, timeout=1100)  # fmt: skip
        assert done.status_code == 200 and done.json()["state"] == "done", done.text
    assert history.min_serving({SERVICE: service_id}) == 2
    assert len(history.pods_seen({SERVICE: service_id})) > 2  # its pods moved off each node before it went
    cluster = await api_stack.adapters.mcm.get_cluster(POOL)
    assert cluster.kubernetes_version == "v1.35.4" and cluster.node_versions == dict.fromkeys(workers, "v1.35.4")
    # the same hosts, their machines replaced: CAPI fills a new Machine's nodeRef on its next
    # reconcile, after the node itself answers with the new kubelet (what the roll waited for)
    await until(lambda: _workers_are(capi, POOL, workers), timeout=60)
    await api_stack.remove(service_id)
