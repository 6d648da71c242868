"""One fixture per protocol, parametrized over its backends, each yielding a ready backend in its
small world (worlds.py): `pim_world` (sim, redfish), `mcm_world` (sim, kwok, kubeconfig,
clusterapi), `wdm_world` (sim, kubernetes, and the same two with every workload a chart's release:
sim-chart, kubernetes-chart), `tcm_world` (sim), `telemetry_world` (sim, prometheus). A new backend
is one more parameter.

The sim backends run everywhere. The real ones run on the same terms as tests/real, whose fixtures
they share: the Redfish emulator always (its power changes made prompt, see prompt_bmc.py), kwok,
Cluster API and Kubernetes on the test bed (missing, it fails the run, unless LEGATO_SKIP_TESTBED=1
skips them locally). One emulator, one kwok MCM, one management cluster and one Prometheus per
module; each test gets them back as it found them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from kubernetes import client

from legato.adapters.kube import call_or_none
from legato.adapters.mcm.clusterapi import ClusterAPIMCM
from legato.adapters.mcm.kubeconfig import KubeconfigMCM
from legato.adapters.mcm.kwok import KwokMCM
from legato.adapters.mcm.sim import SimMCM
from legato.adapters.pim.redfish import RedfishPIM
from legato.adapters.pim.sim import SimPIM
from legato.adapters.tcm.sim import SimTCM
from legato.adapters.telemetry.prometheus import PrometheusTelemetry
from legato.adapters.telemetry.sim import SimTelemetry
from legato.adapters.wdm.helm import Helm
from legato.adapters.wdm.kubernetes import KubernetesWDM
from legato.adapters.wdm.sim import SimWDM
from legato.config import PROJECT_ROOT
from legato.devserver import free_port, wait_for_port
from legato.model import Cluster, Site
from legato.model.backends import KubeconfigSite, PrometheusSite, RedfishSite, SiteBackends
from legato.model.charts import ChartSource
from legato.model.telemetry import AreaDemand, WorkloadToMeasure
from legato.model.workloads import WorkloadSpec
from legato.simulator import SimContinuum
from tests.contract.worlds import (
    FixedClusters,
    KwokThrough,
    McmWorld,
    PimWorld,
    TcmWorld,
    TelemetryWorld,
    WdmWorld,
    api_client,
    kubeconfig_server,
    set_node_ready,
    settled,
    sim_topology,
    site,
    until,
    write_kubeconfig,
)
from tests.real.capi_testbed import management_cluster
from tests.real.capi_testbed import site_config as capi_config
from tests.real.conftest import kube_bin, redfish_factory  # noqa: F401  (shared with tests/real)
from tests.real.helm_charts import ChartRepository
from tests.real.prometheus_server import SCRAPE_SECONDS, PrometheusServer, ScrapedCluster
from tests.real.redfish_emulator import RedfishEmulator
from tests.real.testbed import delete_every_cluster, require

KWOK = SiteBackends(mcm="kwok", wdm="kubernetes")


def seeded(tmp_path, sites: list[Site]) -> SimContinuum:
    continuum = SimContinuum(tmp_path / "sim.db")
    continuum.seed(sim_topology(sites))
    return continuum


def sim_faults(continuum: SimContinuum, call: str, backend):
    """A sim world's three fault controls: `call` out of reach (every try fails before acting, as a
    network cut does), `call` refused for good, and both healed. The first two return the backend
    to call, as a real world's return a client pointed at a dead or refusing endpoint."""

    def unreachable():
        continuum.set_fault(call, transient_rate=1.0, phase="before")
        return backend

    def refusing():
        continuum.set_fault(call, permanent=True)
        return backend

    return unreachable, refusing, continuum.clear_faults


def op(what: str) -> str:
    return f"op-{what}-{uuid.uuid4().hex[:8]}"


def dead_url(scheme: str = "https") -> str:
    """An address nobody listens on: the backend out of reach."""
    return f"{scheme}://127.0.0.1:{free_port()}"


# ---- PIM: sim, Redfish (the sushy-tools emulator)


def pim_sites(redfish: RedfishSite | None = None) -> list[Site]:
    w = PimWorld
    backend = SiteBackends(pim="redfish", redfish=redfish) if redfish else None
    here = site(w.site, [*w.free, w.fixed], [Cluster(id="fixed-r", hosts=[w.fixed])], backend)
    return [here, site(w.other_site, [w.elsewhere], backend=backend)]


