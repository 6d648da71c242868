"""The simulator's load model (daily curves, flash crowds, user shifts, time compression) and the
KPIs it derives from placement, load and capacity: utilisation, queueing latency, overload errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from legato.adapters.errors import InvalidRequest, TransientFault
from legato.config import PROJECT_ROOT
from legato.model import Cluster, Host, Site, Tier, Topology, UserAreaDef
from legato.model.telemetry import AreaDemand, WorkloadToMeasure
from legato.model.workloads import WorkloadSpec
from legato.simulator import SimContinuum
from legato.simulator.kpis import DEFAULT_CPU_SECONDS, P95
from legato.simulator.load import DAY, HOUR, Clock, DailyCurve, FlashCrowd, LoadModel, UserShift

MIDNIGHT = 1_796_000_000 - 1_796_000_000 % DAY  # a UTC midnight


def topology() -> Topology:
    """edge-a is 2 ms from paris and 30 ms from lyon; cloud-b 20 ms from both; each site a shared cluster."""

    def site(id_: str, tier: Tier, hosts: list[str], cluster: str) -> Site:
        return Site(id=id_, tier=tier, provider="acme", region="eu-west", country="FR", lat=48.8, lon=2.3,
                    cost_per_vcpu_hour=0.05, hosts=[Host(id=h, cpu=8, memory_mb=16384) for h in hosts],
                    clusters=[Cluster(id=cluster, hosts=hosts)])  # fmt: skip

    return Topology(
        sites={"edge-a": site("edge-a", Tier.edge, ["a1", "a2"], "shared-a"),
               "cloud-b": site("cloud-b", Tier.cloud, ["b1", "b2"], "shared-b")},
        areas={"paris": UserAreaDef(id="paris", lat=48.85, lon=2.35),
               "lyon": UserAreaDef(id="lyon", lat=45.7, lon=4.8)},
        site_latency_ms={"edge-a": {"cloud-b": 15.0}, "cloud-b": {"edge-a": 15.0}},
        area_latency_ms={"paris": {"edge-a": 2.0, "cloud-b": 20.0}, "lyon": {"edge-a": 30.0, "cloud-b": 20.0}},
    )  # fmt: skip


@pytest.fixture
def sim(tmp_path) -> SimContinuum:
    c = SimContinuum(tmp_path / "sim.db")
    c.seed(topology())
    return c


def spec(component: str = "web", replicas: int = 1, cpu: float = 0.5, version: str = "1.0") -> WorkloadSpec:
    return WorkloadSpec(id=f"{component}-1", service_id="s1", tenant="t1", component=component, image="app",
                        version=version, replicas=replicas, cpu=cpu, memory_mb=256)  # fmt: skip


def at(cluster: str, site: str, *areas: tuple[str, float], component: str = "web",
       upstream: tuple[str, ...] = ()) -> WorkloadToMeasure:
    return WorkloadToMeasure(service_id="s1", component=component, cluster=cluster, workload_id=f"{component}-1",
                             site=site, areas=[AreaDemand(area=a, demand_rps=r) for a, r in areas],
                             upstream=list(upstream))  # fmt: skip


def after(sim: SimContinuum, deployed: list[WorkloadToMeasure], window: float = 10.0):
    """The KPIs over a window that starts once what was just deployed runs (a future window: the
    replica history is written ahead, and the load is a function of time)."""
    return sim.component_kpis(deployed, window, until=time.time() + 1 + window)


def mm1_p95_ms(cpu: float, rho: float, cost: float = DEFAULT_CPU_SECONDS) -> float:
    return 1000 * P95 / (cpu / cost * (1 - rho))


# ---- the load model


def test_a_daily_curve_peaks_at_its_hour_utc_or_local():
    utc = DailyCurve(amplitude=0.5, peak_hour=18, clock="utc")
    hours = [MIDNIGHT + h * HOUR for h in range(24)]
    assert max(hours, key=lambda t: utc.factor(t, longitude=0)) == MIDNIGHT + 18 * HOUR
    assert utc.factor(MIDNIGHT + 18 * HOUR, 0) == pytest.approx(1.5)
    assert utc.factor(MIDNIGHT + 6 * HOUR, 0) == pytest.approx(0.5)
    assert sum(utc.factor(t, 0) for t in hours) / 24 == pytest.approx(1.0)  # the declared demand is the day's mean
    local = DailyCurve(amplitude=0.5, peak_hour=18, clock="local")  # 30 degrees east: 2 h ahead of UTC
    assert max(hours, key=lambda t: local.factor(t, longitude=30)) == MIDNIGHT + 16 * HOUR


def test_a_flash_crowd_multiplies_its_area_for_its_duration_only():
    model = LoadModel(crowds=[FlashCrowd("paris", start=MIDNIGHT + 100, duration=60, multiplier=5)])
    assert model.demand("paris", 10, MIDNIGHT + 99) == {"paris": 10}
    assert model.demand("paris", 10, MIDNIGHT + 100) == {"paris": 50}
    assert model.demand("paris", 10, MIDNIGHT + 159) == {"paris": 50}
    assert model.demand("paris", 10, MIDNIGHT + 160) == {"paris": 10}
    assert model.demand("lyon", 10, MIDNIGHT + 120) == {"lyon": 10}


def test_a_shift_moves_users_over_its_duration_and_they_follow_their_new_area():
    model = LoadModel(shifts=[UserShift("paris", "lyon", start=MIDNIGHT, duration=100, share=0.6)],
                      crowds=[FlashCrowd("lyon", start=MIDNIGHT + 500, duration=10, multiplier=2)])  # fmt: skip
    assert model.demand("paris", 10, MIDNIGHT) == {"paris": 10}
    assert model.demand("paris", 10, MIDNIGHT + 50) == pytest.approx({"paris": 7, "lyon": 3})
    assert model.demand("paris", 10, MIDNIGHT + 100) == pytest.approx({"paris": 4, "lyon": 6})
    assert model.demand("paris", 10, MIDNIGHT + 400) == pytest.approx({"paris": 4, "lyon": 6})  # they stay
    assert model.demand("paris", 10, MIDNIGHT + 505) == pytest.approx({"paris": 4, "lyon": 12})  # lyon's crowd
    assert model.demand("lyon", 10, MIDNIGHT + 50) == {"lyon": 10}  # lyon's own users are not moved


def test_time_compression_runs_the_sim_clock_faster_from_its_start_and_every_process_sees_it(sim, tmp_path):
    assert Clock(factor=1440, sim_start=MIDNIGHT, real_start=1000).sim(1060) == MIDNIGHT + DAY  # a day a minute
    sim.set_compression(1440, sim_start=MIDNIGHT)
    begun = time.time()
    time.sleep(0.2)
    other = SimContinuum(tmp_path / "sim.db")  # another reader of the same file, as a worker is
    elapsed = time.time() - begun
    assert MIDNIGHT + 1440 * 0.2 <= other.sim_now() <= MIDNIGHT + 1440 * (elapsed + 0.05)
    sim.set_compression(1)  # carries on from the sim time reached, without a jump
    assert other.sim_now() == pytest.approx(MIDNIGHT + 1440 * (time.time() - begun), abs=1440 * 0.1)
    sim.clear_load()
    assert other.sim_now() == pytest.approx(time.time(), abs=1)


async def test_the_load_another_process_sets_is_the_load_every_reader_derives_from(sim, tmp_path):
    """A test or the API sets the load in its process; the worker's readings follow it."""
    await sim.deploy("op-1", "shared-a", spec(replicas=2))
    script = ("import sys, time; from legato.simulator import SimContinuum; c = SimContinuum(sys.argv[1]); "
              "c.add_flash_crowd('paris', time.time() - 60, 3600, 4); c.set_request_cost('s1', 'web', 0.02)")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "sim.db")], check=True, env=env)
    kpis = after(sim, [at("shared-a", "edge-a", ("paris", 10))])[0]
    assert kpis.request_rate_rps == pytest.approx(40)
    assert kpis.cpu_utilisation == pytest.approx(40 * 0.02 / (2 * 0.5))


