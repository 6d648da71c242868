"""The kwok MCM and the Kubernetes WDM against real control planes (kube-apiserver, controller
manager, scheduler, etcd) whose nodes kwok simulates: Deployments roll out by the real controller."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from legato.adapters.errors import CapacityExhausted, InvalidRequest, TransientFault
from legato.adapters.mcm.kubeconfig import KubeconfigMCM
from legato.adapters.mcm.kwok import KwokMCM
from legato.adapters.mcm.nodes import CORDONED, DRAINING
from legato.adapters.wdm.kubernetes import WORKLOAD, KubernetesWDM
from legato.adapters.wdm.tenancy import service_namespace
from legato.model import Cluster, Host, Site
from legato.model.backends import KubeconfigSite, SiteBackends
from legato.model.clusters import DrainResult
from legato.model.workloads import WorkloadSpec
from tests.real.pod_history import PodHistory
from tests.real.testbed import delete_every_cluster
from tests.real.waiting import until


def kwok_site(site_id: str, hosts: list[Host]) -> Site:
    return Site(id=site_id, tier="edge", provider="p", region="r", country="FR", lat=45, lon=5, cost_per_vcpu_hour=0.1,
                hosts=hosts, backend=SiteBackends(mcm="kwok", wdm="kubernetes"))  # fmt: skip


HOSTS = [Host(id="k1-h1", cpu=4, memory_mb=8192), Host(id="k1-h2", cpu=4, memory_mb=8192),
         Host(id="k1-h3", cpu=4, memory_mb=8192, features=["sriov"])]  # fmt: skip
NAMESPACE = service_namespace("svc-k")  # every workload here is service svc-k's, in its namespace
# The drain tests' own cluster: small nodes (four pods of 0.5 CPU each), so room runs out on purpose.
DRAIN_HOSTS = [Host(id=f"kd-h{i}", cpu=2, memory_mb=4096) for i in range(1, 6)]


@pytest.fixture(scope="module")
async def kwok(kube_bin, tmp_path_factory):
    mcm = KwokMCM([kwok_site("edge-k1", HOSTS + DRAIN_HOSTS)], kube_bin, tmp_path_factory.mktemp("kwok"))
    yield mcm
    await delete_every_cluster(mcm)


@pytest.fixture(scope="module")
async def cluster(kwok) -> Cluster:
    return await kwok.create_cluster("op-create-k1", "k1", "edge-k1", ["k1-h1", "k1-h2"], owner="svc-k")


@pytest.fixture(scope="module")
async def drain_cluster(kwok) -> str:
    """A cluster of its own for the drain tests, whose small nodes run out of room on purpose."""
    await kwok.create_cluster("op-create-kd", "kd", "edge-k1", ["kd-h1", "kd-h2", "kd-h3"], owner="svc-k")
    _, core = await apis(kwok, "kd")
    await until(lambda: _nodes_ready(core, ["kd-h1", "kd-h2", "kd-h3"]))
    return "kd"


def spec(name: str, replicas: int, version: str = "1.0", **extra) -> WorkloadSpec:
    fields = {"cpu": 0.5, "memory_mb": 256, "ports": [8080]} | extra
    return WorkloadSpec(id=f"{name}-0001", service_id="svc-k", tenant="alpha", component=name, image="registry/app",
                        version=version, replicas=replicas, **fields)  # fmt: skip


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

    # An object of the same name someone else made outside the service's namespace is never touched
    # by remove; the service's namespace goes with its last workload.
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "api-0001", "namespace": "default"}}
    await asyncio.to_thread(core.create_namespaced_config_map, "default", foreign)
    await wdm.remove("op-r1", "k1", "api-0001")
    await wdm.remove("op-r1", "k1", "api-0001")  # idempotent
    assert await wdm.status("k1", "api-0001") is None
    await until(lambda: _no_pods(core, "api-0001"))
    assert (await asyncio.to_thread(core.read_namespaced_config_map, "api-0001", "default")).metadata.name
    await until(lambda: _namespace_going(core))


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
        await kwok.drain_nodes("op-rm-bad", "k1", ["k1-h3"], partial=False)
    assert not (await asyncio.to_thread(core.read_node, "k1-h3")).spec.unschedulable
    await wdm.remove("op-fr", "k1", "upf-0001")

    # A plain workload moves off a drained node; the node object goes.
    await wdm.deploy("op-w1", "k1", spec("web", 3))
    await until(lambda: _ready(wdm, "web-0001"))
    assert (await kwok.drain_nodes("op-rm", "k1", ["k1-h1"], partial=False)).draining == ["k1-h1"]
    await until(lambda: _drained(kwok, "k1", ["k1-h1"]))
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
    core = client.CoreV1Api(await mcm.api_client("registered"))
    await until(lambda: _no_pods(core, "web-0001"))  # the last test's, on their way out
    # Counting what nodes hold is only a read, so the kubeconfig MCM answers it from the cluster.
    held = await mcm.busy_nodes("registered", ["k1-h2", "k1-h3", "not-a-node"])
    assert sum(held.values()) == 1 and held["not-a-node"] == 0  # the one replica of reg
    await wdm.remove("op-reg-rm", "registered", "reg-0001")
    await until(lambda: _no_pods(core, "reg-0001"))
    with pytest.raises(InvalidRequest, match="registered by kubeconfig, so Legato cannot create clusters"):
        await mcm.add_nodes("op-n", "registered", ["reg-h1"])
    for refused in (mcm.drain_nodes("op-n", "registered", ["k1-h2"], partial=True),
                    mcm.remove_nodes("op-n", "registered", ["k1-h2"])):  # fmt: skip
        with pytest.raises(InvalidRequest, match="registered by kubeconfig, so Legato cannot create clusters"):
            await refused
    assert await mcm.busy_nodes("registered", ["k1-h2", "k1-h3", "not-a-node"]) == {
        "k1-h2": 0, "k1-h3": 0, "not-a-node": 0}  # fmt: skip
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


async def test_status_counts_pods_per_node_and_prefer_nodes_steers_them(kwok, drain_cluster):
    wdm = KubernetesWDM(kwok)
    apps, core = await apis(kwok, "kd")
    # Three empty nodes; the reservation names two of them, in replica order, repeated.
    await wdm.deploy("op-p1", "kd", spec("pref", 4, prefer_nodes=["kd-h3", "kd-h2", "kd-h3", "kd-h2"]))
    ready = await until(lambda: _ready(wdm, "pref-0001", "kd"))
    pods = await _live_pods(core, "pref-0001")
    assert ready.nodes == _per_node(pods) and sum(ready.nodes.values()) == 4
    assert set(ready.nodes) <= {"kd-h2", "kd-h3"}
    assert [w.nodes for w in await wdm.list_workloads("kd") if w.id == "pref-0001"] == [ready.nodes]
    d = await asyncio.to_thread(apps.read_namespaced_deployment, "pref-0001", NAMESPACE)
    affinity = d.spec.template.spec.affinity
    terms = affinity.node_affinity.preferred_during_scheduling_ignored_during_execution
    assert [(t.weight, t.preference.match_expressions[0].key, t.preference.match_expressions[0].values)
            for t in terms] == [(100, "kubernetes.io/hostname", ["kd-h2", "kd-h3"])]  # fmt: skip
    assert affinity.node_affinity.required_during_scheduling_ignored_during_execution is None  # a hint, never a bind

    # Without a reservation the affinity goes: server-side apply drops what Legato no longer sets.
    await wdm.deploy("op-p2", "kd", spec("pref", 4))
    d = await asyncio.to_thread(apps.read_namespaced_deployment, "pref-0001", NAMESPACE)
    assert d.spec.template.spec.affinity is None
    await until(lambda: _ready(wdm, "pref-0001", "kd"))
    await wdm.remove("op-p3", "kd", "pref-0001")
    await until(lambda: _no_pods(core, "pref-0001"))


async def test_drain_replaces_every_pod_before_it_goes_then_the_nodes_are_removed(kwok, drain_cluster):
    wdm = KubernetesWDM(kwok)
    apps, core = await apis(kwok, "kd")
    # Two services and a workload that is not Legato's, all on kd-h1 and kd-h2 (kd-h3 closed meanwhile).
    await _set_cordon(core, "kd-h3", True)
    await wdm.deploy("op-a", "kd", spec("alpha", 3))
    await wdm.deploy("op-b", "kd", spec("beta", 2))
    await _foreign_deployment(core, apps, "kd-h1")
    await until(lambda: _ready(wdm, "alpha-0001", "kd"))
    await until(lambda: _ready(wdm, "beta-0001", "kd"))
    await until(lambda: _foreign_available(apps))
    await _set_cordon(core, "kd-h3", False)
    await kwok.add_nodes("op-add-kd4", "kd", ["kd-h4"])
    await until(lambda: _nodes_ready(core, ["kd-h3", "kd-h4"]))
    for w in ("alpha-0001", "beta-0001"):
        assert set((await wdm.status("kd", w)).nodes) <= {"kd-h1", "kd-h2"}

    history = PodHistory(core, NAMESPACE).start()
    try:
        result = await kwok.drain_nodes("op-drain-kd", "kd", ["kd-h1", "kd-h2", "kd-h9"], partial=False)
        assert result == DrainResult(draining=["kd-h1", "kd-h2"])  # kd-h9 is no node of the cluster: ignored
        generations = await _generations(apps, ["alpha-0001", "beta-0001"])
        # A retry restarts nothing again: the template annotation is derived from the op id.
        assert await kwok.drain_nodes("op-drain-kd", "kd", ["kd-h1", "kd-h2"], partial=False) == result
        assert await _generations(apps, ["alpha-0001", "beta-0001"]) == generations
        await until(lambda: _drained(kwok, "kd", ["kd-h1", "kd-h2"]), timeout=120)
        shrunk = await kwok.remove_nodes("op-rm-kd", "kd", ["kd-h1", "kd-h2"])
        assert shrunk.hosts == ["kd-h3", "kd-h4"]
        assert (await kwok.remove_nodes("op-rm-kd", "kd", ["kd-h1", "kd-h2"])).hosts == ["kd-h3", "kd-h4"]
        final = {w: await until(lambda w=w: _ready(wdm, w, "kd")) for w in ("alpha-0001", "beta-0001")}
    finally:
        history.stop()

    # Judged from the whole history: at no instant did a service have fewer ready pods than requested.
    assert history.min_serving({WORKLOAD: "alpha-0001"}) >= 3
    assert history.min_serving({WORKLOAD: "beta-0001"}) >= 2
    # ...and not because nothing happened: every replica was replaced.
    assert len(history.pods_seen({WORKLOAD: "alpha-0001"})) >= 6
    assert len(history.pods_seen({WORKLOAD: "beta-0001"})) >= 4
    for status in final.values():
        assert set(status.nodes) <= {"kd-h3", "kd-h4"} and sum(status.nodes.values()) == status.replicas
    foreign = (await asyncio.to_thread(core.list_namespaced_pod, "other")).items
    assert {p.spec.node_name for p in foreign if p.metadata.deletion_timestamp is None} <= {"kd-h3", "kd-h4"}
    await until(lambda: _foreign_available(apps))
    for w in ("alpha-0001", "beta-0001"):
        await wdm.remove(f"op-rm-{w}", "kd", w)
        await until(lambda w=w: _no_pods(core, w))
    await asyncio.to_thread(apps.delete_namespaced_deployment, "foreign", "other")


async def test_partial_drain_leaves_the_node_whose_pods_fit_nowhere_as_it_was(kwok, drain_cluster):
    wdm = KubernetesWDM(kwok)
    apps, core = await apis(kwok, "kd")
    await _only_nodes(kwok, core, "kd", ["kd-h3", "kd-h4", "kd-h5"])
    # kd-h3 is nearly full; kd-h4 holds one small pod, kd-h5 one pod as big as kd-h3's.
    placed = {"filler": ("kd-h3", 1.5), "web": ("kd-h4", 0.5), "big": ("kd-h5", 1.5)}
    for name, (node, cpu) in placed.items():
        await _deploy_on(wdm, core, spec(name, 1, cpu=cpu, prefer_nodes=[node]), node, ["kd-h3", "kd-h4", "kd-h5"])
    before = {p.metadata.uid: p.spec.node_name for p in await _live_pods(core, None)}
    assert sorted(before.values()) == ["kd-h3", "kd-h4", "kd-h5"]

    # All or nothing: big fits nowhere, so nothing is touched at all.
    with pytest.raises(CapacityExhausted, match="cannot remove nodes") as refused:
        await kwok.drain_nodes("op-all", "kd", ["kd-h4", "kd-h5"], partial=False)
    assert refused.value.resources == ["host:kd-h5"] and "big-0001" in str(refused.value)
    for node in ("kd-h3", "kd-h4", "kd-h5"):
        n = await asyncio.to_thread(core.read_node, node)
        assert not n.spec.unschedulable and not {CORDONED, DRAINING} & set(n.metadata.annotations or {})
    for d in (await asyncio.to_thread(apps.list_namespaced_deployment, NAMESPACE)).items:
        assert DRAINING not in (d.spec.template.metadata.annotations or {})
    after = {p.metadata.uid: p.spec.node_name for p in await _live_pods(core, None)}
    assert after == before

    # Partial: kd-h4 drains (its pod fits once kd-h5 stays open), kd-h5 keeps its pod and stays schedulable.
    with PodHistory(core, NAMESPACE) as history:
        result = await kwok.drain_nodes("op-part", "kd", ["kd-h4", "kd-h5"], partial=True)
        assert (result.draining, result.stuck) == (["kd-h4"], ["kd-h5"]) and "big-0001" in result.reasons["kd-h5"]
        assert not (await asyncio.to_thread(core.read_node, "kd-h5")).spec.unschedulable
        await until(lambda: _drained(kwok, "kd", ["kd-h4"]), timeout=120)
        # kd-h5 keeps big, and being open it may take web's replacement too.
        held = await kwok.busy_nodes("kd", ["kd-h4", "kd-h5"])
        assert held["kd-h4"] == 0 and held["kd-h5"] == len(await _live_pods_on(core, "kd-h5")) >= 1
        with pytest.raises(TransientFault, match=f"node kd-h5 still runs {held['kd-h5']} pods; its drain is under way"):
            await kwok.remove_nodes("op-rm-part", "kd", ["kd-h5"])
        assert not (await asyncio.to_thread(core.read_node, "kd-h5")).spec.unschedulable
        assert (await kwok.remove_nodes("op-rm-part", "kd", ["kd-h4"])).hosts == ["kd-h3", "kd-h5"]
        web = await until(lambda: _ready(wdm, "web-0001", "kd"))
    for name in placed:
        assert history.min_serving({WORKLOAD: f"{name}-0001"}) >= 1
    assert set(web.nodes) <= {"kd-h3", "kd-h5"}
    now = {p.metadata.uid: p.spec.node_name for p in await _live_pods(core, None)}
    assert {uid: node for uid, node in before.items() if node != "kd-h4"}.items() <= now.items()  # untouched
    for name in placed:
        await wdm.remove(f"op-rm-{name}", "kd", f"{name}-0001")


async def test_pod_history_sees_the_dip_a_break_before_make_causes(kwok, drain_cluster):
    """The yardstick of the drain tests, checked against a dip it must see: a pod deleted outright
    stops serving before its ReplicaSet's replacement is ready."""
    wdm = KubernetesWDM(kwok)
    _, core = await apis(kwok, "kd")
    await wdm.deploy("op-dip", "kd", spec("dip", 2, cpu=0.25))
    await until(lambda: _ready(wdm, "dip-0001", "kd"))
    victim = (await _live_pods(core, "dip-0001"))[0].metadata.name
    with PodHistory(core, NAMESPACE) as history:
        await asyncio.to_thread(core.delete_namespaced_pod, victim, NAMESPACE)
        await until(lambda: _no_pod(core, victim))
        await until(lambda: _ready(wdm, "dip-0001", "kd"))
    assert history.min_serving({WORKLOAD: "dip-0001"}) == 1
    (start, end), = history.intervals()[victim]
    assert end is not None and end >= start
    assert len(history.pods_seen({WORKLOAD: "dip-0001"})) == 3
    await wdm.remove("op-dip-rm", "kd", "dip-0001")
    await until(lambda: _no_pods(core, "dip-0001"))


