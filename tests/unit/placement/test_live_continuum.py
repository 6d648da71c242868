"""The continuum placement reads: a large topology stores its latency model and measured pairs
only, and each process keeps one indexed copy that it refreshes from the sites that changed
(allocations, releases, clusters) instead of re-reading the whole continuum per decision."""

import random

from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.model import Cluster, ServiceSpec
from legato.placement import SiteIndex, check_decision, place
from legato.placement.check import objective_of
from legato.topology_loader import DENSE_MAX_SITES, load_topology, parse_topology
from tests.specs import example

CITIES = [(48.86, 2.35), (45.76, 4.84), (50.11, 8.68), (45.46, 9.19), (41.90, 12.50), (52.52, 13.40)]


def large_topology(n_sites: int, seed: int = 7) -> dict:
    """More sites than the loader keeps dense matrices for; a few measured pairs."""
    rng = random.Random(seed)
    tiers = ["far-edge"] * 6 + ["edge"] * 3 + ["regional", "cloud"]
    sites = []
    for k in range(n_sites):
        lat, lon = rng.choice(CITIES)
        tier = rng.choice(tiers)
        hosts = {"prefix": f"s{k}-h", "count": rng.randint(1, 4), "cpu": rng.choice([16, 64]), "memory_mb": 262144,
                 "features": rng.choice([[], ["sriov"], ["gpu-t4"]]), "gpu": 0}
        if "gpu-t4" in hosts["features"]:
            hosts["gpu"] = 2
        sites.append({"id": f"site-{k}", "tier": tier, "provider": "p", "region": "r" + str(k % 3), "country": "FR",
                      "lat": lat + rng.gauss(0, 0.3), "lon": lon + rng.gauss(0, 0.3),
                      "cost_per_vcpu_hour": round(rng.uniform(0.01, 0.09), 4), "host_groups": [hosts]})
    areas = [{"id": f"area-{i}", "lat": lat, "lon": lon} for i, (lat, lon) in enumerate(CITIES)]
    measured = [{"a": f"site-{2 * i}", "b": f"site-{2 * i + 1}", "ms": 0.5} for i in range(5)]
    return {"areas": areas, "sites": sites, "latency": {"sites": measured},
            "bandwidth": {"regions": [{"a": "r0", "b": "r1", "mbps": 400}]}}


def service() -> ServiceSpec:
    return ServiceSpec.model_validate({
        "id": "svc", "name": "svc", "tenant": "t",
        "components": [{"name": "a", "image": "i", "cpu": 4, "memory_mb": 1024, "features": ["sriov"]},
                       {"name": "b", "image": "i", "cpu": 8, "memory_mb": 1024},
                       {"name": "c", "image": "i", "cpu": 2, "memory_mb": 1024, "replicas": 2}],
        "links": [{"from": "a", "to": "b", "max_latency_ms": 6, "bandwidth_mbps": 100},
                  {"from": "b", "to": "c", "max_latency_ms": 20}],
        "user_areas": [{"area": "area-0", "component": "a", "max_latency_ms": 8}],
    })


def test_a_large_topology_stores_measured_pairs_only_and_reads_back_the_same_latencies(tmp_path):
    n = DENSE_MAX_SITES + 100
    topology = parse_topology(large_topology(n))
    assert topology.model is not None and sum(len(r) for r in topology.site_latency_ms.values()) == 10
    inventory = Inventory(f"sqlite:///{tmp_path / 'inv.db'}")
    inventory.load_topology(topology)
    back = inventory.topology()
    rng = random.Random(1)
    ids = sorted(topology.sites)
    for _ in range(200):
        a, b = rng.choice(ids), rng.choice(ids)
        assert back.latency(a, b) == topology.latency(a, b) == topology.latency(b, a)
        assert back.bandwidth(a, b) == topology.bandwidth(a, b)
        assert back.area_latency("area-1", a) == topology.area_latency("area-1", a)
    assert topology.latency("site-0", "site-1") == 0.5  # measured wins over the model
    assert topology.bandwidth("site-0", "site-1") in (400, 10000)

    # placement over the model (range queries) agrees with placement over every pair written out
    dense = topology.model_copy(update={
        "model": None,
        "site_latency_ms": {a: {b: topology.latency(a, b) for b in ids} for a in ids},
        "area_latency_ms": {ar: {s: topology.area_latency(ar, s) for s in ids} for ar in topology.areas},
        "site_bandwidth_mbps": {a: {b: topology.bandwidth(a, b) for b in ids if b != a} for a in ids}})
    spec = service()
    by_model, by_pairs = place(spec, topology, {}), place(spec, dense, {})
    assert by_model.feasible and by_pairs.feasible
    assert check_decision(spec, dense, {}, by_model) == []
    assert objective_of(spec, dense, by_model) <= objective_of(spec, dense, by_pairs) * 1.02


def test_the_live_copy_refreshes_changed_sites_and_decides_as_a_fresh_read_would(tmp_path):
    inventory = Inventory(f"sqlite:///{tmp_path / 'inv.db'}")
    inventory.load_topology(load_topology("deploy/topologies/default.yaml"))
    live = LiveContinuum(inventory)
    spec = ServiceSpec.model_validate({**example("video-analytics"), "id": "va", "tenant": "t"})
    rng = random.Random(3)
    with live.use() as (topology, _):
        free = [h for s in topology.sites.values() for h in s.hosts if h.state == "free"]
    taken: list[str] = []
    for step in range(12):
        if taken and rng.random() < 0.3:  # release some
            gone = taken[: rng.randint(1, len(taken))]
            inventory.hosts_released(gone)
            taken = taken[len(gone):]
        else:  # allocate every free host of a few sites: they become full, and move bucket
            sites = rng.sample(sorted({h.site for h in free}), 3)
            batch = [h.model_copy(update={"service_id": f"x{step}"}) for h in free if h.site in sites]
            inventory.hosts_allocated(batch, f"op-{step}")
            taken += [h.id for h in batch]
        if step == 5:
            inventory.cluster_changed(Cluster(id="extra-k8s", site="lyon-regional", hosts=[], shared=True))
        with live.use() as (_, index):
            kept = place(spec, index, {})
        fresh = place(spec, SiteIndex(inventory.topology()), {})
        assert kept.model_dump() == fresh.model_dump(), step
    assert live.rebuilds == 1 and 0 < live.refreshed_sites < 12 * 4

    inventory.site_prices_changed("paris-cloud", cost_per_vcpu_hour=9.0)
    with live.use() as (topology, _):
        assert topology.sites["paris-cloud"].cost_per_vcpu_hour == 9.0
    assert live.rebuilds == 2