def test_load_controls_refuse_what_cannot_be(sim):
    with pytest.raises(InvalidRequest, match="unknown user area 'atlantis'"):
        sim.set_daily_curve("atlantis", 0.5, 18)
    for call in (lambda: sim.set_daily_curve("paris", 1.5, 18), lambda: sim.set_daily_curve("paris", 0.5, 25),
                 lambda: sim.add_flash_crowd("paris", MIDNIGHT, 0, 3),
                 lambda: sim.add_user_shift("paris", "paris", 0, 1, 0.5),
                 lambda: sim.add_user_shift("paris", "lyon", 0, 1, 1.5), lambda: sim.set_compression(0),
                 lambda: sim.set_request_cost("s1", "web", 0)):  # fmt: skip
        with pytest.raises(InvalidRequest):
            call()
    assert sim.load().curves == {} and sim.load().crowds == [] and sim.load().shifts == []


# ---- the KPIs derived from it


async def test_more_replicas_lower_utilisation_and_latency(sim):
    await sim.deploy("op-1", "shared-a", spec(replicas=1, cpu=0.5))
    one = after(sim, [at("shared-a", "edge-a", ("paris", 30))])[0]
    assert one.request_rate_rps == pytest.approx(30)
    assert one.cpu_utilisation == pytest.approx(30 * DEFAULT_CPU_SECONDS / 0.5)  # 0.6
    assert one.error_rate == 0 and one.ready_replicas == 1
    assert one.areas["paris"].latency_p95_ms == pytest.approx(2 + mm1_p95_ms(0.5, 0.6))

    await sim.scale("op-2", "shared-a", "web-1", 3)
    three = after(sim, [at("shared-a", "edge-a", ("paris", 30))])[0]
    assert three.ready_replicas == 3
    assert three.cpu_utilisation == pytest.approx(0.2)
    assert three.areas["paris"].latency_p95_ms == pytest.approx(2 + mm1_p95_ms(0.5, 0.2))
    assert three.areas["paris"].latency_p95_ms < one.areas["paris"].latency_p95_ms


