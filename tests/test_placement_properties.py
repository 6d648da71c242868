"""Properties of the placement engine: every placement it returns satisfies every hard constraint
(checked by the independent checker), it finds the optimum that brute-force enumeration finds on
small instances, its infeasibility reports name the constraint, and it is deterministic."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from legato.model import ComponentPlacement, PlacementDecision, ServiceSpec, Site, Tier, UserAreaDef
from legato.placement import GeoContinuum, SiteIndex, check_decision, place, place_component, plan_site
from legato.placement.check import objective_of
from legato.placement.continuum import sites_by_latency, sites_near
from legato.placement.engine import MAX_REJECTED
from legato.topology import parse_topology

TIERS = ["far-edge", "edge", "regional", "cloud"]
FEATURES = ["sriov", "gpu-t4"]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- instances ----------------------------------------------------------------------------------------


@st.composite
def continua(draw, max_sites: int = 5):
    n = draw(st.integers(2, max_sites))
    sites = []
    for k in range(n):
        tier = draw(st.sampled_from(TIERS))
        hosts = []
        for h in range(draw(st.integers(1, 3))):
            gpu = draw(st.sampled_from([0, 0, 1]))
            feats = sorted(set(draw(st.lists(st.sampled_from(["sriov"]), max_size=1))) | ({"gpu-t4"} if gpu else set()))
            hosts.append({"id": f"s{k}h{h}", "cpu": draw(st.sampled_from([4, 8, 16])), "memory_mb": 16384,
                          "gpu": gpu, "features": feats})
        clusters = []
        if draw(st.booleans()) and len(hosts) >= 2:
            clusters = [{"id": f"k{k}", "hosts": [hosts[0]["id"]]}]
        sites.append({"id": f"s{k}", "tier": tier, "provider": draw(st.sampled_from(["p1", "p2"])), "region": "r",
                      "country": draw(st.sampled_from(["FR", "DE"])), "lat": 48.0 + draw(st.floats(0, 3)),
                      "lon": 2.0 + draw(st.floats(0, 3)),
                      "cost_per_vcpu_hour": draw(st.sampled_from([0.01, 0.03, 0.08])),
                      "carbon_g_per_kwh": draw(st.sampled_from([50, 300])), "hosts": hosts, "clusters": clusters})
    topology = parse_topology({"areas": [{"id": "town", "lat": 49.0, "lon": 3.0}], "sites": sites})
    usage = {f"k{k}": (float(draw(st.sampled_from([0, 2, 8]))), 0, 0) for k in range(n)}
    return topology, usage


@st.composite
def services(draw, max_components: int = 3):
    n = draw(st.integers(1, max_components))
    comps = []
    for k in range(n):
        comp = {"name": f"c{k}", "image": "i", "cpu": draw(st.sampled_from([1, 2, 4])),
                "replicas": draw(st.integers(1, 2)), "memory_mb": 1024}
        if draw(st.integers(0, 4)) == 0:
            comp["features"] = ["sriov"]
        if draw(st.integers(0, 5)) == 0:
            comp.update(gpu=1, features=["gpu-t4"])
        if draw(st.integers(0, 5)) == 0:
            comp["placement"] = {"tiers": draw(st.lists(st.sampled_from(TIERS), min_size=1, max_size=3, unique=True))}
        comps.append(comp)
    links = []
    for k in range(1, n):
        if draw(st.booleans()):
            links.append({"from": f"c{draw(st.integers(0, k - 1))}", "to": f"c{k}",
                          "max_latency_ms": draw(st.sampled_from([3, 6, 10, 100])),
                          "bandwidth_mbps": draw(st.sampled_from([10, 5000, 20000]))})
    areas = []
    if draw(st.booleans()):
        areas.append({"area": "town", "component": "c0", "max_latency_ms": draw(st.sampled_from([4, 8, 50]))})
    if n >= 2 and draw(st.integers(0, 3)) == 0:
        comps[1]["anti_affinity"] = ["c0"]
    elif n >= 2 and draw(st.integers(0, 3)) == 0:
        comps[1]["colocate_with"] = ["c0"]
    policy = {}
    if draw(st.integers(0, 3)) == 0:
        policy["allowed_countries"] = ["FR"]
    if draw(st.integers(0, 3)) == 0:
        policy["max_cost_per_hour"] = draw(st.sampled_from([0.1, 0.3, 1.0]))
    if draw(st.integers(0, 4)) == 0:
        policy["min_sites"] = min(n, 2)
    if draw(st.integers(0, 4)) == 0:
        policy["prefer_existing_clusters"] = False
    return ServiceSpec.model_validate({"id": "svc", "name": "svc", "tenant": "t", "components": comps,
                                       "links": links, "user_areas": areas, "policy": policy})


def decision_of(spec: ServiceSpec, topology, usage, site_of: dict[str, str]) -> PlacementDecision | None:
    plans = []
    for sid in sorted(set(site_of.values())):
        plan, _ = plan_site(topology.sites[sid], [c for c in spec.components if site_of[c.name] == sid], usage,
                            spec.policy.prefer_existing_clusters)
        if plan is None:
            return None
        plans.append(plan)
    cluster = {c: p.cluster for p in plans for c in p.components}
    d = PlacementDecision(feasible=True, sites=plans, components=[
        ComponentPlacement(component=c.name, site=site_of[c.name], cluster=cluster[c.name], score=0.0)
        for c in spec.components])
    d.objective = objective_of(spec, topology, d)
    return d


def brute_force(spec: ServiceSpec, topology, usage) -> float | None:
    """The optimum by enumerating every assignment, each judged by the independent checker."""
    best = None
    names = [c.name for c in spec.components]
    for combo in itertools.product(sorted(topology.sites), repeat=len(names)):
        d = decision_of(spec, topology, usage, dict(zip(names, combo, strict=True)))
        if d is None or check_decision(spec, topology, usage, d):
            continue
        if best is None or d.objective < best:
            best = d.objective
    return best


# --- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(continua(), services())
def test_placements_satisfy_every_hard_constraint_and_are_optimal(instance, spec):
    topology, usage = instance
    decision = place(spec, topology, usage)
    optimum = brute_force(spec, topology, usage)
    if decision.feasible:
        assert check_decision(spec, topology, usage, decision) == []
        assert optimum is not None
        assert decision.objective == pytest.approx(optimum, abs=1e-3)
    else:
        assert optimum is None, decision.infeasible_reason  # feasible whenever enumeration finds a placement
        assert decision.infeasible_reason


@SETTINGS
@given(continua(max_sites=4), services())
def test_same_input_same_output(instance, spec):
    topology, usage = instance
    assert place(spec, topology, usage) == place(spec, topology, usage)


@SETTINGS
@given(continua(max_sites=4), services())
def test_a_moved_component_goes_to_its_best_single_move(instance, spec):
    topology, usage = instance
    decision = place(spec, topology, usage)
    if not decision.feasible:
        return
    current = {p.component: p.site for p in decision.components}
    name = spec.components[-1].name
    plan, reason, rejected = place_component(spec, name, topology, usage, current)
    assert len(rejected) <= MAX_REJECTED
    best = None
    for sid in sorted(topology.sites):
        if sid == current[name]:
            continue
        # the move is planned against the inventory's usage, the component alone at the target
        alone, _ = plan_site(topology.sites[sid], [spec.component(name)], usage, spec.policy.prefer_existing_clusters)
        if alone is None:
            continue
        moved = {**current, name: sid}
        d = PlacementDecision(feasible=True, sites=[], components=[
            ComponentPlacement(component=c, site=s, score=0.0) for c, s in moved.items()])
        problems = [p for p in check_decision(spec, topology, usage, d) if "site plan" not in p]
        if not problems:
            best = sid
            break
    colocated = bool(spec.component(name).colocate_with) or any(name in c.colocate_with for c in spec.components)
    if colocated:
        assert plan is None and "colocate_with" in reason
    elif best is None:
        assert plan is None
    else:
        assert plan is not None, reason


# --- a larger continuum: the streamed (indexed) path ------------------------------------------------


def geo_continuum(n: int) -> tuple[GeoContinuum, dict]:
    sites = {}
    for k in range(n):
        tier = [Tier.far_edge, Tier.edge, Tier.regional, Tier.cloud][k % 4]
        hosts = [{"id": f"g{k}h{h}", "cpu": 16, "memory_mb": 65536, "gpu": 1 if (k % 7 == 0 and h == 0) else 0,
                  "features": (["gpu-t4"] if (k % 7 == 0 and h == 0) else []) + (["sriov"] if k % 3 == 0 else []),
                  "state": "allocated" if (k * 7 + h) % 5 == 0 else "free"} for h in range(2)]
        clusters = [{"id": f"gk{k}", "hosts": [hosts[0]["id"]], "shared": True}] if tier == Tier.cloud else []
        sites[f"g{k}"] = Site.model_validate({
            "id": f"g{k}", "tier": tier, "provider": "p", "region": "r", "country": "FR" if k % 2 else "DE",
            "lat": 44 + (k * 37 % 80) / 10, "lon": (k * 53 % 90) / 10, "cost_per_vcpu_hour": 0.01 + (k * 13 % 9) / 100,
            "carbon_g_per_kwh": 50 + (k * 29 % 7) * 50, "hosts": hosts, "clusters": clusters})
    areas = {"town": UserAreaDef(id="town", lat=47.0, lon=4.0)}
    return GeoContinuum(sites, areas, site_latency_overrides={("g1", "g50"): 1.5}), {}


def chain_spec(**policy) -> ServiceSpec:
    return ServiceSpec.model_validate({
        "id": "big", "name": "big", "tenant": "t",
        "components": [{"name": "front", "image": "i", "cpu": 2, "features": ["sriov"]},
                       {"name": "infer", "image": "i", "cpu": 4, "gpu": 1, "features": ["gpu-t4"]},
                       {"name": "store", "image": "i", "cpu": 2, "anti_affinity": ["infer"]},
                       {"name": "side", "image": "i", "cpu": 1, "colocate_with": ["store"]}],
        "links": [{"from": "front", "to": "infer", "max_latency_ms": 8},
                  {"from": "infer", "to": "store", "max_latency_ms": 30},
                  {"from": "store", "to": "side", "max_latency_ms": 30}],
        "user_areas": [{"area": "town", "component": "front", "max_latency_ms": 8}],
        "policy": policy})


def test_large_continuum_is_searched_through_the_index_and_matches_the_exhaustive_search(monkeypatch):
    continuum, usage = geo_continuum(400)
    index = SiteIndex(continuum)
    spec = chain_spec()
    streamed = place(spec, index, usage)
    assert streamed.feasible and check_decision(spec, continuum, usage, streamed) == []
    assert all(len(p.rejected) <= MAX_REJECTED for p in streamed.components)
    assert any("not examined" in r for p in streamed.components for r in p.reasons)
    monkeypatch.setattr("legato.placement.problem.EXHAUSTIVE_SITES", 10_000)
    monkeypatch.setattr("legato.placement.search.MAX_CANDIDATES", 10_000)
    exhaustive = place(spec, index, usage)
    assert exhaustive.objective == pytest.approx(streamed.objective, abs=1e-6)


def test_geo_continuum_range_queries_are_exact():
    continuum, _ = geo_continuum(200)
    for site in ("g0", "g1", "g77"):
        for ms in (3.0, 9.0, 25.0):
            expected = sorted(s for s in continuum.sites if continuum.latency(site, s) <= ms)
            assert sorted(sites_near(continuum, site, ms)) == expected
            ordered = list(sites_by_latency(continuum, site, ms))
            assert [m for m, _ in ordered] == sorted(continuum.latency(site, s) for s in expected)
            assert sorted(s for _, s in ordered) == expected
        assert continuum.nearest_ms(site) <= min(continuum.latency(site, s) for s in continuum.sites if s != site)
    assert "g50" in set(sites_near(continuum, "g1", 1.5))  # the override brings it close


# --- infeasibility names the constraint ----------------------------------------------------------


@pytest.mark.parametrize("policy, changes, expected", [
    ({"allowed_countries": ["IT"]}, {}, "not allowed by policy (sovereignty)"),
    ({"allowed_providers": ["nobody"]}, {}, "provider p not allowed by policy"),
    ({"max_cost_per_hour": 0.05}, {}, "max_cost_per_hour 0.05"),
    ({}, {"front_sites": ["g1", "g2"]}, "not among the component's sites"),
    ({}, {"front_cpu": 64}, "not enough free capacity"),
    ({}, {"area_ms": 0.5}, "latency to users in town"),
    ({}, {"link_ms": 0.5}, "link front->infer"),
])
def test_infeasibility_names_the_constraint(policy, changes, expected):
    continuum, usage = geo_continuum(400)
    spec = chain_spec(**policy)
    data = spec.model_dump(by_alias=True)
    if "front_sites" in changes:
        data["components"][0]["placement"]["sites"] = changes["front_sites"]
    if "front_cpu" in changes:
        data["components"][0]["cpu"] = changes["front_cpu"]
    if "area_ms" in changes:
        data["user_areas"][0]["max_latency_ms"] = changes["area_ms"]
    if "link_ms" in changes:  # and apart, or sharing a site would meet it
        data["links"][0]["max_latency_ms"] = changes["link_ms"]
        data["components"][1]["anti_affinity"] = ["front"]
    decision = place(ServiceSpec.model_validate(data), SiteIndex(continuum), usage)
    assert not decision.feasible
    assert expected in decision.infeasible_reason


def test_anti_affinity_and_min_sites_are_reported_when_one_site_is_all_there_is():
    topology = parse_topology({"areas": [], "sites": [
        {"id": "only", "tier": "cloud", "provider": "p", "region": "r", "country": "FR", "lat": 48, "lon": 2,
         "cost_per_vcpu_hour": 0.01, "hosts": [{"id": "h", "cpu": 64, "memory_mb": 65536}]}]})
    base = {"id": "s", "name": "s", "tenant": "t", "components": [
        {"name": "a", "image": "i", "cpu": 1}, {"name": "b", "image": "i", "cpu": 1}]}
    anti = ServiceSpec.model_validate({**base, "components": [
        {"name": "a", "image": "i", "cpu": 1}, {"name": "b", "image": "i", "cpu": 1, "anti_affinity": ["a"]}]})
    assert "anti-affinity" in place(anti, topology, {}).infeasible_reason
    spread = ServiceSpec.model_validate({**base, "policy": {"min_sites": 2}})
    assert "min_sites 2" in place(spread, topology, {}).infeasible_reason


def test_hints_naming_unknown_components_are_refused_naming_the_field():
    base = {"name": "s", "components": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}
    with pytest.raises(ValidationError, match=r"components\[1\]\.colocate_with: unknown component 'x'"):
        ServiceSpec.model_validate({**base, "components": [{"name": "a", "image": "i"},
                                                             {"name": "b", "image": "i", "colocate_with": ["x"]}]})
    with pytest.raises(ValidationError, match=r"components\[0\]\.anti_affinity: a component cannot name itself"):
        ServiceSpec.model_validate({**base, "components": [{"name": "a", "image": "i", "anti_affinity": ["a"]},
                                                             {"name": "b", "image": "i"}]})
    with pytest.raises(ValidationError, match=r"policy\.min_sites: 3 sites, but the service has only 2"):
        ServiceSpec.model_validate({**base, "policy": {"min_sites": 3}})