async def _no_pod(core, name: str) -> bool:
    return await asyncio.to_thread(lambda: not [p for p in core.list_namespaced_pod(NAMESPACE).items
                                                if p.metadata.name == name])  # fmt: skip


async def _ready(wdm, workload_id: str, cluster_id: str = "k1"):
    status = await wdm.status(cluster_id, workload_id)
    return status if status and status.ready else None


async def _no_pods(core, workload_id: str) -> bool:
    selector = f"legato.io/workload={workload_id}"
    return not (await asyncio.to_thread(core.list_namespaced_pod, NAMESPACE, label_selector=selector)).items


async def _nodes_ready(core, names: list[str]) -> bool:
    """Ready and without taints (a new node carries not-ready taints until its first heartbeat)."""
    nodes = {n.metadata.name: n for n in (await asyncio.to_thread(core.list_node)).items}
    return all(
        n in nodes and not nodes[n].spec.taints
        and any(c.type == "Ready" and c.status == "True" for c in nodes[n].status.conditions or [])
        for n in names
    )  # fmt: skip


async def _only_nodes(kwok, core, cluster_id: str, names: list[str]) -> None:
    """Bring the cluster to exactly these nodes (adding, or removing through the drain contract)."""
    cluster = await kwok.add_nodes(f"op-add-{cluster_id}", cluster_id, names)
    extra = [h for h in cluster.hosts if h not in names]
    if extra:
        await kwok.drain_nodes(f"op-extra-{cluster_id}", cluster_id, extra, partial=False)
        await until(lambda: _drained(kwok, cluster_id, extra))
        await kwok.remove_nodes(f"op-extra-{cluster_id}", cluster_id, extra)
    await until(lambda: _nodes_ready(core, names))