async def test_overload_fails_the_excess_and_injected_errors_add_to_it(sim):
    await sim.deploy("op-1", "shared-a", spec(replicas=2, cpu=0.5))
    sim.set_request_cost("s1", "web", 0.05)  # 10 req/s a replica
    kpis = after(sim, [at("shared-a", "edge-a", ("paris", 40))])[0]
    assert kpis.cpu_utilisation == pytest.approx(2.0)
    assert kpis.error_rate == pytest.approx(0.5)  # capacity is 20 of the 40 req/s
    assert kpis.areas["paris"].latency_p95_ms is not None  # the served half is slow, not absent
    sim.set_error_rate("1.0", 0.2)
    assert after(sim, [at("shared-a", "edge-a", ("paris", 40))])[0].error_rate == pytest.approx(0.5 + 0.5 * 0.2)


async def test_an_area_far_from_the_site_sees_its_network_latency_on_top(sim):
    await sim.deploy("op-1", "shared-a", spec())
    kpis = after(sim, [at("shared-a", "edge-a", ("paris", 10), ("lyon", 10))])[0]
    assert kpis.request_rate_rps == pytest.approx(20)
    paris, lyon = kpis.areas["paris"].latency_p95_ms, kpis.areas["lyon"].latency_p95_ms
    assert lyon - paris == pytest.approx(30 - 2)  # the same queue, 28 ms more network


async def test_a_replica_not_ready_serves_nothing_and_nothing_ready_means_errors_not_latency(sim):
    await sim.deploy("op-1", "shared-a", spec(replicas=1))
    sim.set_ready_delay(3600)
    await sim.scale("op-2", "shared-a", "web-1", 3)  # two more, not ready for an hour
    kpis = after(sim, [at("shared-a", "edge-a", ("paris", 30))])[0]
    assert kpis.ready_replicas == 1
    assert kpis.cpu_utilisation == pytest.approx(0.6)  # the one ready replica carries it all

    sim.fail_host("a1")
    sim.fail_host("a2")  # the ready replica stops; nothing else was ready
    down = after(sim, [at("shared-a", "edge-a", ("paris", 30))])[0]
    assert down.ready_replicas == 0
    assert down.error_rate == 1.0 and down.cpu_utilisation is None
    assert down.areas["paris"].latency_p95_ms is None and down.request_rate_rps == pytest.approx(30)


async def test_users_go_to_the_nearest_ready_workload_of_their_entry_component(sim):
    await sim.deploy("op-b", "shared-b", spec())
    both = [at("shared-a", "edge-a", ("paris", 10)), at("shared-b", "cloud-b", ("paris", 10))]
    sim.set_ready_delay(3600)
    await sim.deploy("op-a", "shared-a", spec())  # near paris, but not ready yet
    near, far = after(sim, both)
    assert (near.request_rate_rps, far.request_rate_rps) == (0, pytest.approx(10))
    assert near.error_rate is None and far.areas["paris"].latency_p95_ms > 20  # served from cloud-b, 20 ms away

    sim.set_ready_delay(0)
    await sim.remove("op-a-gone", "shared-a", "web-1")
    await sim.deploy("op-a-again", "shared-a", spec())
    near, far = after(sim, both)
    assert (near.request_rate_rps, far.request_rate_rps) == (pytest.approx(10), 0)


async def test_a_linked_component_gets_a_call_per_admitted_request_and_unknown_workloads_get_none(sim):
    await sim.deploy("op-web", "shared-a", spec("web", replicas=1))
    await sim.deploy("op-db", "shared-b", spec("db", replicas=1, cpu=1))
    sim.set_request_cost("s1", "web", 0.05)  # web admits 10 of the 15 req/s
    web, db, ghost = after(sim, [at("shared-a", "edge-a", ("paris", 15)),
                                 at("shared-b", "cloud-b", component="db", upstream=("web",)),
                                 at("shared-b", "cloud-b", component="cache")])  # fmt: skip
    assert web.error_rate == pytest.approx(1 / 3)
    assert db.request_rate_rps == pytest.approx(10) and db.areas == {}
    assert db.cpu_utilisation == pytest.approx(10 * DEFAULT_CPU_SECONDS / 1)
    assert ghost.model_dump(include={"request_rate_rps", "error_rate", "cpu_utilisation", "ready_replicas"}) == {
        "request_rate_rps": None, "error_rate": None, "cpu_utilisation": None, "ready_replicas": None}