def prompt(emulator: RedfishEmulator) -> RedfishEmulator:
    """The same emulator (its configuration, port, systems and credentials) run again by
    prompt_bmc.py: power changes apply at the next read instead of 1 to 11 s later."""
    emulator.stop()
    config = emulator.log.parent / "emulator.conf"
    emulator.proc = subprocess.Popen([sys.executable, "-m", "tests.contract.prompt_bmc", "--config", str(config)],
                                     cwd=PROJECT_ROOT, stdout=emulator.log.open("ab"), stderr=subprocess.STDOUT)
    wait_for_port(int(emulator.url.rsplit(":", 1)[1]), 30, emulator.proc)
    return emulator


@pytest.fixture(scope="module", params=["sim", "redfish"])
def pim_backend(request):
    if request.param == "sim":
        return "sim", None
    return "redfish", prompt(request.getfixturevalue("redfish_factory")([h.id for s in pim_sites() for h in s.hosts]))


@pytest.fixture
async def pim_world(pim_backend, tmp_path):
    name, emulator = pim_backend
    if name == "sim":
        continuum = seeded(tmp_path, pim_sites())
        pim = SimPIM(continuum)
        yield PimWorld("sim", pim, *sim_faults(continuum, "pim.allocate", pim))
        return

    ledger = tmp_path / "ledger.db"
    wrong = tmp_path / "wrong-credentials"
    wrong.write_text("legato:not-the-password\n")
    wrong.chmod(0o600)

    def redfish(url: str, credentials) -> RedfishPIM:
        sites = pim_sites(RedfishSite(endpoints=[url], credentials=f"file:{credentials}"))
        return RedfishPIM(sites, ledger, poll_seconds=0.1)

    pim = redfish(emulator.url, emulator.credentials_file)
    yield PimWorld("redfish", pim, lambda: redfish(dead_url("http"), emulator.credentials_file),
                   lambda: redfish(emulator.url, wrong), lambda: None)  # fmt: skip
    holds: dict[str, list[str]] = {}
    for host, hold in pim.ledger.holds().items():  # off and free for the next test, as the emulator began
        holds.setdefault(hold.allocation_op, []).append(host)
    for allocation, hosts in holds.items():
        await pim.release_hosts(op("cleanup"), allocation, hosts)


# ---- MCM: sim, kwok, kubeconfig (over the kwok MCM's shared cluster)


def mcm_sites(backend: SiteBackends | None = None) -> list[Site]:
    w = McmWorld
    here = site(w.site, [*w.nodes, *w.spare], [Cluster(id=w.shared, hosts=list(w.nodes))], backend, cpu=w.node_cpu)
    return [here, site(w.other_site, [w.elsewhere], backend=backend)]


@asynccontextmanager
async def kwok_mcm(sites: list[Site], bin_dir, workdir) -> AsyncIterator[KwokMCM]:
    """A kwok MCM with the sites' shared clusters started, and every control plane stopped after."""
    mcm = KwokMCM(sites, bin_dir, workdir)
    try:
        await mcm.start_shared_clusters()
        yield mcm
    finally:
        await delete_every_cluster(mcm)


@pytest.fixture(scope="module")
async def mcm_kwok(kube_bin, tmp_path_factory):  # noqa: F811
    async with kwok_mcm(mcm_sites(KWOK), kube_bin, tmp_path_factory.mktemp("kwok-mcm")) as mcm:
        yield mcm


@pytest.fixture(scope="module")
async def mcm_capi(kube_bin, tmp_path_factory):  # noqa: F811
    """A management cluster (tests/real/capi_testbed.py) with the world's hosts enrolled, and the
    clusterapi MCM of its site, whose shared cluster CAPI builds on `nodes`."""
    here = mcm_sites()[0]
    capi = management_cluster(kube_bin, tmp_path_factory.mktemp("capi-mcm"), here.hosts)
    try:
        mcm = ClusterAPIMCM(capi_site(capi.kubeconfig))
        await mcm.start_shared_clusters()
        yield capi, mcm
    except BaseException:
        print(capi.logs())
        raise
    finally:
        capi.stop()


def capi_site(kubeconfig) -> Site:
    config = capi_config(kubeconfig, versions=["v1.34.4", "v1.35.4"])  # the test bed's two minors
    return mcm_sites(SiteBackends(mcm="clusterapi", wdm="kubernetes", clusterapi=config))[0]


