"""Day-2 behaviour of the simulated continuum: canary metrics, rolling upgrades with surge, and the
replica and connection history that `serving()` judges continuity from (make-before-break)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from legato.adapters.errors import CapacityExhausted, InvalidRequest, TransientFault
from legato.adapters.mcm.sim import SimMCM
from legato.adapters.tcm.sim import SimTCM
from legato.adapters.wdm.sim import SimWDM
from legato.config import PROJECT_ROOT
from legato.model import Cluster, Host, Site, Tier, Topology, UserAreaDef
from legato.model.connectivity import QosRequest
from legato.model.workloads import WorkloadSpec
from legato.simulator import KINDS, SimContinuum
from tests.unit.simulator.nodes import drain_and_remove

DELAY = 0.2  # ready delay of a replica in the timed tests


def topology() -> Topology:
    """Two edge sites a user area reaches; edge-b has a shared cluster to move a component onto."""

    def site(id_: str, hosts: list[Host], clusters: list[Cluster]) -> Site:
        return Site(
            id=id_, tier=Tier.edge, provider="acme", region="eu-west", country="FR", lat=48.8, lon=2.3,
            cost_per_vcpu_hour=0.05, hosts=hosts, clusters=clusters,
        )  # fmt: skip

    a = site(
        "edge-a", [Host(id="a1", cpu=4, memory_mb=8192, features=["sriov"]), Host(id="a2", cpu=4, memory_mb=8192)], []
    )
    b = site("edge-b", [Host(id="b1", cpu=8, memory_mb=16384)], [Cluster(id="shared-b", hosts=["b1"])])
    return Topology(
        sites={"edge-a": a, "edge-b": b},
        areas={"paris": UserAreaDef(id="paris", lat=48.85, lon=2.35)},
        site_latency_ms={"edge-a": {"edge-b": 5.0}, "edge-b": {"edge-a": 5.0}},
        area_latency_ms={"paris": {"edge-a": 2.0, "edge-b": 3.0}},
        site_bandwidth_mbps={"edge-a": {"edge-b": 100.0}, "edge-b": {"edge-a": 100.0}},
    )


def spec(id_: str = "web-1", *, replicas: int = 2, cpu: float = 1, version: str = "1", **kw) -> WorkloadSpec:
    return WorkloadSpec(
        id=id_, service_id="s1", tenant="t1", component=kw.pop("component", "web"), image="shop/web",
        version=version, replicas=replicas, cpu=cpu, memory_mb=512, ports=[8080], **kw,
    )  # fmt: skip


def qos(id_: str, site: str, endpoint: str) -> QosRequest:
    return QosRequest(
        id=id_, service_id="s1", area="paris", site=site, endpoint=endpoint, profile="low-latency",
        bandwidth_mbps=10, max_latency_ms=10,
    )  # fmt: skip


@pytest.fixture
def continuum(tmp_path) -> SimContinuum:
    c = SimContinuum(tmp_path / "sim.db")
    assert c.seed(topology()) is True
    return c


async def edge_cluster(c: SimContinuum, hosts: tuple[str, ...] = ("a1", "a2")) -> str:
    await c.allocate_hosts("s1/alloc", "edge-a", list(hosts), "s1")
    await c.create_cluster("s1/cluster", "edge-s1", "edge-a", list(hosts), "s1")
    return "edge-s1"


async def deployed(c: SimContinuum, cluster: str, workload: WorkloadSpec) -> str:
    """Deploy, wait until ready, return the endpoint."""
    status = await c.deploy(f"deploy/{workload.id}", cluster, workload)
    while not (await c.workload_status(cluster, workload.id)).ready:
        await asyncio.sleep(0.02)
    return status.endpoint


async def test_metrics_report_the_error_rate_injected_for_each_version(continuum, tmp_path):
    cluster = await edge_cluster(continuum)
    wdm = SimWDM(continuum)
    await wdm.deploy("d-1", cluster, spec(replicas=2))
    await wdm.deploy("d-2", cluster, spec("web-canary", replicas=1, version="2"))
    assert (await wdm.metrics(cluster, "web-canary")).error_rate == 0.0  # the default

    script = (
        "import sys; from legato.simulator import SimContinuum; "
        "SimContinuum(sys.argv[1]).set_error_rate('2', 0.25)"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}  # another process, same file
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "sim.db")], check=True, env=env)

    canary, stable = await wdm.metrics(cluster, "web-canary"), await wdm.metrics(cluster, "web-1")
    assert (canary.id, canary.version, canary.error_rate, canary.requests) == ("web-canary", "2", 0.25, 100)
    assert (stable.version, stable.error_rate, stable.requests) == ("1", 0.0, 200)
    assert await wdm.metrics(cluster, "missing") is None

    continuum.clear_faults()  # error rates are injected faults too
    assert (await wdm.metrics(cluster, "web-canary")).error_rate == 0.0
    with pytest.raises(InvalidRequest, match="between 0 and 1"):
        continuum.set_error_rate("2", 1.5)


async def test_metrics_is_a_faultable_kind(continuum):
    assert "wdm.metrics" in KINDS
    cluster = await edge_cluster(continuum)
    await continuum.deploy("d-1", cluster, spec())
    continuum.set_fault("wdm.metrics", transient_rate=1.0)
    with pytest.raises(TransientFault, match="wdm.metrics"):
        await continuum.metrics(cluster, "web-1")
    continuum.clear_faults()
    continuum.set_latency("wdm.metrics", 0.1)
    started = time.monotonic()
    assert (await continuum.metrics(cluster, "web-1")).requests == 200
    assert time.monotonic() - started >= 0.1


async def test_rolling_upgrade_keeps_every_replica_serving_and_ends_on_the_new_version(continuum):
    cluster = await edge_cluster(continuum)
    continuum.set_ready_delay(DELAY)
    await deployed(continuum, cluster, spec(replicas=3))
    continuum.set_error_rate("1", 1.0)  # tells the versions apart in the metrics

    since = time.time()
    upgraded = await continuum.upgrade("u-1", cluster, "web-1", "shop/web", "2")
    assert upgraded.version == "2" and upgraded.ready_replicas == 2 and not upgraded.ready
    assert await continuum.upgrade("u-1", cluster, "web-1", "shop/web", "2") == upgraded  # dedup'ed
    mid = await continuum.metrics(cluster, "web-1")
    assert mid.version == "2" and mid.error_rate == 1.0 and mid.requests == 300  # old replicas still serve

    await asyncio.sleep(3 * DELAY + 0.05)
    done = await continuum.workload_status(cluster, "web-1")
    assert done.ready and done.ready_replicas == 3 and done.version == "2"
    after = await continuum.metrics(cluster, "web-1")
    assert after.error_rate == 0.0 and after.requests == 300  # every serving replica runs "2"

    report = continuum.serving("s1", "web", since)
    assert (report.min_ready, report.max_ready, report.final_ready) == (3, 3, 3)
    assert report.path_connected is None  # no user QoS session to this component

    # the rollout used one surge replica at a time, and gave it back: room for 5 more cpu is free
    await continuum.deploy("d-2", cluster, spec("db-1", component="db", replicas=5, cpu=1))
    assert continuum.op_count("wdm.upgrade") == 1 and continuum.duplicate_allocations() == 0


async def test_upgrading_to_the_running_version_changes_nothing(continuum):
    cluster = await edge_cluster(continuum)
    continuum.set_ready_delay(DELAY)
    await deployed(continuum, cluster, spec(replicas=2))
    since = time.time()
    status = await continuum.upgrade("u-1", cluster, "web-1", "shop/web", "1")
    assert status.ready and status.version == "1"
    assert continuum.serving("s1", "web", since).min_ready == 2


async def test_upgrade_without_room_for_a_surge_replica_changes_nothing(continuum):
    cluster = await edge_cluster(continuum)
    continuum.set_ready_delay(DELAY)
    # a1 is the only sriov node and is full; a2 has room but lacks the feature
    await deployed(continuum, cluster, spec(replicas=2, cpu=2, features=["sriov"]))
    since = time.time()
    with pytest.raises(CapacityExhausted, match="no room for a surge replica to upgrade on cluster edge-s1"):
        await continuum.upgrade("u-1", cluster, "web-1", "shop/web", "2")
    status = await continuum.workload_status(cluster, "web-1")
    assert status.version == "1" and status.ready and status.ready_replicas == 2
    assert continuum.op_count("wdm.upgrade") == 0
    assert (await continuum.metrics(cluster, "web-1")).version == "1"
    assert continuum.serving("s1", "web", since).min_ready == 2


async def test_rolling_back_mid_rollout_keeps_serving_and_ends_on_the_old_version(continuum):
    cluster = await edge_cluster(continuum)
    continuum.set_ready_delay(DELAY)
    await deployed(continuum, cluster, spec(replicas=3))
    continuum.set_error_rate("2", 1.0)
    since = time.time()
    await continuum.upgrade("u-1", cluster, "web-1", "shop/web", "2")
    await asyncio.sleep(1.5 * DELAY)  # one replica replaced, the surge of the second still starting
    back = await continuum.upgrade("u-2", cluster, "web-1", "shop/web", "1")
    assert back.version == "1" and not back.ready
    await asyncio.sleep(2 * DELAY + 0.05)
    done = await continuum.workload_status(cluster, "web-1")
    assert done.ready and done.version == "1"
    assert (await continuum.metrics(cluster, "web-1")).error_rate == 0.0
    assert continuum.serving("s1", "web", since).min_ready == 3


async def test_scaling_down_then_up_shows_the_dip(continuum):
    cluster = await edge_cluster(continuum)
    continuum.set_ready_delay(DELAY)
    await deployed(continuum, cluster, spec(replicas=3))
    since = time.time()
    await continuum.scale("sc-1", cluster, "web-1", 1)
    scaled = await continuum.scale("sc-2", cluster, "web-1", 3)
    assert scaled.ready_replicas == 1 and not scaled.ready
    await asyncio.sleep(DELAY + 0.05)
    report = continuum.serving("s1", "web", since)
    assert (report.min_ready, report.max_ready, report.final_ready) == (1, 3, 3)
    assert since < report.min_ready_at < report.until


async def test_removing_a_workload_shows_zero_serving_and_keeps_its_history(continuum):
    cluster = await edge_cluster(continuum)
    await deployed(continuum, cluster, spec(replicas=2))
    before = time.time()
    await asyncio.sleep(0.01)
    removed_at = time.time()
    await continuum.remove("rm-1", cluster, "web-1")
    report = continuum.serving("s1", "web", before)
    assert (report.min_ready, report.max_ready, report.final_ready) == (0, 2, 0)
    assert continuum.serving("s1", "web", before, removed_at).min_ready == 2  # history, not deletion
    assert continuum.leftovers("s1")["workloads"] == 0 and continuum.workloads() == []

    await deployed(continuum, cluster, spec("web-2", replicas=1))
    since = time.time()
    await continuum.delete_cluster("del-1", cluster)
    assert continuum.serving("s1", "web", since).final_ready == 0
    with pytest.raises(InvalidRequest, match="before since"):
        continuum.serving("s1", "web", since, since - 1)


async def test_path_breaks_when_the_qos_session_goes_while_replicas_run(continuum):
    cluster = await edge_cluster(continuum)
    endpoint = await deployed(continuum, cluster, spec(replicas=2))
    tcm = SimTCM(continuum)
    await tcm.set_user_qos("q-1", qos("qos-1", "edge-a", endpoint))
    since = time.time()
    assert continuum.serving("s1", "web", since).path_connected is True
    await tcm.clear_user_qos("cq-1", "qos-1")
    report = continuum.serving("s1", "web", since)
    assert report.path_connected is False and report.disconnected_at is not None
    assert report.min_ready == 2  # the replicas ran all along; users could not reach them
    assert continuum.leftovers("s1")["connections"] == 0 and await tcm.list_connections() == []
    assert continuum.serving("s1", "db", since).path_connected is None


async def test_moving_a_component_make_before_break_keeps_the_path(continuum):
    cluster = await edge_cluster(continuum)
    continuum.set_ready_delay(DELAY)
    old = await deployed(continuum, cluster, spec("web-a", replicas=2))
    tcm = SimTCM(continuum)
    await tcm.set_user_qos("q-a", qos("qos-a", "edge-a", old))
    since = time.time()
    new = await deployed(continuum, "shared-b", spec("web-b", replicas=2))  # make ...
    await tcm.set_user_qos("q-b", qos("qos-b", "edge-b", new))
    await tcm.clear_user_qos("cq-a", "qos-a")  # ... before break
    await continuum.remove("rm-a", cluster, "web-a")
    report = continuum.serving("s1", "web", since)
    assert report.path_connected is True and report.min_ready == 2 and report.max_ready == 4
    assert report.final_ready == 2 and continuum.duplicate_allocations() == 0

    # the other way round: the session moves before the new replicas are ready
    since = time.time()
    await continuum.deploy("d-a", cluster, spec("web-a", replicas=2))
    await tcm.set_user_qos("q-a2", qos("qos-a2", "edge-a", old))
    await tcm.clear_user_qos("cq-b", "qos-b")
    await asyncio.sleep(DELAY + 0.05)
    report = continuum.serving("s1", "web", since)
    assert report.path_connected is False and report.final_ready == 4
    assert continuum.serving("s1", "web", time.time()).path_connected is True  # connected again now


async def test_repointing_a_qos_session_in_place_keeps_the_path(continuum):
    cluster = await edge_cluster(continuum)
    first = await deployed(continuum, cluster, spec("web-a", replicas=1))
    second = await deployed(continuum, "shared-b", spec("web-b", replicas=1))
    await continuum.set_user_qos("q-1", qos("qos-1", "edge-a", first))
    since = time.time()
    await continuum.set_user_qos("q-2", qos("qos-1", "edge-b", second))  # same session, new endpoint
    assert [c.id for c in continuum.connections("s1")] == ["qos-1"]
    assert continuum.serving("s1", "web", since).path_connected is True
    assert continuum.duplicate_allocations() == 0


async def test_draining_a_node_mid_rollout_restarts_its_replicas_and_finishes_the_rollout(continuum):
    await continuum.allocate_hosts("s1/alloc", "edge-a", ["a1", "a2"], "s1")
    await continuum.create_cluster("s1/cluster", "edge-s1", "edge-a", ["a1", "a2"], "s1")
    continuum.set_ready_delay(DELAY)
    await deployed(continuum, "edge-s1", spec(replicas=2, cpu=1))  # both on a1 (first fit)
    await continuum.upgrade("u-1", "edge-s1", "web-1", "shop/web", "2")
    since = time.time()
    cluster = await drain_and_remove(SimMCM(continuum), "rm-1", "edge-s1", ["a1"])
    assert cluster.hosts == ["a2"]
    assert continuum.serving("s1", "web", since).min_ready == 2  # make-before-break, mid-rollout too
    await asyncio.sleep(3 * DELAY + 0.05)
    done = await continuum.workload_status("edge-s1", "web-1")
    assert done.ready and done.version == "2" and done.replicas == 2
    # a2 holds exactly the two replicas: two more cpu fit, a third does not
    await continuum.deploy("d-2", "edge-s1", spec("db-1", component="db", replicas=2, cpu=1))
    with pytest.raises(CapacityExhausted):
        await continuum.deploy("d-3", "edge-s1", spec("db-2", component="db2", replicas=1, cpu=0.5))


async def test_a_version_that_never_becomes_ready_stalls_its_rollout_and_keeps_the_old_serving(continuum):
    cluster = await edge_cluster(continuum)
    await deployed(continuum, cluster, spec(replicas=2, cpu=1))
    continuum.set_never_ready("2")
    since = time.time()
    await continuum.upgrade("u-1", cluster, "web-1", "shop/web", "2")
    await asyncio.sleep(0.1)
    stalled = await continuum.workload_status(cluster, "web-1")
    assert not stalled.ready and stalled.ready_replicas == 1 and sum(stalled.nodes.values()) == 3  # one surge
    await continuum.upgrade("u-2", cluster, "web-1", "shop/web", "1")  # the rollback an operation does
    back = await continuum.workload_status(cluster, "web-1")
    assert back.ready and back.version == "1" and sum(back.nodes.values()) == 2
    assert continuum.serving("s1", "web", since).min_ready == 2


def test_a_file_from_before_day_two_keeps_its_state(tmp_path):
    path = tmp_path / "sim.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE clusters (id TEXT PRIMARY KEY, site TEXT NOT NULL, owner TEXT, shared INTEGER NOT NULL,
            kubernetes_version TEXT NOT NULL, created_op TEXT);
        CREATE TABLE workloads (cluster TEXT NOT NULL, id TEXT NOT NULL, service_id TEXT NOT NULL,
            tenant TEXT NOT NULL, component TEXT NOT NULL, image TEXT NOT NULL, version TEXT NOT NULL,
            replicas INTEGER NOT NULL, cpu REAL NOT NULL, memory_mb INTEGER NOT NULL, gpu INTEGER NOT NULL,
            features TEXT NOT NULL, ports TEXT NOT NULL, env TEXT NOT NULL, labels TEXT NOT NULL,
            endpoint TEXT NOT NULL, PRIMARY KEY (cluster, id));
        CREATE TABLE replicas (cluster TEXT NOT NULL, workload TEXT NOT NULL, idx INTEGER NOT NULL,
            host TEXT NOT NULL, ready_at REAL NOT NULL, PRIMARY KEY (cluster, workload, idx));
        CREATE TABLE connections (id TEXT PRIMARY KEY, service_id TEXT NOT NULL, kind TEXT NOT NULL,
            source TEXT NOT NULL, target TEXT NOT NULL, source_endpoint TEXT, target_endpoint TEXT,
            profile TEXT, bandwidth_mbps REAL NOT NULL, latency_ms REAL NOT NULL);
        INSERT INTO clusters VALUES ('c1', 'edge-a', 's1', 0, '1.31', 'op');
        INSERT INTO workloads VALUES ('c1', 'web-1', 's1', 't1', 'web', 'shop/web', '1', 1, 1, 512, 0, '[]',
            '[8080]', '{}', '{}', 'web-1.c1.edge-a.sim:8080');
        INSERT INTO replicas VALUES ('c1', 'web-1', 0, 'a1', 1.0);
        INSERT INTO connections VALUES ('qos-1', 's1', 'qos', 'paris', 'edge-a', NULL,
            'web-1.c1.edge-a.sim:8080', 'low-latency', 10, 2);
        """
    )
    db.close()
    continuum = SimContinuum(path)
    (status,) = continuum.workloads()
    assert status.id == "web-1" and status.ready
    assert [c.id for c in continuum.connections()] == ["qos-1"]
    report = continuum.serving("s1", "web", time.time() - 1)
    assert report.min_ready == 1 and report.path_connected is True
    assert SimContinuum(path).workloads() == [status]  # opening it again changes nothing