async def test_the_load_follows_the_compressed_day(sim):
    """Sim time 1440 x: over a 60 s window the curve covers a whole day, whose mean is the declared
    demand; over a short window at the peak it is (1 + amplitude) x."""
    await sim.deploy("op-1", "shared-a", spec(replicas=4))
    sim.set_daily_curve("paris", 0.5, 12, clock="utc")
    sim.set_compression(1440, sim_start=MIDNIGHT)
    real_start = sim.load().clock.real_start
    day = sim.component_kpis([at("shared-a", "edge-a", ("paris", 20))], 60, until=real_start + 60)[0]
    assert day.request_rate_rps == pytest.approx(20, rel=1e-6)
    noon = real_start + 30  # 12 h of sim time
    peak = sim.component_kpis([at("shared-a", "edge-a", ("paris", 20))], 0.5, until=noon + 0.25)[0]
    assert peak.request_rate_rps == pytest.approx(30, rel=1e-3)
    sim.add_flash_crowd("paris", MIDNIGHT + 12 * HOUR - 600, 1200, 3)
    crowd = sim.component_kpis([at("shared-a", "edge-a", ("paris", 20))], 0.5, until=noon + 0.25)[0]
    assert crowd.request_rate_rps == pytest.approx(90, rel=1e-3)


async def test_a_short_flash_crowd_in_a_compressed_day_is_not_stepped_over(sim):
    """An hour's crowd is 1/24 of a day a minute: 2.5 real seconds of a 60 s window."""
    await sim.deploy("op-1", "shared-a", spec(replicas=4))
    sim.set_compression(1440, sim_start=MIDNIGHT)
    sim.add_flash_crowd("paris", MIDNIGHT + 7 * HOUR, HOUR, 10)
    real_start = sim.load().clock.real_start
    day = sim.component_kpis([at("shared-a", "edge-a", ("paris", 20))], 60, until=real_start + 60)[0]
    assert day.request_rate_rps == pytest.approx(20 * (23 + 10) / 24)


# ---- health and the failures that change it


async def test_health_reports_hosts_clusters_and_sites_as_they_are_now(sim):
    assert all(h.healthy for h in sim.health().hosts) and all(s.healthy for s in sim.health().sites)
    sim.fail_host("a1")
    report = sim.health("edge-a")
    assert {h.id: h.reason for h in report.hosts} == {"a1": "power off: node NotReady", "a2": None}
    assert [c.healthy for c in report.clusters] == [True]
    sim.fail_host("a2")
    report = sim.health("edge-a")
    assert [(c.id, c.reason) for c in report.clusters] == [("shared-a", "every node NotReady")]
    assert [(s.id, s.reason) for s in report.sites] == [("edge-a", "every host down")]
    sim.recover_host("a1")
    assert [s.healthy for s in sim.health("edge-a").sites] == [True]  # the next reading: no smoothing
    await sim.deploy("op-a", "shared-a", spec(replicas=1))
    assert sim.fail_node("a1") == 1  # the host stays on; its node's pods stop
    assert [(h.reason, h.power) for h in sim.health("edge-a").hosts if h.id == "a1"] == [("node NotReady", "on")]
    assert (await sim.workload_status("shared-a", "web-1")).ready_replicas == 0
    with pytest.raises(InvalidRequest, match="no cluster's node"):
        sim.fail_node("b3")
    sim.recover_host("a1")
    assert all(h.healthy for h in sim.health("edge-a").hosts if h.id == "a1")

    await sim.deploy("op-1", "shared-b", spec())
    assert sim.fail_cluster("shared-b") == 1
    assert [(c.id, c.reason) for c in sim.health("cloud-b").clusters] == [("shared-b", "API unreachable")]
    with pytest.raises(TransientFault, match="does not answer"):
        await sim.scale("op-2", "shared-b", "web-1", 2)
    assert after(sim, [at("shared-b", "cloud-b", ("paris", 5))])[0].error_rate == 1.0  # its pods stopped
    sim.recover_cluster("shared-b")
    assert (await sim.scale("op-2", "shared-b", "web-1", 2)).replicas == 2
    sim.fail_site("cloud-b")
    assert [s.reason for s in sim.health("cloud-b").sites] == ["every host down"]
