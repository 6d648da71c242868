"""The telemetry contract (the table in legato/adapters/telemetry/__init__.py), held against every
source: the sim, and Prometheus (the test bed's server scraping a kwok cluster, PromQL over its
HTTP API). Windows are short (the world's `window`: Prometheus' rates need two scrapes in one) and
start once the workload serves, so a source's figures are about what the world did. Rows a source
cannot keep are marked with the reason (`known_gap`), stated in its module's docstring."""

from __future__ import annotations

import asyncio
import time

import pytest

from legato.adapters.errors import InvalidRequest
from legato.model.telemetry import AreaDemand, WorkloadToMeasure
from tests.contract.worlds import TelemetryWorld, known_gap

NO_POWER = "Prometheus does not see the BMC: a powered-off host's node reads 'node NotReady', power unknown"
NO_FREE_HOSTS = "Prometheus sees a cluster's nodes, not the site's free hosts"


async def measured(w: TelemetryWorld, deployed: list[WorkloadToMeasure]):
    """A window that begins after the world's last change."""
    await asyncio.sleep(w.window * 1.2)
    return await w.telemetry.components(deployed, w.window)


def ghost(w: TelemetryWorld) -> WorkloadToMeasure:
    return WorkloadToMeasure(service_id="svc-contract", component="ghost", cluster=w.cluster,
                             workload_id="ghost-c0ffee", site=w.site, areas=[AreaDemand(area=w.near, demand_rps=5)])


async def test_one_answer_per_component_in_order_over_the_window_asked(telemetry_world: TelemetryWorld):
    w = telemetry_world
    web = await w.deploy("web", 1, [AreaDemand(area=w.near, demand_rps=5)])
    before = time.time()
    answers = await w.telemetry.components([ghost(w), web], 30)
    assert [(a.component, a.cluster, a.workload_id, a.site) for a in answers] == [
        ("ghost", w.cluster, "ghost-c0ffee", w.site), ("web", w.cluster, web.workload_id, w.site)]
    for a in answers:
        assert before <= a.until <= time.time() and a.until - a.since == pytest.approx(30)
    for window in (0, -1):
        with pytest.raises(InvalidRequest):
            await w.telemetry.components([web], window)


async def test_a_workload_the_source_does_not_see_has_no_figures(telemetry_world: TelemetryWorld):
    w = telemetry_world
    [unseen] = await w.telemetry.components([ghost(w)], w.window)
    assert (unseen.request_rate_rps, unseen.error_rate, unseen.cpu_utilisation, unseen.ready_replicas) == (
        None, None, None, None)
    assert unseen.areas == {}


async def test_a_serving_component_reports_its_load_per_area_with_the_network_under_its_latency(
        telemetry_world: TelemetryWorld):
    w = telemetry_world
    web = await w.deploy("web", 2, [AreaDemand(area=w.near, demand_rps=8), AreaDemand(area=w.far, demand_rps=8)])
    [kpis] = await measured(w, [web])
    assert kpis.ready_replicas == 2
    assert kpis.request_rate_rps > 0
    assert kpis.request_rate_rps == pytest.approx(sum(a.request_rate_rps for a in kpis.areas.values()))
    assert 0 <= kpis.error_rate <= 1 and 0 < kpis.cpu_utilisation
    near, far = kpis.areas[w.near].latency_p95_ms, kpis.areas[w.far].latency_p95_ms
    assert near >= w.near_ms and far >= w.far_ms and far > near


async def test_with_nothing_ready_the_users_requests_fail_and_see_no_latency(telemetry_world: TelemetryWorld):
    w = telemetry_world
    web = await w.deploy("web", 2, [AreaDemand(area=w.near, demand_rps=8)])
    for node in w.nodes:
        await w.power_off(node)
    [kpis] = await measured(w, [web])
    assert kpis.ready_replicas == 0 and kpis.error_rate == 1
    assert kpis.cpu_utilisation is None and kpis.areas[w.near].latency_p95_ms is None


async def test_health_reports_every_host_cluster_and_site(telemetry_world: TelemetryWorld, request):
    w = telemetry_world
    known_gap(request, w.backend, {"prometheus": NO_FREE_HOSTS})
    first = await w.telemetry.health()
    assert {h.id for h in first.hosts} == {*w.nodes, w.free} and all(h.healthy for h in first.hosts)
    assert [(c.id, c.healthy) for c in first.clusters] == [(w.cluster, True)]
    assert [(s.id, s.healthy) for s in first.sites] == [(w.site, True)]


async def test_a_host_powered_off_is_down_with_its_node_a_free_one_is_idle(telemetry_world: TelemetryWorld, request):
    w = telemetry_world
    known_gap(request, w.backend, {"prometheus": NO_POWER})
    await w.power_off(w.nodes[0])
    hosts = {h.id: (h.healthy, h.reason) for h in (await w.telemetry.health(w.site)).hosts}
    assert hosts == {w.nodes[0]: (False, "power off: node NotReady"), w.nodes[1]: (True, None), w.free: (True, None)}


async def test_every_node_down_downs_the_cluster_and_the_site_until_they_are_back(telemetry_world: TelemetryWorld):
    w = telemetry_world
    first = await w.telemetry.health(w.site)
    assert [(c.id, c.healthy) for c in first.clusters] == [(w.cluster, True)]
    assert {h.id for h in first.hosts} >= set(w.nodes) and all(h.healthy for h in first.hosts)
    for node in w.nodes:
        await w.power_off(node)
    report = await w.telemetry.health(w.site)
    assert [(c.healthy, c.reason) for c in report.clusters] == [(False, "every node NotReady")]
    assert [(s.healthy, s.reason) for s in report.sites] == [(False, "every host down")]

    for node in w.nodes:
        await w.power_on(node)
    report = await w.telemetry.health(w.site)  # the next reading: nothing held back
    assert all(h.healthy for h in report.hosts) and report.clusters[0].healthy and report.sites[0].healthy


async def test_a_node_not_ready_on_a_host_still_on(telemetry_world: TelemetryWorld):
    w = telemetry_world
    await w.not_ready(w.nodes[1])
    hosts = {h.id: (h.healthy, h.reason, h.power) for h in (await w.telemetry.health(w.site)).hosts}
    healthy, reason, power = hosts[w.nodes[1]]
    assert (healthy, reason) == (False, "node NotReady") and power in ("on", None)  # None: the source sees no BMC
    assert hosts[w.nodes[0]][0]
    await w.power_on(w.nodes[1])
    assert all(h.healthy for h in (await w.telemetry.health(w.site)).hosts)


async def test_a_cluster_whose_api_does_not_answer(telemetry_world: TelemetryWorld):
    w = telemetry_world
    await w.stop_cluster()
    assert [(c.healthy, c.reason) for c in (await w.telemetry.health()).clusters] == [(False, "API unreachable")]
