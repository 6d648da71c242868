"""The small worlds the contract suite runs each backend in: a few hosts at one site (and one at
another), a shared cluster where a manager has clusters, and the hooks some rules need (the
backend unreachable, the backend refusing for good).

The sim backends get a fresh continuum per test. The real ones (the Redfish emulator, kwok
control planes) start once per module; each test gets them back as the last one found them, since
the fixtures in conftest.py undo what a test left (workloads, clusters, nodes, holds)."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from legato.adapters.mcm import MCM
from legato.adapters.mcm.kwok import KwokMCM
from legato.adapters.pim import PIM
from legato.adapters.tcm import TCM
from legato.adapters.telemetry import Telemetry
from legato.adapters.wdm import WDM
from legato.model import Cluster, Host, Site, Topology, UserAreaDef
from legato.model.backends import SiteBackends
from legato.model.charts import ChartSource
from legato.model.telemetry import AreaDemand, WorkloadToMeasure
from legato.model.workloads import WorkloadSpec, WorkloadStatus


def site(site_id: str, hosts: list[str], clusters: Sequence[Cluster] = (), backend: SiteBackends | None = None,
         cpu: float = 4) -> Site:
    return Site(
        id=site_id, tier="edge", provider="p", region="r", country="FR", lat=45, lon=5, cost_per_vcpu_hour=0.1,
        hosts=[Host(id=h, cpu=cpu, memory_mb=8192) for h in hosts], clusters=list(clusters),
        backend=backend or SiteBackends(),
    )  # fmt: skip


def sim_topology(sites: list[Site], **extra) -> Topology:
    return Topology(sites={s.id: s for s in sites}, areas=extra.pop("areas", {}), **extra)


def known_gap(request: pytest.FixtureRequest, backend: str, gaps: dict[str, str]) -> None:
    """A rule this backend is known to break (stated in its protocol's docstring): the test still
    runs, must fail, and turns red the day the backend keeps the rule (strict xfail)."""
    if backend in gaps:
        request.applymarker(pytest.mark.xfail(reason=gaps[backend], strict=True))


async def until(check: Callable[[], Awaitable], timeout: float = 60, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        if result := await check():
            return result
        assert time.monotonic() < deadline, f"condition not reached in {timeout:g} s"
        await asyncio.sleep(every)


def workload(name: str, replicas: int, cpu: float = 0.25, version: str = "1.0", **extra) -> WorkloadSpec:
    return WorkloadSpec(id=f"{name}-c0ffee", service_id="svc-contract", tenant="t", component=name,
                        image="registry.example/app", version=version, replicas=replicas, cpu=cpu, memory_mb=128,
                        ports=[8080], **extra)  # fmt: skip


async def settled(wdm: WDM, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
    """The status once every replica is ready and no pod of an older template still holds a node."""
    status = await wdm.status(cluster_id, workload_id)
    if status and status.ready and sum(status.nodes.values()) == status.replicas:
        return status
    return None


# ---- Kubernetes clients that cannot reach, or are not let in


def kubeconfig_server(path: Path) -> tuple[str, str]:
    """The API server's URL and CA file of a kwok cluster's kubeconfig."""
    cluster = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]
    return cluster["server"], cluster["certificate-authority"]


def api_client(server: str, ca: str | None = None) -> client.ApiClient:
    """A client without credentials: anonymous at `server` (403 from a real API server)."""
    cfg = client.Configuration()
    cfg.host = server
    cfg.ssl_ca_cert = ca
    cfg.verify_ssl = ca is not None
    cfg.retries = False
    return client.ApiClient(cfg)


class KwokThrough(KwokMCM):
    """The kwok MCM of the same clusters (the same work directory), talking to every one of them
    through one given client."""

    def __init__(self, kwok: KwokMCM, api: client.ApiClient) -> None:
        super().__init__(list(kwok.sites.values()), kwok.bin_dir, kwok.workdir)
        self.api = api

    async def api_client(self, cluster_id: str) -> client.ApiClient:
        return self.api


def write_kubeconfig(path: Path, server: str, ca: str, credentials: Path | None = None) -> Path:
    """A kubeconfig with one context, `contract`: `credentials` (a kwok kubeconfig) lends its user,
    or none (anonymous)."""
    user = yaml.safe_load(credentials.read_text())["users"][0]["user"] if credentials else {}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "contract",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "contract", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    return path


HOLDER = "legato.test/kwok-holder"  # the lease's holder while the test holds it


async def set_node_ready(api: client.ApiClient, node: str, ready: bool) -> None:
    """A node's kubelet stopped (its node NotReady, its pods no longer ready) or back, written as the
    kubelet's silence and the node controller leave them, without waiting the grace period. kwok
    keeps a node Ready while it holds the node's lease: the lease is taken from it first (held by
    the test for an hour) and handed back to kwok's holder when the kubelet is back."""
    core, leases = client.CoreV1Api(api), client.CoordinationV1Api(api)
    status = "True" if ready else "False"
    now = datetime.datetime.now(datetime.UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def apply() -> None:
        if not ready:
            held = leases.read_namespaced_lease(node, "kube-node-lease").spec.holder_identity
            hold(annotations={HOLDER: held}, holder="stopped-kubelet", seconds=3600)
        condition = {"type": "Ready", "status": status, "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                     "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
        core.patch_node_status(node, {"status": {"conditions": [condition]}})
        for pod in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items:
            if pod.metadata.namespace == "kube-system":
                continue
            conditions = [{"type": t, "status": status, "lastTransitionTime": stamp}
                          for t in ("Ready", "ContainersReady")]  # fmt: skip
            core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace,
                                             {"status": {"conditions": conditions}})
        if ready:
            lease = leases.read_namespaced_lease(node, "kube-node-lease")
            held = (lease.metadata.annotations or {}).get(HOLDER)
            if held:
                hold(annotations={HOLDER: None}, holder=held, seconds=40)

    def hold(annotations: dict, holder: str, seconds: int) -> None:
        leases.patch_namespaced_lease(node, "kube-node-lease", {
            "metadata": {"annotations": annotations},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds,
                     "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}})

    await asyncio.to_thread(apply)


class FixedClusters:
    """What the Kubernetes WDM needs from an MCM (`KubeClusters`), answering one client for every
    cluster: a dead address (unreachable) or an anonymous one (refused)."""

    def __init__(self, api: client.ApiClient, cluster_ids: list[str]) -> None:
        self.api, self.cluster_ids = api, cluster_ids

    async def api_client(self, cluster_id: str) -> client.ApiClient:
        return self.api

    async def kube_cluster_ids(self) -> list[str]:
        return self.cluster_ids


# ---- the worlds


@dataclass
class PimWorld:
    """Site `site` has the free hosts `free` and `fixed`, the node of a topology cluster; site
    `other_site` has `elsewhere`."""

    backend: str
    pim: PIM
    unreachable: Callable[[], PIM]  # the same hosts and holds, the hardware out of reach
    refusing: Callable[[], PIM]  # the same hosts and holds, refused for good
    heal: Callable[[], None]
    site: str = "edge-r"
    free: tuple[str, ...] = ("r1", "r2", "r3", "r4")
    fixed: str = "r5"
    other_site: str = "edge-s"
    elsewhere: str = "s1"


@dataclass
class McmWorld:
    """Site `site` has the shared cluster `shared` on `nodes` and the `spare` hosts; site
    `other_site` has `elsewhere`. `wdm` puts pods on the nodes; `allocate` is the PIM's part, for
    a backend that checks it (the sim)."""

    backend: str
    mcm: MCM
    wdm: WDM
    allocate: Callable[[str, list[str], str], Awaitable[object]]
    unreachable: Callable[[], MCM]
    refusing: Callable[[], MCM]
    heal: Callable[[], None]
    changes_nodes: bool = True  # False: the kubeconfig MCM's declared exception
    site: str = "edge-c"
    shared: str = "shared-c"
    nodes: tuple[str, ...] = ("c1", "c2")
    spare: tuple[str, ...] = ("c3", "c4", "c5", "c6")
    other_site: str = "edge-d"
    elsewhere: str = "d1"
    node_cpu: float = 4
    created: list[str] = field(default_factory=list)  # clusters a test created, deleted after it
    deployed: list[str] = field(default_factory=list)  # workloads a test deployed, removed after it

    async def deploy(self, spec: WorkloadSpec) -> WorkloadStatus:
        self.deployed.append(spec.id)
        await self.wdm.deploy(f"op-deploy-{spec.id}", self.shared, spec)
        return await until(lambda: settled(self.wdm, self.shared, spec.id))


@dataclass
class WdmWorld:
    """The shared cluster `cluster` on `nodes` of `node_cpu` CPUs each."""

    backend: str
    wdm: WDM
    unreachable: Callable[[], WDM]
    refusing: Callable[[], WDM]
    heal: Callable[[], None]
    admits_unschedulable: bool  # Kubernetes: admitted and left Pending (declared exception)
    keeps_history: bool  # Kubernetes keeps none (declared exception)
    answers_any_cluster: bool  # the sim answers reads and removals on any cluster id; Kubernetes: NotFound
    cluster: str = "shared-w"
    nodes: tuple[str, ...] = ("w1", "w2")
    node_cpu: float = 4
    deployed: list[str] = field(default_factory=list)
    chart: ChartSource | None = None  # the chart worlds: every workload is a release of this chart

    def workload(self, name: str, replicas: int, cpu: float = 0.25, version: str = "1.0", **extra) -> WorkloadSpec:
        """The contract's workload; in a chart world, a release of the chart (hello-web) at chart version
        `version`, its pods asking what the spec does (values) and serving on the spec's port."""
        spec = workload(name, replicas, cpu, version, **extra)
        if self.chart is None:
            return spec
        values = {"port": spec.ports[0], "resources": {"cpu": f"{round(cpu * 1000)}m", "memory": f"{spec.memory_mb}Mi"}}
        return spec.model_copy(update={"image": "", "chart": self.chart.model_copy(update={"values": values})})

    async def deploy(self, op_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        self.deployed.append(spec.id)
        return await self.wdm.deploy(op_id, self.cluster, spec)

    async def settled(self, workload_id: str) -> WorkloadStatus:
        return await until(lambda: settled(self.wdm, self.cluster, workload_id), every=0.05)


@dataclass
class TcmWorld:
    """Sites `a` and `b`, `latency` ms and `bandwidth` Mbps apart; `unlinked` has no known latency
    to them; user area `area` is `area_latency` ms from `a` and knows no latency to `unlinked`."""

    backend: str
    tcm: TCM
    a: str = "edge-t"
    b: str = "cloud-t"
    unlinked: str = "far-t"
    area: str = "paris"
    latency: float = 15.0
    bandwidth: float = 100.0
    area_latency: float = 2.0

    @classmethod
    def topology(cls) -> Topology:
        a, b = cls.a, cls.b
        return sim_topology(
            [site(a, ["t1"]), site(b, ["t2"]), site(cls.unlinked, ["t3"])],
            areas={cls.area: UserAreaDef(id=cls.area, lat=48.85, lon=2.35)},
            site_latency_ms={a: {b: cls.latency}, b: {a: cls.latency}},
            area_latency_ms={cls.area: {a: cls.area_latency, b: 20.0}},
            site_bandwidth_mbps={a: {b: cls.bandwidth}, b: {a: cls.bandwidth}},
        )


@dataclass
class TelemetryWorld:
    """Site `site` has the shared cluster `cluster` on `nodes` and the free host `free`; user area
    `near` is `near_ms` from the site, `far` `far_ms`. The hooks make what a source must see happen:
    a workload deployed and serving, a host's power cut and restored, the cluster's API gone and back."""

    backend: str
    telemetry: Telemetry
    deploy: Callable[[str, int, list[AreaDemand]], Awaitable[WorkloadToMeasure]]  # name, replicas, areas
    power_off: Callable[[str], Awaitable[None]]
    power_on: Callable[[str], Awaitable[None]]  # the host back, and its node Ready
    not_ready: Callable[[str], Awaitable[None]]  # the node's kubelet stops, the host stays on
    stop_cluster: Callable[[], Awaitable[None]]
    site: str = "edge-m"
    cluster: str = "shared-m"
    nodes: tuple[str, ...] = ("m1", "m2")
    free: str = "m3"
    near: str = "near"
    far: str = "far"
    near_ms: float = 3.0
    far_ms: float = 40.0
    window: float = 0.5  # long enough for the source's figures: Prometheus' rates need two scrapes in it

    @classmethod
    def topology(cls) -> Topology:
        return sim_topology(
            [site(cls.site, [*cls.nodes, cls.free], [Cluster(id=cls.cluster, hosts=list(cls.nodes))])],
            areas={a: UserAreaDef(id=a, lat=45, lon=5) for a in (cls.near, cls.far)},
            area_latency_ms={cls.near: {cls.site: cls.near_ms}, cls.far: {cls.site: cls.far_ms}},
        )
