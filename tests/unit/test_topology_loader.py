"""The topology loader: the default continuum is sound, examples fit it, mistakes are named."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from legato.config import PROJECT_ROOT
from legato.model import ServiceSpec, Tier
from legato.topology_loader import (
    TopologyError,
    great_circle_km,
    load_topology,
    parse_topology,
    topology_summary,
)

DEFAULT = PROJECT_ROOT / "deploy" / "topologies" / "default.yaml"
EXAMPLES = sorted((PROJECT_ROOT / "deploy" / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def default():
    return load_topology(DEFAULT)


def small() -> dict[str, Any]:
    """Two sites, one area: the smallest topology worth breaking."""
    site = {"tier": "edge", "provider": "p", "region": "r", "country": "FR", "cost_per_vcpu_hour": 0.1}
    return copy.deepcopy(
        {
            "areas": [{"id": "town", "lat": 48.0, "lon": 2.0}],
            "sites": [
                {**site, "id": "a", "lat": 48.0, "lon": 2.0,
                 "hosts": [{"id": "a-h1", "cpu": 8, "memory_mb": 8192, "features": ["sriov"]}],
                 "host_groups": [{"prefix": "a-g", "count": 3, "cpu": 8, "memory_mb": 8192}],
                 "clusters": [{"id": "a-k8s", "hosts": ["a-h1", "a-g01"]}]},
                {**site, "id": "b", "tier": "cloud", "lat": 49.0, "lon": 2.0,
                 "hosts": [{"id": "b-h1", "cpu": 8, "memory_mb": 8192}]},
            ],
        }
    )  # fmt: skip


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(TopologyError) as info:
        parse_topology(data, "t.yaml")
    return str(info.value)


# --- the default continuum -------------------------------------------------------------------


def test_default_has_three_regions_with_every_tier(default):
    regions: dict[str, set[Tier]] = {}
    for site in default.sites.values():
        regions.setdefault(site.region, set()).add(site.tier)
    assert len(regions) == 3
    for region, tiers in regions.items():
        assert tiers == set(Tier), region
    assert {a.region for a in default.areas.values()} == set(regions)


def test_default_matrices_are_complete_and_symmetric(default):
    sites = set(default.sites)
    assert set(default.site_latency_ms) == sites
    assert set(default.site_bandwidth_mbps) == sites
    for a in sites:
        assert set(default.site_latency_ms[a]) == sites
        assert set(default.site_bandwidth_mbps[a]) == sites - {a}
        for b in sites - {a}:
            assert default.latency(a, b) == default.latency(b, a) > 0
            assert default.bandwidth(a, b) == default.bandwidth(b, a) > 0
    assert set(default.area_latency_ms) == set(default.areas)
    for row in default.area_latency_ms.values():
        assert set(row) == sites


def test_default_latencies_follow_the_tiers(default):
    """Every area has a far edge within 3 ms, an edge within 8, a regional within 12, a cloud within 25."""
    budgets = {Tier.far_edge: 3, Tier.edge: 8, Tier.regional: 12, Tier.cloud: 25}
    for area, row in default.area_latency_ms.items():
        for tier, budget in budgets.items():
            best = min(ms for s, ms in row.items() if default.sites[s].tier == tier)
            assert best <= budget, (area, tier, best)


def test_default_hosts_clusters_and_summary(default):
    hosts = [h for s in default.sites.values() for h in s.hosts]
    assert len({h.id for h in hosts}) == len(hosts)
    assert all(h.site and default.sites[h.site].hosts.count(h) == 1 for h in hosts)
    cloud = default.sites["paris-cloud"]
    assert {"par-c-h01", "par-c-h20"} <= {h.id for h in cloud.hosts}
    cluster = cloud.clusters[0]
    assert cluster.site == "paris-cloud" and cluster.shared
    assert all(h.cluster == cluster.id for h in cloud.hosts if h.id in cluster.hosts)
    summary = topology_summary(default)
    assert summary["hosts"] == len(hosts)
    assert summary["vcpu"] == sum(h.cpu for h in hosts)
    assert sum(summary["sites_per_tier"].values()) == summary["sites"] == len(default.sites)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_a_service_spec_for_the_default_topology(path: Path, default):
    spec = ServiceSpec.model_validate(yaml.safe_load(path.read_text()))
    assert all(ua.area in default.areas for ua in spec.user_areas)
    for c in spec.components:  # each replica fits on one host that has the features
        assert any(
            h.cpu >= c.cpu and h.memory_mb >= c.memory_mb and h.gpu >= c.gpu and set(c.features) <= set(h.features)
            for s in default.sites.values()
            for h in s.hosts
        ), c.name


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"video-analytics.yaml", "5g-core-app.yaml", "web-shop.yaml"}


# --- estimates and overrides -----------------------------------------------------------------


def test_estimates_from_coordinates_and_overrides():
    t = parse_topology(small())
    km = great_circle_km(48.0, 2.0, 49.0, 2.0)
    assert 110 < km < 112
    assert t.latency("a", "b") == round(km / 100 + 2 + 8, 1)  # default access: edge 2, cloud 8
    assert t.area_latency("town", "a") == 2.0
    assert t.bandwidth("a", "b") == 10000
    assert [h.id for h in t.sites["a"].hosts] == ["a-h1", "a-g01", "a-g02", "a-g03"]
    assert {h.site for h in t.sites["a"].hosts} == {"a"}

    data = small()
    data["latency"] = {"sites": [{"a": "b", "b": "a", "ms": 3}], "areas": [{"area": "town", "site": "b", "ms": 4}]}
    data["bandwidth"] = {"default_mbps": 500, "sites": [{"a": "a", "b": "b", "mbps": 100}]}
    t = parse_topology(data)
    assert t.latency("a", "b") == t.latency("b", "a") == 3
    assert t.area_latency("town", "b") == 4
    assert t.bandwidth("b", "a") == 100


def test_load_names_the_file(tmp_path):
    data = small()
    data["sites"][1]["hosts"][0]["features"] = ["sriovx"]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TopologyError, match=r"^mine\.yaml: sites\[1\] \(id 'b'\)\.hosts\[0\] \(id 'b-h1'\)"):
        load_topology(path)
    path.write_text("sites: [")
    with pytest.raises(TopologyError, match="mine.yaml: not valid YAML"):
        load_topology(path)


# --- mistakes, each named --------------------------------------------------------------------


def test_duplicate_host_id():
    data = small()
    data["sites"][1]["hosts"][0]["id"] = "a-h1"
    assert "sites[1] (id 'b').hosts[0] (id 'a-h1'): duplicate host id 'a-h1' (already in site 'a')" in error_of(data)


def test_generated_host_id_colliding_with_explicit_one():
    data = small()
    data["sites"][1]["hosts"][0]["id"] = "a-g02"
    assert "duplicate host id 'a-g02'" in error_of(data)


def test_unknown_feature():
    data = small()
    data["sites"][0]["host_groups"][0]["features"] = ["sriovx"]
    msg = error_of(data)
    assert "t.yaml: sites[0] (id 'a').host_groups[0].features: unknown feature 'sriovx' (known: " in msg
    assert "sriov" in msg


def test_cluster_with_host_of_another_site():
    data = small()
    data["sites"][0]["clusters"][0]["hosts"] = ["a-h1", "b-h1"]
    assert "sites[0] (id 'a').clusters[0] (id 'a-k8s').hosts: host 'b-h1' belongs to site 'b', not 'a'" in error_of(
        data
    )


def test_cluster_with_unknown_or_shared_host():
    data = small()
    data["sites"][0]["clusters"].append({"id": "other", "hosts": ["a-g01", "nope"]})
    data["sites"][1]["clusters"] = [{"id": "a-k8s", "hosts": ["b-h1"]}]
    msg = error_of(data)
    assert "sites[1] (id 'b').clusters[0] (id 'a-k8s'): duplicate cluster id 'a-k8s' (already in site 'a')" in msg
    assert "clusters[1] (id 'other').hosts: host 'a-g01' is already in cluster 'a-k8s'" in msg
    assert "clusters[1] (id 'other').hosts: unknown host 'nope'" in msg


@pytest.mark.parametrize(
    ("section", "override", "expected"),
    [
        ("latency", {"sites": [{"a": "a", "b": "zz", "ms": 3}]}, "latency.sites[0].b: unknown site 'zz'"),
        ("latency", {"areas": [{"area": "town", "site": "zz", "ms": 3}]}, "latency.areas[0].site: unknown site"),
        ("latency", {"areas": [{"area": "city", "site": "a", "ms": 3}]}, "latency.areas[0].area: unknown area"),
        ("bandwidth", {"sites": [{"a": "zz", "b": "a", "mbps": 3}]}, "bandwidth.sites[0].a: unknown site 'zz'"),
        ("bandwidth", {"regions": [{"a": "r", "b": "x", "mbps": 3}]}, "bandwidth.regions[0].b: unknown region"),
        ("latency", {"access_ms": {"core": 1}}, "latency.access_ms.core: unknown tier"),
    ],
)
def test_override_with_unknown_name(section, override, expected):
    data = small()
    data[section] = override
    assert expected in error_of(data)


def test_missing_keys():
    data = small()
    del data["sites"][1]["provider"]
    del data["sites"][0]["hosts"][0]["memory_mb"]
    msg = error_of(data)
    assert "sites[1] (id 'b').provider: missing required key" in msg
    assert "sites[0] (id 'a').hosts[0] (id 'a-h1').memory_mb: missing required key" in msg
    assert "sites: missing required key" in error_of({"areas": []})


def test_other_mistakes_all_reported_at_once():
    data = small()
    data["sites"][1]["tier"] = "fog"
    data["sites"][0]["host_groups"][0]["cpu"] = 0
    data["sites"].append({**data["sites"][1], "id": "a", "tier": "edge", "hosts": []})
    data["sites"].append({**data["sites"][1], "id": "empty", "tier": "edge", "hosts": []})
    data["areas"].append({"id": "town", "lat": 1, "lon": 1})
    data["colour"] = "blue"
    problems = error_of(data).splitlines()
    assert all(p.startswith("t.yaml: ") for p in problems)
    text = "\n".join(problems)
    assert "sites[1] (id 'b').tier: input should be 'far-edge', 'edge', 'regional' or 'cloud'" in text
    assert "sites[0] (id 'a').host_groups[0].cpu: input should be greater than 0" in text
    assert "sites[2] (id 'a'): duplicate site id 'a'" in text
    assert "sites[3] (id 'empty'): a site needs at least one host" in text
    assert "areas[1] (id 'town'): duplicate area id 'town'" in text
    assert "colour: unknown key" in text
    assert "unknown host" not in text  # a-g01 is invalid (cpu 0), not unknown: reported once
