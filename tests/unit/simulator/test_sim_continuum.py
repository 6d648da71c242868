"""The simulated continuum behaves like the external systems it stands for: it dedups on op ids,
never over-allocates, schedules like Kubernetes, keeps its state in its file and fails on demand."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from legato.adapters.errors import CapacityExhausted, InvalidRequest, NotFound, PermanentFault, TransientFault
from legato.adapters.mcm.sim import SimMCM
from legato.adapters.pim.sim import SimPIM
from legato.adapters.tcm.sim import SimTCM
from legato.adapters.wdm.sim import SimWDM
from legato.config import PROJECT_ROOT
from legato.model import Cluster, Host, Site, Tier, Topology, UserAreaDef
from legato.model.connectivity import LinkRequest, QosRequest
from legato.model.workloads import WorkloadSpec
from legato.simulator import SimContinuum
from tests.unit.simulator.nodes import drain_and_remove


def tiny_topology() -> Topology:
    def site(id_: str, tier: Tier, hosts: list[Host], clusters: list[Cluster]) -> Site:
        return Site(
            id=id_, tier=tier, provider="acme", region="eu-west", country="FR", lat=48.8, lon=2.3,
            cost_per_vcpu_hour=0.05, hosts=hosts, clusters=clusters,
        )  # fmt: skip

    edge = site(
        "edge-a",
        Tier.edge,
        [
            Host(id="a1", cpu=4, memory_mb=8192, features=["sriov"]),
            Host(id="a2", cpu=4, memory_mb=8192),
            Host(id="a3", cpu=8, memory_mb=16384, gpu=1, features=["gpu-t4"]),
        ],
        [],
    )
    cloud = site(
        "cloud-b",
        Tier.cloud,
        [Host(id=f"b{i}", cpu=16, memory_mb=65536) for i in (1, 2, 3)],
        [Cluster(id="shared-b", hosts=["b1", "b2"])],
    )
    return Topology(
        sites={"edge-a": edge, "cloud-b": cloud},
        areas={"paris": UserAreaDef(id="paris", lat=48.85, lon=2.35)},
        site_latency_ms={"edge-a": {"cloud-b": 15.0}, "cloud-b": {"edge-a": 15.0}},
        area_latency_ms={"paris": {"edge-a": 2.0, "cloud-b": 20.0}},
        site_bandwidth_mbps={"edge-a": {"cloud-b": 100.0}, "cloud-b": {"edge-a": 100.0}},
    )


def workload(id_: str = "web-1", *, replicas: int = 1, cpu: float = 1, service: str = "s1", **kw) -> WorkloadSpec:
    return WorkloadSpec(
        id=id_, service_id=service, tenant="t1", component=kw.pop("component", "web"), image="nginx",
        version="1", replicas=replicas, cpu=cpu, memory_mb=kw.pop("memory_mb", 512), ports=[8080], **kw,
    )  # fmt: skip


def link(id_: str = "link-1", *, max_latency_ms: float = 50, bandwidth_mbps: float = 10) -> LinkRequest:
    return LinkRequest(
        id=id_, service_id="s1", source_site="edge-a", target_site="cloud-b", source_endpoint="web",
        target_endpoint="db", bandwidth_mbps=bandwidth_mbps, max_latency_ms=max_latency_ms,
    )  # fmt: skip


@pytest.fixture
def continuum(tmp_path) -> SimContinuum:
    c = SimContinuum(tmp_path / "sim.db")
    assert c.seed(tiny_topology()) is True
    return c


async def edge_cluster(c: SimContinuum, service: str = "s1", hosts: tuple[str, ...] = ("a1", "a2")) -> None:
    await c.allocate_hosts(f"{service}/alloc", "edge-a", list(hosts), service)
    await c.create_cluster(f"{service}/cluster", f"edge-{service}", "edge-a", list(hosts), service)


def test_seed_loads_hosts_and_shared_clusters_once(continuum):
    assert continuum.seed(tiny_topology()) is False
    hosts = {h.id: h for h in continuum.hosts()}
    assert hosts["a1"].state == "free" and continuum.host_power("a1") == "off"
    assert hosts["b1"].state == "allocated" and hosts["b1"].cluster == "shared-b" and hosts["b1"].service_id is None
    (shared,) = continuum.clusters("cloud-b")
    assert shared.shared and shared.hosts == ["b1", "b2"] and shared.service_id is None


async def test_allocation_is_idempotent_on_op_id(continuum):
    pim = SimPIM(continuum)
    first = await pim.allocate_hosts("op-1", "edge-a", ["a1", "a2"], "s1")
    again = await pim.allocate_hosts("op-1", "edge-a", ["a1", "a2"], "s1")
    assert first == again and [h.id for h in first] == ["a1", "a2"]
    assert all(h.state == "allocated" and h.service_id == "s1" for h in first)
    assert continuum.host_power("a1") == "on"
    assert continuum.op_count("pim.allocate") == 1
    assert continuum.leftovers("s1")["hosts"] == 2


async def test_no_over_allocation(continuum):
    pim = SimPIM(continuum)
    await pim.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    with pytest.raises(CapacityExhausted, match="a1"):
        await pim.allocate_hosts("op-2", "edge-a", ["a2", "a1"], "s2")
    assert continuum.leftovers("s2")["hosts"] == 0  # a2 was not taken either: all or nothing
    with pytest.raises(InvalidRequest, match="b3 does not exist at site edge-a"):
        await pim.allocate_hosts("op-3", "edge-a", ["b3"], "s2")


async def test_concurrent_allocations_of_one_host_give_it_once(continuum):
    results = await asyncio.gather(
        *(continuum.allocate_hosts(f"op-{i}", "edge-a", ["a3"], f"s{i}") for i in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, CapacityExhausted) for r in results) == 4


async def test_release_frees_only_that_allocations_hosts(continuum):
    pim = SimPIM(continuum)
    await pim.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    await pim.allocate_hosts("op-2", "edge-a", ["a2"], "s1")
    assert await pim.release_hosts("rel-1", "op-1", ["a1", "a2", "nope"]) == ["a1"]
    assert await pim.release_hosts("rel-1", "op-1", ["a1", "a2"]) == ["a1"]  # dedup'ed
    hosts = {h.id: h for h in await pim.list_hosts("edge-a")}
    assert hosts["a1"].state == "free" and continuum.host_power("a1") == "off"
    assert hosts["a2"].state == "allocated" and hosts["a2"].service_id == "s1"


async def test_release_refuses_hosts_still_in_a_cluster(continuum):
    await edge_cluster(continuum)
    with pytest.raises(InvalidRequest, match="a1 is still a node of cluster edge-s1"):
        await continuum.release_hosts("rel-1", "s1/alloc", ["a1", "a2"])


async def test_cluster_needs_hosts_allocated_to_its_owner(continuum):
    mcm = SimMCM(continuum)
    with pytest.raises(InvalidRequest, match="a1 is not allocated to s1"):
        await mcm.create_cluster("c-1", "edge-s1", "edge-a", ["a1"], "s1")
    await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s2")
    with pytest.raises(InvalidRequest, match="a1 is not allocated to s1"):
        await mcm.create_cluster("c-1", "edge-s1", "edge-a", ["a1"], "s1")
    assert await mcm.list_clusters("edge-a") == []


async def test_unschedulable_workload_is_refused_and_nothing_created(continuum):
    await edge_cluster(continuum)
    wdm = SimWDM(continuum)
    with pytest.raises(CapacityExhausted, match="workload web-1: replica 3 of 3 unschedulable on cluster edge-s1"):
        await wdm.deploy("d-1", "edge-s1", workload(replicas=3, cpu=3))
    with pytest.raises(CapacityExhausted, match=r"no node has features \['gpu-t4'\]"):
        await wdm.deploy("d-2", "edge-s1", workload(features=["gpu-t4"]))
    assert await wdm.list_workloads() == []
    assert continuum.op_count("wdm.deploy") == 0
    with pytest.raises(NotFound, match="cluster nowhere"):
        await wdm.deploy("d-3", "nowhere", workload())


async def test_scheduler_accounts_for_running_replicas(continuum):
    await edge_cluster(continuum)
    wdm = SimWDM(continuum)
    status = await wdm.deploy("d-1", "edge-s1", workload(replicas=2, cpu=3))
    assert status.endpoint == "web-1.edge-s1.edge-a.sim:8080" and status.ready
    with pytest.raises(CapacityExhausted, match="replica 1 of 1"):
        await wdm.deploy("d-2", "edge-s1", workload("db-1", component="db", cpu=2))
    with pytest.raises(CapacityExhausted, match="replica 3 of 3"):
        await wdm.scale("sc-1", "edge-s1", "web-1", 3)
    assert (await wdm.scale("sc-2", "edge-s1", "web-1", 1)).replicas == 1
    assert (await wdm.deploy("d-3", "edge-s1", workload("db-1", component="db", cpu=2))).replicas == 1


async def test_redeploy_of_same_workload_updates_in_place(continuum):
    await edge_cluster(continuum)
    wdm = SimWDM(continuum)
    await wdm.deploy("d-1", "edge-s1", workload(replicas=1, cpu=3))
    status = await wdm.deploy("d-2", "edge-s1", workload(replicas=2, cpu=3))  # fits only without a copy
    assert status.replicas == 2
    assert len(await wdm.list_workloads("edge-s1")) == 1 and continuum.duplicate_allocations() == 0


async def test_readiness_follows_the_ready_delay(continuum):
    await edge_cluster(continuum)
    continuum.set_ready_delay(0.3)
    wdm = SimWDM(continuum)
    assert (await wdm.deploy("d-1", "edge-s1", workload(replicas=2))).ready_replicas == 0
    await asyncio.sleep(0.35)
    assert (await wdm.status("edge-s1", "web-1")).ready
    upgraded = await wdm.upgrade("u-1", "edge-s1", "web-1", "nginx", "2")
    # rolling: old replicas serve until replaced, yet the workload is ready only once all run "2"
    assert upgraded.version == "2" and upgraded.ready_replicas == 1 and not upgraded.ready
    await asyncio.sleep(0.65)
    assert (await wdm.status("edge-s1", "web-1")).ready
    assert await wdm.status("edge-s1", "missing") is None


async def test_remove_nodes_refuses_when_workloads_would_not_fit(continuum):
    await edge_cluster(continuum)
    mcm = SimMCM(continuum)
    await continuum.deploy("d-1", "edge-s1", workload(replicas=2, cpu=3))
    with pytest.raises(CapacityExhausted, match="cannot remove nodes"):
        await drain_and_remove(mcm, "rm-1", "edge-s1", ["a2"])
    with pytest.raises(TransientFault, match="still run"):  # never drained: refused, nothing evicted
        await mcm.remove_nodes("rm-0", "edge-s1", ["a2"])
    await continuum.scale("sc-1", "edge-s1", "web-1", 1)
    cluster = await drain_and_remove(mcm, "rm-2", "edge-s1", ["a1"])  # its replica moves to a2 if it ran there
    assert cluster is not None and cluster.hosts == ["a2"]
    assert (await continuum.workload_status("edge-s1", "web-1")).replicas == 1
    assert await mcm.remove_nodes("rm-3", "gone", ["a1"]) is None


async def test_partial_drain_leaves_the_nodes_whose_replicas_fit_nowhere(continuum):
    await edge_cluster(continuum)
    mcm = SimMCM(continuum)
    await continuum.deploy("d-1", "edge-s1", workload(replicas=2, cpu=3))  # one on a1, one on a2 (4 cpu each)
    since = time.time()
    result = await mcm.drain_nodes("dr-1", "edge-s1", ["a1", "a2"], partial=True)
    # whichever goes first, the other is stuck: 3 + 3 cpu never fit one 4-cpu node
    assert len(result.draining) + len(result.stuck) == 2 and result.stuck and "fits on no other node" in (
        result.reasons[result.stuck[0]])
    report = continuum.serving("s1", "web", since)
    assert report.min_ready == 2  # nothing evicted
    assert (await mcm.busy_nodes("edge-s1", result.stuck))[result.stuck[0]] == 1


async def test_delete_cluster_removes_its_workloads_and_keeps_hosts_allocated(continuum):
    await edge_cluster(continuum)
    mcm = SimMCM(continuum)
    await continuum.deploy("d-1", "edge-s1", workload())
    await mcm.delete_cluster("del-1", "edge-s1")
    await mcm.delete_cluster("del-2", "edge-s1")  # deleting what does not exist succeeds
    assert await mcm.get_cluster("edge-s1") is None
    assert continuum.workloads() == []
    assert continuum.leftovers("s1") == {"hosts": 2, "clusters": 0, "workloads": 0, "connections": 0}
    assert await continuum.release_hosts("rel-1", "s1/alloc", ["a1", "a2"]) == ["a1", "a2"]
    with pytest.raises(InvalidRequest, match="shared"):
        await mcm.delete_cluster("del-3", "shared-b")


async def test_transient_fault_after_commit_then_retry_returns_stored_result(continuum):
    continuum.set_fault("pim.allocate", transient_rate=1.0, phase="after")
    with pytest.raises(TransientFault):
        await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    assert continuum.leftovers("s1")["hosts"] == 1  # it acted; only the response was lost
    retried = await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")  # dedup'ed: no fault, no action
    assert [h.id for h in retried] == ["a1"]
    assert continuum.op_count("pim.allocate") == 1 and continuum.leftovers("s1")["hosts"] == 1

    await continuum.create_cluster("c-1", "edge-s1", "edge-a", ["a1"], "s1")
    continuum.set_fault("wdm.deploy", transient_rate=1.0, phase="after")
    with pytest.raises(TransientFault):
        await continuum.deploy("d-1", "edge-s1", workload())
    continuum.clear_faults()
    assert (await continuum.deploy("d-1", "edge-s1", workload())).id == "web-1"
    assert len(continuum.workloads()) == 1 and continuum.duplicate_allocations() == 0


async def test_transient_fault_before_acting_leaves_nothing(continuum):
    continuum.set_fault("tcm.connect", transient_rate=1.0, phase="before")
    with pytest.raises(TransientFault):
        await continuum.connect("l-1", link())
    assert continuum.connections() == [] and continuum.op_count() == 0


async def test_random_transient_faults_never_duplicate(continuum):
    continuum.set_fault("tcm.connect", transient_rate=0.5)
    for _ in range(50):
        try:
            await continuum.connect("l-1", link())
            break
        except TransientFault:
            continue
    assert [c.id for c in continuum.connections()] == ["link-1"] and continuum.op_count("tcm.connect") == 1


async def test_permanent_fault_raises_every_time(continuum):
    continuum.set_fault("pim.allocate", permanent=True)
    for _ in range(3):
        with pytest.raises(PermanentFault, match="injected permanent failure on pim.allocate"):
            await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    assert continuum.leftovers("s1")["hosts"] == 0
    continuum.clear_faults()
    await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    continuum.set_fault("pim.allocate", permanent=True)
    assert [h.id for h in await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")] == ["a1"]


async def test_latency_is_injected_before_acting(continuum):
    continuum.set_latency("pim.allocate", 0.2)
    started = time.monotonic()
    await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    assert time.monotonic() - started >= 0.2


async def test_state_and_faults_are_shared_through_the_file(continuum, tmp_path):
    await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    other = SimContinuum(tmp_path / "sim.db")  # a restarted worker
    assert other.seed(tiny_topology()) is False
    assert {h.id: h.state for h in other.hosts("edge-a")}["a1"] == "allocated"
    assert [h.id for h in await other.allocate_hosts("op-1", "edge-a", ["a1"], "s1")] == ["a1"]

    script = (
        "import sys; from legato.simulator import SimContinuum; "
        "SimContinuum(sys.argv[1]).set_fault('pim.allocate', permanent=True)"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}  # another process, same file
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "sim.db")], check=True, env=env)
    with pytest.raises(PermanentFault):
        await continuum.allocate_hosts("op-2", "edge-a", ["a2"], "s1")


async def test_op_id_reused_for_another_kind_is_refused(continuum):
    await continuum.allocate_hosts("op-1", "edge-a", ["a1"], "s1")
    with pytest.raises(InvalidRequest, match="already used for pim.allocate"):
        await continuum.release_hosts("op-1", "op-1", ["a1"])


async def test_link_latency_and_bandwidth_are_checked(continuum):
    tcm = SimTCM(continuum)
    with pytest.raises(InvalidRequest, match="edge-a and cloud-b is 15 ms, above the 10 ms"):
        await tcm.connect("l-0", link(max_latency_ms=10))
    conn = await tcm.connect("l-1", link(bandwidth_mbps=60))
    assert conn.kind == "link" and conn.latency_ms == 15
    with pytest.raises(CapacityExhausted, match="100 Mbps, 60 in use, 50 requested"):
        await tcm.connect("l-2", link("link-2", bandwidth_mbps=50))
    await tcm.disconnect("dl-1", "link-1")
    await tcm.disconnect("dl-2", "link-1")
    assert (await tcm.connect("l-2", link("link-2", bandwidth_mbps=50))).id == "link-2"


async def test_user_qos_checks_area_latency(continuum):
    tcm = SimTCM(continuum)

    def qos(site: str) -> QosRequest:
        return QosRequest(
            id=f"qos-{site}", service_id="s1", area="paris", site=site, endpoint="web", profile="low-latency",
            bandwidth_mbps=10, max_latency_ms=10,
        )  # fmt: skip

    with pytest.raises(InvalidRequest, match="user area paris to site cloud-b is 20 ms"):
        await tcm.set_user_qos("q-1", qos("cloud-b"))
    assert (await tcm.set_user_qos("q-2", qos("edge-a"))).kind == "qos"
    assert [c.id for c in await tcm.list_connections("s1")] == ["qos-edge-a"]
    await tcm.clear_user_qos("cq-1", "qos-edge-a")
    assert await tcm.list_connections() == []


async def test_leftovers_and_duplicates_count_right(continuum):
    await edge_cluster(continuum)
    await continuum.deploy("d-1", "edge-s1", workload())
    await continuum.connect("l-1", link())
    assert continuum.leftovers("s1") == {"hosts": 2, "clusters": 1, "workloads": 1, "connections": 1}
    assert continuum.leftovers("s2") == {"hosts": 0, "clusters": 0, "workloads": 0, "connections": 0}
    assert continuum.duplicate_allocations() == 0

    await continuum.deploy("d-2", "edge-s1", workload("web-2"))  # same component, a second copy
    await continuum.connect("l-2", link("link-2"))  # same ends, a second link
    assert continuum.duplicate_allocations() == 2

    assert continuum.delete_workload_behind_back("web-2") == 1
    assert continuum.leftovers("s1")["workloads"] == 1


def test_fault_settings_are_validated(continuum):
    with pytest.raises(InvalidRequest, match="unknown operation kind"):
        continuum.set_fault("pim.explode", permanent=True)
    with pytest.raises(InvalidRequest, match="between 0 and 1"):
        continuum.set_fault("pim.allocate", transient_rate=2)


def test_reset_wipes_everything(continuum):
    continuum.set_fault("pim.allocate", permanent=True)
    continuum.reset()
    assert continuum.hosts() == [] and continuum.op_count() == 0
    assert continuum.seed(tiny_topology()) is True