@pytest.fixture(scope="module", params=["sim", "kwok", "kubeconfig", "clusterapi"])
def mcm_backend(request):
    if request.param == "sim":
        return "sim", None
    if request.param == "clusterapi":
        return "clusterapi", request.getfixturevalue("mcm_capi")
    return request.param, request.getfixturevalue("mcm_kwok")


def kubeconfig_mcm(path, context: str) -> KubeconfigMCM:
    cfg = KubeconfigSite(path=str(path), contexts={McmWorld.shared: context})
    return KubeconfigMCM(mcm_sites(SiteBackends(mcm="kubeconfig", wdm="kubernetes", kubeconfig=cfg)))


@pytest.fixture
async def mcm_world(mcm_backend, tmp_path):
    name, kwok = mcm_backend
    if name == "sim":
        continuum = seeded(tmp_path, mcm_sites())
        mcm, pim = SimMCM(continuum), SimPIM(continuum)

        async def allocate(op_id: str, hosts: list[str], owner: str) -> None:
            await pim.allocate_hosts(op_id, McmWorld.site, hosts, owner)

        yield McmWorld("sim", mcm, SimWDM(continuum), allocate, *sim_faults(continuum, "mcm.drain_nodes", mcm))
        return

    async def no_pim(op_id: str, hosts: list[str], owner: str) -> None:
        """A real MCM does not see the PIM: nothing to allocate."""

    if name == "clusterapi":
        capi, mcm = kwok
        server, ca = kubeconfig_server(capi.kubeconfig)
        here = capi_site(capi.kubeconfig)
        world = McmWorld("clusterapi", mcm, KubernetesWDM(mcm), no_pim,
                         lambda: ClusterAPIMCM(here, api_client(dead_url())),
                         lambda: ClusterAPIMCM(here, api_client(server, ca)), lambda: None)  # fmt: skip
        try:
            yield world
        finally:
            await restore_kwok(mcm, world)
            # A fresh world per test, as the sim's: the shared cluster forgets this test's operation
            # ids (the tests reuse them, and this MCM answers a repeated id as it did the first time).
            ops = f"{world.shared}-legato-ops"
            core = client.CoreV1Api(capi.api)
            await call_or_none(world.shared, lambda: core.delete_namespaced_config_map(ops, "legato"))
        return
    kubeconfig = kwok._kubeconfig(McmWorld.shared)
    server, ca = kubeconfig_server(kubeconfig)
    if name == "kwok":
        world = McmWorld("kwok", kwok, KubernetesWDM(kwok), no_pim, lambda: KwokThrough(kwok, api_client(dead_url())),
                         lambda: KwokThrough(kwok, api_client(server, ca)), lambda: None)  # fmt: skip
    else:
        registered = kubeconfig_mcm(kubeconfig, f"kwok-{McmWorld.shared}")
        unreachable = write_kubeconfig(tmp_path / "unreachable", dead_url(), ca, kubeconfig)
        anonymous = write_kubeconfig(tmp_path / "anonymous", server, ca)
        world = McmWorld("kubeconfig", registered, KubernetesWDM(registered), no_pim,
                         lambda: kubeconfig_mcm(unreachable, "contract"), lambda: kubeconfig_mcm(anonymous, "contract"),
                         lambda: None, changes_nodes=False)  # fmt: skip
    try:
        yield world
    finally:
        await restore_kwok(kwok, world)


async def restore_kwok(kwok: KwokMCM | ClusterAPIMCM, world: McmWorld) -> None:
    """Give the next test the shared cluster as it began (kwok's, or the one CAPI built): its
    workloads removed and their pods gone, the clusters the test created deleted, exactly its
    nodes, all of them open."""
    wdm = KubernetesWDM(kwok)
    for workload_id in world.deployed:
        await wdm.remove(op("cleanup"), world.shared, workload_id)
    for cluster_id in world.created:
        await kwok.delete_cluster(op("cleanup"), cluster_id)
    hosts = (await kwok.get_cluster(world.shared)).hosts
    await until(lambda: _idle(kwok, world.shared, hosts))
    extra = [h for h in hosts if h not in world.nodes]
    if extra:
        await kwok.remove_nodes(op("cleanup"), world.shared, extra)
    missing = [h for h in world.nodes if h not in hosts]
    if missing:
        await kwok.add_nodes(op("cleanup"), world.shared, missing)
    core = client.CoreV1Api(await kwok.api_client(world.shared))
    for node in world.nodes:
        await asyncio.to_thread(core.patch_node, node, {"spec": {"unschedulable": None}})


async def _idle(mcm, cluster_id: str, hosts: list[str]) -> bool:
    return not any((await mcm.busy_nodes(cluster_id, hosts)).values())


