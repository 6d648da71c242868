"""The kwok MCM and the Kubernetes WDM against real control planes (kube-apiserver, controller
manager, scheduler, etcd) whose nodes kwok simulates: Deployments roll out by the real controller."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from legato.adapters.errors import CapacityExhausted, InvalidRequest
from legato.adapters.kube import NAMESPACE
from legato.adapters.mcm.kubeconfig import KubeconfigMCM
from legato.adapters.mcm.kwok import KwokMCM
from legato.adapters.wdm import WorkloadSpec
from legato.adapters.wdm.kubernetes import KubernetesWDM
from legato.model import Cluster, Host, Site
from legato.model.backends import KubeconfigSite, SiteBackends
from tests.real.testbed import delete_every_cluster


def kwok_site(site_id: str, hosts: list[Host]) -> Site:
    return Site(id=site_id, tier="edge", provider="p", region="r", country="FR", lat=45, lon=5, cost_per_vcpu_hour=0.1,
                hosts=hosts, backend=SiteBackends(mcm="kwok", wdm="kubernetes"))  # fmt: skip


HOSTS = [Host(id="k1-h1", cpu=4, memory_mb=8192), Host(id="k1-h2", cpu=4, memory_mb=8192),
         Host(id="k1-h3", cpu=4, memory_mb=8192, features=["sriov"])]  # fmt: skip


@pytest.fixture(scope="module")
async def kwok(kube_bin, tmp_path_factory):
    mcm = KwokMCM([kwok_site("edge-k1", HOSTS)], kube_bin, tmp_path_factory.mktemp("kwok"))
    yield mcm
    await delete_every_cluster(mcm)


@pytest.fixture(scope="module")
async def cluster(kwok) -> Cluster:
    return await kwok.create_cluster("op-create-k1", "k1", "edge-k1", ["k1-h1", "k1-h2"], owner="svc-k")


def spec(name: str, replicas: int, version: str = "1.0", **extra) -> WorkloadSpec:
    return WorkloadSpec(id=f"{name}-0001", service_id="svc-k", tenant="alpha", component=name, image="registry/app",
                        version=version, replicas=replicas, cpu=0.5, memory_mb=256, ports=[8080], **extra)  # fmt: skip


async def until(check, timeout: float = 60, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        if result := await check():
            return result
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(every)


async def apis(kwok: KwokMCM, cluster_id: str) -> tuple[client.AppsV1Api, client.CoreV1Api]:
    api = await kwok.api_client(cluster_id)
    return client.AppsV1Api(api), client.CoreV1Api(api)


async def test_create_cluster_registers_nodes_sized_and_labelled_like_the_hosts(kwok, cluster):
    got = (cluster.id, cluster.site, cluster.hosts, cluster.service_id)
    assert got == ("k1", "edge-k1", ["k1-h1", "k1-h2"], "svc-k")
    again = await kwok.create_cluster("op-create-k1", "k1", "edge-k1", ["k1-h1", "k1-h2"], owner="svc-k")
    assert again == cluster  # a retry changes nothing
    _, core = await apis(kwok, "k1")
    node = await asyncio.to_thread(core.read_node, "k1-h1")
    assert node.status.allocatable["cpu"] == "4" and node.metadata.labels["legato.io/site"] == "edge-k1"
    await until(lambda: asyncio.to_thread(lambda: any(
        c.type == "Ready" and c.status == "True" for c in core.read_node("k1-h1").status.conditions or [])))
    assert [c.id for c in await kwok.list_clusters("edge-k1")] == ["k1"]
    with pytest.raises(InvalidRequest, match="already exists"):
        await kwok.create_cluster("op-other", "k1", "edge-k1", ["k1-h3"], owner="svc-other")


async def test_deploy_scale_upgrade_and_remove_on_real_deployments(kwok, cluster):
    wdm = KubernetesWDM(kwok)
    apps, core = await apis(kwok, "k1")
    first = await wdm.deploy("op-d1", "k1", spec("api", 2))
    assert first.replicas == 2 and first.endpoint and first.endpoint.endswith(":8080")
    ready = await until(lambda: _ready(wdm, "api-0001"))
    assert ready.ready_replicas == 2 and ready.version == "1.0"
    d = await asyncio.to_thread(apps.read_namespaced_deployment, "api-0001", NAMESPACE)
    assert d.metadata.labels["legato.io/service"] == "svc-k" and d.metadata.labels["legato.io/tenant"] == "alpha"
    assert d.spec.template.spec.containers[0].image == "registry/app:1.0"
    assert d.spec.template.spec.containers[0].resources.requests == {"cpu": "500m", "memory": "256Mi"}
    assert d.spec.strategy.rolling_update.max_unavailable == 0
    generation = d.metadata.generation
    await wdm.deploy("op-d1", "k1", spec("api", 2))  # the same apply again: nothing changes
    d = await asyncio.to_thread(apps.read_namespaced_deployment, "api-0001", NAMESPACE)
    assert d.metadata.generation == generation

    await wdm.scale("op-s1", "k1", "api-0001", 4)
    assert (await until(lambda: _ready(wdm, "api-0001"))).ready_replicas == 4

    # Rolling upgrade by the real Deployment controller: availability never drops below 4.
    await wdm.upgrade("op-u1", "k1", "api-0001", "registry/app", "1.1")
    lowest = 4
    async def done():
        nonlocal lowest
        d = await asyncio.to_thread(apps.read_namespaced_deployment, "api-0001", NAMESPACE)
        lowest = min(lowest, d.status.available_replicas or 0)
        return await _ready(wdm, "api-0001")
    final = await until(done, every=0.05)
    assert final.version == "1.1" and final.ready_replicas == 4 and lowest >= 4
    pods = await asyncio.to_thread(core.list_namespaced_pod, NAMESPACE, label_selector="legato.io/workload=api-0001")
    live = [p for p in pods.items if p.metadata.deletion_timestamp is None]
    assert {p.spec.containers[0].image for p in live} == {"registry/app:1.1"}

    # A workload someone else made in the namespace is never touched by remove.
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "api-0001", "namespace": NAMESPACE}}
    await asyncio.to_thread(core.create_namespaced_config_map, NAMESPACE, foreign)
    await wdm.remove("op-r1", "k1", "api-0001")
    await wdm.remove("op-r1", "k1", "api-0001")  # idempotent
    assert await wdm.status("k1", "api-0001") is None
    await until(lambda: _no_pods(core, "api-0001"))
    assert (await asyncio.to_thread(core.read_namespaced_config_map, "api-0001", NAMESPACE)).metadata.name


async def test_feature_selectors_and_draining_nodes(kwok, cluster):
    wdm = KubernetesWDM(kwok)
    _, core = await apis(kwok, "k1")
    await wdm.deploy("op-f1", "k1", spec("upf", 1, features=["sriov"]))
    await asyncio.sleep(2)
    assert (await wdm.status("k1", "upf-0001")).ready_replicas == 0  # no sriov node yet
    grown = await kwok.add_nodes("op-add", "k1", ["k1-h3"])
    assert grown.hosts == ["k1-h1", "k1-h2", "k1-h3"]
    await until(lambda: _ready(wdm, "upf-0001"))
    pods = await asyncio.to_thread(core.list_namespaced_pod, NAMESPACE, label_selector="legato.io/workload=upf-0001")
    assert {p.spec.node_name for p in pods.items} == {"k1-h3"}

    # The sriov pod has nowhere else to go: removing its node is refused, nothing changes.
    with pytest.raises(CapacityExhausted, match="cannot remove nodes"):
        await kwok.remove_nodes("op-rm-bad", "k1", ["k1-h3"])
    assert not (await asyncio.to_thread(core.read_node, "k1-h3")).spec.unschedulable
    await wdm.remove("op-fr", "k1", "upf-0001")

    # A plain workload moves off a drained node; the node object goes.
    await wdm.deploy("op-w1", "k1", spec("web", 3))
    await until(lambda: _ready(wdm, "web-0001"))
    shrunk = await kwok.remove_nodes("op-rm", "k1", ["k1-h1"])
    assert shrunk.hosts == ["k1-h2", "k1-h3"]
    await until(lambda: _ready(wdm, "web-0001"))
    pods = await asyncio.to_thread(core.list_namespaced_pod, NAMESPACE, label_selector="legato.io/workload=web-0001")
    assert "k1-h1" not in {p.spec.node_name for p in pods.items}
    await wdm.remove("op-wr", "k1", "web-0001")


async def test_kubeconfig_mcm_deploys_on_a_registered_cluster_and_refuses_node_changes(kwok, cluster, tmp_path):
    kubeconfig = yaml.safe_load(kwok._kubeconfig("k1").read_text())
    kubeconfig["contexts"][0]["name"] = "operator-edge"
    kubeconfig["current-context"] = "operator-edge"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    site = kwok_site("edge-reg", [Host(id="reg-h1", cpu=4, memory_mb=8192)]).model_copy(update={
        "clusters": [Cluster(id="registered", hosts=["reg-h1"])],
        "backend": SiteBackends(mcm="kubeconfig", wdm="kubernetes",
                                kubeconfig=KubeconfigSite(path=str(path), contexts={"registered": "operator-edge"}))})
    mcm = KubeconfigMCM([site])
    wdm = KubernetesWDM(mcm)
    await wdm.deploy("op-reg", "registered", spec("reg", 1))
    assert (await until(lambda: _ready(wdm, "reg-0001", "registered"))).ready_replicas == 1
    assert [w.id for w in await wdm.list_workloads()] == ["reg-0001"]
    await wdm.remove("op-reg-rm", "registered", "reg-0001")
    with pytest.raises(InvalidRequest, match="registered by kubeconfig, so Legato cannot create clusters"):
        await mcm.add_nodes("op-n", "registered", ["reg-h1"])
    with pytest.raises(InvalidRequest, match="registered by kubeconfig"):
        await mcm.create_cluster("op-c", "another", "edge-reg", ["reg-h1"], owner="svc")


async def test_delete_cluster_stops_the_control_plane(kwok, kube_bin, tmp_path):
    other = KwokMCM([kwok_site("edge-k2", [Host(id="k2-h1", cpu=2, memory_mb=4096)])], kube_bin, tmp_path / "kwok")
    await other.create_cluster("op-c2", "k2", "edge-k2", ["k2-h1"], owner="svc-2")
    pid_dir: Path = tmp_path / "kwok" / "clusters" / "k2" / "pids"
    pids = [int(p.read_text()) for p in pid_dir.glob("*.pid")]
    assert pids
    await other.delete_cluster("op-d2", "k2")
    await other.delete_cluster("op-d2", "k2")  # idempotent
    assert await other.list_clusters() == [] and not (tmp_path / "kwok" / "clusters" / "k2").exists()
    await until(lambda: _all_gone(pids), timeout=30)


async def _ready(wdm, workload_id: str, cluster_id: str = "k1"):
    status = await wdm.status(cluster_id, workload_id)
    return status if status and status.ready else None


async def _no_pods(core, workload_id: str) -> bool:
    selector = f"legato.io/workload={workload_id}"
    return not (await asyncio.to_thread(core.list_namespaced_pod, NAMESPACE, label_selector=selector)).items


async def _all_gone(pids: list[int]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)