async def _set_cordon(core, node: str, closed: bool) -> None:
    await asyncio.to_thread(core.patch_node, node, {"spec": {"unschedulable": closed or None}})


async def _deploy_on(wdm, core, workload: WorkloadSpec, node: str, nodes: list[str]) -> None:
    """Deploy with every other node closed, so the test knows where the pods are."""
    others = [n for n in nodes if n != node]
    for n in others:
        await _set_cordon(core, n, True)
    await wdm.deploy(f"op-{workload.id}", "kd", workload)
    await until(lambda: _ready(wdm, workload.id, "kd"))
    for n in others:
        await _set_cordon(core, n, False)


async def _foreign_deployment(core, apps, node: str) -> None:
    """A Deployment that is not Legato's, in a namespace of its own: the drain evicts its pod."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
    await asyncio.to_thread(core.create_namespace, namespace)
    labels = {"app": "foreign"}
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "foreign", "namespace": "other"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                 "spec": {"containers": [{"name": "c", "image": "registry/other:1",
                                          "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}]}}},
    }  # fmt: skip
    await asyncio.to_thread(apps.create_namespaced_deployment, "other", body)


async def _foreign_available(apps) -> bool:
    d = await asyncio.to_thread(apps.read_namespaced_deployment, "foreign", "other")
    return (d.status.available_replicas or 0) == 1


async def _generations(apps, names: list[str]) -> dict[str, int]:
    return {n: (await asyncio.to_thread(apps.read_namespaced_deployment, n, NAMESPACE)).metadata.generation
            for n in names}  # fmt: skip


async def _live_pods(core, workload_id: str | None) -> list:
    selector = f"{WORKLOAD}={workload_id}" if workload_id else WORKLOAD
    pods = (await asyncio.to_thread(core.list_namespaced_pod, NAMESPACE, label_selector=selector)).items
    return [p for p in pods if p.metadata.deletion_timestamp is None and p.spec.node_name]


async def _live_pods_on(core, node: str) -> list:
    return [p for p in await _live_pods(core, None) if p.spec.node_name == node]


def _per_node(pods: list) -> dict[str, int]:
    return dict(sorted(Counter(p.spec.node_name for p in pods).items()))


async def _drained(mcm, cluster_id: str, nodes: list[str]) -> bool:
    return not any((await mcm.busy_nodes(cluster_id, nodes)).values())


async def _all_gone(pids: list[int]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)


async def _namespace_going(core: client.CoreV1Api) -> bool:
    try:
        ns = await asyncio.to_thread(core.read_namespace, NAMESPACE)
    except ApiException as err:
        return err.status == 404
    return ns.status.phase == "Terminating"