# ---- WDM: sim, Kubernetes (on a kwok cluster)


def wdm_sites(backend: SiteBackends | None = None) -> list[Site]:
    w = WdmWorld
    return [site("edge-w", list(w.nodes), [Cluster(id=w.cluster, hosts=list(w.nodes))], backend, cpu=w.node_cpu)]


@pytest.fixture(scope="module")
async def wdm_kwok(kube_bin, tmp_path_factory):  # noqa: F811
    async with kwok_mcm(wdm_sites(KWOK), kube_bin, tmp_path_factory.mktemp("kwok-wdm")) as mcm:
        yield mcm


@pytest.fixture(scope="module")
def wdm_charts(kube_bin, tmp_path_factory):  # noqa: F811
    """The chart worlds' source: hello-web at the contract's versions, served by the test bed's way."""
    extra = (("hello-web", "1.0"), ("hello-web", "1.1"), ("hello-web", "2.0"))
    with ChartRepository(kube_bin / "helm", tmp_path_factory.mktemp("wdm-charts"), extra) as repo:
        yield repo


# A chart component keeps the contract as one workload (the table's note): its worlds are two more backends.
@pytest.fixture(scope="module", params=["sim", "kubernetes", "sim-chart", "kubernetes-chart"])
def wdm_backend(request):
    if request.param.startswith("sim"):
        return request.param, None
    return request.param, request.getfixturevalue("wdm_kwok")


@pytest.fixture
async def wdm_world(wdm_backend, tmp_path, request):
    name, kwok = wdm_backend
    chart = None
    if name.endswith("-chart"):
        url = request.getfixturevalue("wdm_charts").url if name.startswith("kubernetes") else "http://charts.example"
        chart = ChartSource(ref=url, name="hello-web")
    if name.startswith("sim"):
        continuum = seeded(tmp_path, wdm_sites())
        continuum.set_ready_delay(0.05)  # a rollout takes steps, as on a cluster
        wdm = SimWDM(continuum)
        yield WdmWorld(name, wdm, *sim_faults(continuum, "wdm.deploy", wdm), admits_unschedulable=False,
                       keeps_history=True, answers_any_cluster=True, chart=chart)  # fmt: skip
        return

    server, ca = kubeconfig_server(kwok._kubeconfig(WdmWorld.cluster))
    clusters = [WdmWorld.cluster]
    helm = Helm(binary=request.getfixturevalue("kube_bin") / "helm")
    world = WdmWorld(
        name, KubernetesWDM(kwok, helm=helm),
        lambda: KubernetesWDM(FixedClusters(api_client(dead_url()), clusters), helm=helm),
        lambda: KubernetesWDM(FixedClusters(api_client(server, ca), clusters), helm=helm),
        lambda: None, admits_unschedulable=True, keeps_history=False, answers_any_cluster=False, chart=chart,
    )  # fmt: skip
    try:
        yield world
    finally:
        for workload_id in world.deployed:
            await world.wdm.remove(op("cleanup"), world.cluster, workload_id)
        await until(lambda: _idle(kwok, world.cluster, list(world.nodes)))


# ---- TCM: sim


@pytest.fixture(params=["sim"])
def tcm_world(request, tmp_path):
    continuum = SimContinuum(tmp_path / "sim.db")
    continuum.seed(TcmWorld.topology())
    return TcmWorld(request.param, SimTCM(continuum))


# ---- telemetry: sim, Prometheus (the test bed's, scraping a kwok cluster)


def telemetry_sim(tmp_path) -> TelemetryWorld:
    """The sim's world: its WDM deploys, its BMCs cut power, its clusters fail (fail_cluster)."""
    w = TelemetryWorld
    continuum = SimContinuum(tmp_path / "sim.db")
    continuum.seed(w.topology())
    wdm = SimWDM(continuum)

    async def deploy(name: str, replicas: int, areas: list[AreaDemand]) -> WorkloadToMeasure:
        spec = telemetry_workload(name, replicas)
        await wdm.deploy(op(f"deploy-{name}"), w.cluster, spec)
        await until(lambda: settled(wdm, w.cluster, spec.id), every=0.05)
        return measure(spec, areas)

    async def power_off(host: str) -> None:
        continuum.fail_host(host)

    async def power_on(host: str) -> None:
        continuum.recover_host(host)

    async def not_ready(host: str) -> None:
        continuum.fail_node(host)

    async def stop_cluster() -> None:
        continuum.fail_cluster(w.cluster)

    return w("sim", SimTelemetry(continuum), deploy, power_off, power_on, not_ready, stop_cluster)


def telemetry_workload(name: str, replicas: int) -> WorkloadSpec:
    return WorkloadSpec(id=f"{name}-c0ffee", service_id="svc-contract", tenant="t", component=name,
                        image="registry.example/app", version="1.0", replicas=replicas, cpu=0.5, memory_mb=128)


def measure(spec: WorkloadSpec, areas: list[AreaDemand]) -> WorkloadToMeasure:
    w = TelemetryWorld
    return WorkloadToMeasure(service_id=spec.service_id, component=spec.component, cluster=w.cluster,
                             workload_id=spec.id, site=w.site, areas=areas)


def telemetry_sites(backend: SiteBackends) -> list[Site]:
    w = TelemetryWorld
    return [site(w.site, [*w.nodes, w.free], [Cluster(id=w.cluster, hosts=list(w.nodes))], backend)]


@pytest.fixture(scope="module")
async def telemetry_prometheus(kube_bin, tmp_path_factory):  # noqa: F811
    """The world's cluster on kwok, scraped by the test bed's Prometheus (tests/real/prometheus_server.py)."""
    binary = require(kube_bin, ["prometheus"], "the test bed's Prometheus", "scripts/testbed.sh") / "prometheus"
    async with kwok_mcm(telemetry_sites(KWOK), kube_bin, tmp_path_factory.mktemp("kwok-telemetry")) as mcm:
        cluster = ScrapedCluster(TelemetryWorld.cluster, mcm._kubeconfig(TelemetryWorld.cluster))
        server = PrometheusServer(binary, tmp_path_factory.mktemp("prometheus"), [cluster])
        try:
            await asyncio.to_thread(server.start)
            yield mcm, server
        except BaseException:
            print(server.log())
            raise
        finally:
            server.stop()


@pytest.fixture(scope="module", params=["sim", "prometheus"])
def telemetry_backend(request):
    if request.param == "sim":
        return "sim", None
    return "prometheus", request.getfixturevalue("telemetry_prometheus")


@pytest.fixture
async def telemetry_world(telemetry_backend, tmp_path):
    name, started = telemetry_backend
    if name == "sim":
        yield telemetry_sim(tmp_path)
        return
    kwok, server = started
    w = TelemetryWorld
    backend = SiteBackends(mcm="kwok", wdm="kubernetes", telemetry="prometheus",
                           prometheus=PrometheusSite(url=server.url))
    topology = w.topology().model_copy(update={"sites": {s.id: s for s in telemetry_sites(backend)}})
    wdm = KubernetesWDM(kwok)
    api = await kwok.api_client(w.cluster)
    deployed: list[str] = []

    async def deploy(name: str, replicas: int, areas: list[AreaDemand]) -> WorkloadToMeasure:
        spec = telemetry_workload(name, replicas)
        deployed.append(spec.id)
        await wdm.deploy(op(f"deploy-{name}"), w.cluster, spec)
        await until(lambda: settled(wdm, w.cluster, spec.id))
        server.load(w.cluster, spec.id, {a.area: a.demand_rps for a in areas}, serving_ms=20)
        await server.settle()
        return measure(spec, areas)

    async def kubelet(host: str, ready: bool) -> None:
        await set_node_ready(api, host, ready)
        await server.settle()

    async def stop_cluster() -> None:
        await kwok._stop(w.cluster, "kube-apiserver")
        await server.settle()

    world = w("prometheus", PrometheusTelemetry(topology.sites[w.site], topology), deploy,
              power_off=lambda host: kubelet(host, False), power_on=lambda host: kubelet(host, True),
              not_ready=lambda host: kubelet(host, False), stop_cluster=stop_cluster,
              window=4 * SCRAPE_SECONDS)  # fmt: skip
    try:
        yield world
    finally:  # the next test finds the cluster as this one did: its API up, every node Ready, no workload
        if not await kwok._answers(w.cluster):
            await kwok._kwokctl(w.cluster, "start", "cluster")
            await until(lambda: kwok._answers(w.cluster))
        for node in w.nodes:
            await set_node_ready(api, node, True)
        for workload_id in deployed:
            server.load(w.cluster, workload_id, None)
            await wdm.remove(op("cleanup"), w.cluster, workload_id)
        await until(lambda: _idle(kwok, w.cluster, list(w.nodes)))
        await server.settle()  # and Prometheus has seen it so
