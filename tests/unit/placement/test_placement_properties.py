"""Properties of the placement engine: every placement it returns satisfies every hard constraint
(checked by the independent checker); on small continua it finds exactly the optimum, and the
feasibility, that brute-force enumeration finds, across every rule, and says so ("optimal"); off
the small-continuum path it is never wrong when it says "optimal" or "infeasible", or that no
component gains by moving alone; its infeasibility reports name the constraint; and it is
deterministic."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from legato.model import ComponentPlacement, PlacementDecision, ServiceSpec, Site, Tier, UserAreaDef
from legato.placement import GeoContinuum, SiteIndex, check_decision, place, place_component, plan_site
from legato.placement.check import objective_of
from legato.placement.continuum import sites_by_latency, sites_near
from legato.placement.engine import MAX_REJECTED
from legato.placement.sites import Usage
from legato.topology_loader import parse_topology

TIERS = ["far-edge", "edge", "regional", "cloud"]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- instances ----------------------------------------------------------------------------------------


@st.composite
def continua(draw, max_sites: int = 8):
    """Up to `max_sites` sites a few ms apart, with hosts of three sizes (some with SR-IOV or a GPU),
    shared clusters of one or two nodes, some links of little bandwidth; and what others already
    use: per node on clusters, per cluster where the node is unknown, and bandwidth held."""
    n = max_sites - draw(st.integers(0, max_sites - 2))  # hypothesis leans to small draws: many sites
    sites = []
    for k in range(n):
        tier = draw(st.sampled_from(TIERS))
        hosts = []
        for h in range(draw(st.integers(1, 3))):
            gpu = draw(st.sampled_from([0, 0, 1]))
            feats = sorted(set(draw(st.lists(st.sampled_from(["sriov"]), max_size=1))) | ({"gpu-t4"} if gpu else set()))
            hosts.append({"id": f"s{k}h{h}", "cpu": draw(st.sampled_from([4, 8, 16, 32])), "memory_mb": 16384,
                          "gpu": gpu, "features": feats})
        clusters = []
        if draw(st.booleans()) and len(hosts) >= 2:
            clusters = [{"id": f"k{k}", "hosts": [h["id"] for h in hosts[:draw(st.integers(1, len(hosts) - 1))]]}]
        sites.append({"id": f"s{k}", "tier": tier, "provider": draw(st.sampled_from(["p1", "p2"])), "region": "r",
                      "country": draw(st.sampled_from(["FR", "DE"])), "lat": 48.0 + draw(st.floats(0, 3)),
                      "lon": 2.0 + draw(st.floats(0, 3)),
                      "cost_per_vcpu_hour": draw(st.sampled_from([0.01, 0.03, 0.08])),
                      "carbon_g_per_kwh": draw(st.sampled_from([50, 300])), "hosts": hosts, "clusters": clusters})
    pairs = [(f"s{a}", f"s{b}") for a in range(n) for b in range(a + 1, n)]
    thin = draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True))
    topology = parse_topology({
        "areas": [{"id": "town", "lat": 49.0, "lon": 3.0}, {"id": "city", "lat": 48.2, "lon": 4.5}], "sites": sites,
        "bandwidth": {"default_mbps": draw(st.sampled_from([1000, 10000])),
                      "sites": [{"a": a, "b": b, "mbps": draw(st.sampled_from([50, 600]))} for a, b in thin]}})
    usage = Usage()
    for site in sites:
        for c in site["clusters"]:
            for h in c["hosts"]:
                used = draw(st.sampled_from([0.0, 2.0, 8.0]))
                if used:
                    usage.nodes.setdefault(c["id"], {})[h] = (used, 1024, 0)
            if draw(st.integers(0, 3)) == 0:
                usage.unplaced[c["id"]] = (2.0, 0, 0)
    for a, b in draw(st.lists(st.sampled_from(pairs), max_size=3, unique=True)):
        usage.links[(a, b)] = float(draw(st.sampled_from([100, 900])))
    return topology, usage


@st.composite
def services(draw, max_components: int = 5):
    """Up to `max_components` components with every rule: links (tight or loose, thin or thick, one
    off any spanning tree), users in one or two areas, features and tiers, anti-affinity, co-location,
    allowed countries, a max cost, min_sites up to every component apart, weight_cost 0."""
    n = max_components - draw(st.integers(0, max_components - 1))  # hypothesis leans to small draws: many parts
    comps = []
    for k in range(n):
        comp = {"name": f"c{k}", "image": "i", "cpu": draw(st.sampled_from([1, 2, 4])),
                "replicas": draw(st.integers(1, 2)), "memory_mb": 1024}
        if draw(st.integers(0, 4)) == 0:
            comp["features"] = ["sriov"]
        if draw(st.integers(0, 7)) == 0:
            comp.update(gpu=1, features=["gpu-t4"])
        if draw(st.integers(0, 7)) == 0:
            comp["placement"] = {"tiers": draw(st.lists(st.sampled_from(TIERS), min_size=1, max_size=3, unique=True))}
        comps.append(comp)

    def link(a: int, b: int) -> dict:
        return {"from": f"c{a}", "to": f"c{b}", "max_latency_ms": draw(st.sampled_from([3, 6, 10, 100])),
                "bandwidth_mbps": draw(st.sampled_from([10, 400, 5000, 20000]))}

    links = [link(draw(st.integers(0, k - 1)), k) for k in range(1, n) if draw(st.integers(0, 3))]
    if n >= 3 and draw(st.integers(0, 2)) == 0:
        a, b = sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
        links.append(link(a, b))  # may close a cycle: a link off the spanning tree
    areas = []
    if draw(st.booleans()):
        areas.append({"area": "town", "component": "c0", "max_latency_ms": draw(st.sampled_from([5, 8, 50]))})
    if n >= 2 and draw(st.integers(0, 3)) == 0:
        areas.append({"area": "city", "component": f"c{n - 1}", "max_latency_ms": draw(st.sampled_from([6, 50]))})
    if n >= 2 and draw(st.integers(0, 3)) == 0:
        a, b = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        comps[a]["anti_affinity"] = [f"c{b}"]
    if n >= 3 and draw(st.integers(0, 3)) == 0:
        a, b = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        if f"c{b}" not in comps[a].get("anti_affinity", []) and f"c{a}" not in comps[b].get("anti_affinity", []):
            comps[a]["colocate_with"] = [f"c{b}"]
    policy: dict = {}
    if draw(st.integers(0, 3)) == 0:
        policy["allowed_countries"] = ["FR"]
    if draw(st.integers(0, 2)) == 0:
        policy["max_cost_per_hour"] = draw(st.sampled_from([0.1, 0.2, 0.3, 0.6, 1.0]))
    if n >= 2 and draw(st.integers(0, 2)) == 0:
        policy["min_sites"] = draw(st.integers(2, n))
    if draw(st.integers(0, 3)) == 0:
        policy["weight_cost"] = 0.0
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


def brute_force(spec: ServiceSpec, topology, usage: Usage) -> float | None:
    """The optimum by enumerating every assignment of components to sites, written from the rules
    (not from the engine): each component's own rules and users first, then depth-first with the
    rules between placed components, each complete assignment priced by the checker's objective;
    a branch is cut only when what it already costs (every term is non-negative) reaches the best
    found. Capacity is `plan_site`'s, the model the engine and the checker share."""
    policy = spec.policy
    comps = spec.components
    names = [c.name for c in comps]
    alone: dict[str, list[tuple[float, str]]] = {}
    for c in comps:
        alone[c.name] = []
        for sid, site in sorted(topology.sites.items()):
            if policy.allowed_providers is not None and site.provider not in policy.allowed_providers:
                continue
            if policy.allowed_countries is not None and site.country not in policy.allowed_countries:
                continue
            if c.placement.rejects(sid, str(site.tier), site.country):
                continue
            users = [a for a in spec.user_areas if spec.entry_component(a) == c.name]
            user_ms = [topology.area_latency(a.area, sid) for a in users]
            if any(ms > a.max_latency_ms for ms, a in zip(user_ms, users, strict=True)):
                continue
            if plan_site(site, [c], usage, policy.prefer_existing_clusters)[0] is None:
                continue
            floor = (sum(user_ms) / 10 * policy.weight_latency
                     + site.cost_per_vcpu_hour * c.total_cpu * 10 * policy.weight_cost
                     + site.carbon_g_per_kwh / 100 * c.total_cpu * 0.1 * policy.weight_energy)
            alone[c.name].append((floor, sid))
    together: set[frozenset[str]] = {frozenset((c.name, o)) for c in comps for o in c.colocate_with}
    apart: set[frozenset[str]] = {frozenset((c.name, o)) for c in comps for o in c.anti_affinity}
    best: list = [None]
    site_of: dict[str, str] = {}

    def complete() -> None:
        if len(set(site_of.values())) < policy.min_sites:
            return
        cost = sum(topology.sites[site_of[c.name]].cost_per_vcpu_hour * c.total_cpu for c in comps)
        if policy.max_cost_per_hour is not None and cost > policy.max_cost_per_hour + 1e-9:
            return
        need: dict[frozenset[str], float] = {}
        for lk in spec.links:
            a, b = site_of[lk.source], site_of[lk.target]
            if a != b:
                need[frozenset((a, b))] = need.get(frozenset((a, b)), 0.0) + lk.bandwidth_mbps
        for pair, mbps in need.items():
            a, b = sorted(pair)
            if mbps > topology.bandwidth(a, b) - usage.link(a, b) + 1e-9:
                return
        d = decision_of(spec, topology, usage, site_of)
        if d is not None and (best[0] is None or d.objective < best[0][0]):
            best[0] = (d.objective, d)

    def go(k: int, spent: float) -> None:
        if best[0] is not None and spent >= best[0][0] - 1e-9:
            return
        if k == len(names):
            complete()
            return
        name = names[k]
        for floor, sid in alone[name]:
            extra, ok = 0.0, True
            for other, there in site_of.items():
                pair = frozenset((name, other))
                ok &= (pair not in together or there == sid) and (pair not in apart or there != sid)
            for lk in spec.links:
                if name in (lk.source, lk.target):
                    other = lk.target if lk.source == name else lk.source
                    if other in site_of:
                        ms = topology.latency(sid, site_of[other])
                        ok &= ms <= lk.max_latency_ms
                        extra += ms / 10 * policy.weight_latency
            if ok:
                site_of[name] = sid
                go(k + 1, spent + floor + extra)
                del site_of[name]

    go(0, 0.0)
    if best[0] is None:
        return None
    assert check_decision(spec, topology, usage, best[0][1]) == []  # the enumeration agrees with the checker
    return best[0][0]


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(continua(), services())
def test_on_a_small_continuum_the_engine_finds_the_optimum_and_says_so(instance, spec):
    topology, usage = instance
    decision = place(spec, topology, usage)
    optimum = brute_force(spec, topology, usage)
    assert decision.proof == "optimal", decision.infeasible_reason or decision.components[0].reasons[-1]
    if decision.feasible:
        assert check_decision(spec, topology, usage, decision) == []
        assert optimum is not None
        assert decision.objective == pytest.approx(optimum, abs=1e-3)
    else:
        assert optimum is None, decision.infeasible_reason  # infeasible only when enumeration finds nothing
        assert decision.infeasible_reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(continua(), services(), st.sampled_from([1, 3, 12]))
def test_off_the_small_continuum_path_what_the_engine_claims_holds(instance, spec, first):
    """The same instances through the large-continuum path (streams over the index, candidate
    sets, certificates), each component starting from its `first` best sites (one or three: the
    widening has to find the rest): whatever it proves is true, and a placement it returns is
    valid."""
    topology, usage = instance
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("legato.placement.problem.EXHAUSTIVE_SITES", 0)
        patch.setattr("legato.placement.search.budgets.INITIAL_CANDIDATES", first)
        decision = place(spec, SiteIndex(topology), usage)
    optimum = brute_force(spec, topology, usage)
    if decision.feasible:
        assert check_decision(spec, topology, usage, decision) == []
        assert optimum is not None and decision.objective >= optimum - 1e-3
        if decision.proof == "optimal":
            assert decision.objective == pytest.approx(optimum, abs=1e-3)
    elif decision.proof == "optimal":
        assert optimum is None, decision.infeasible_reason
    else:
        assert "within the search budget" in decision.infeasible_reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(continua(), services(), st.sampled_from([1, 3]))
def test_a_decision_that_says_no_single_move_gains_is_right(instance, spec, first):
    """Through the large-continuum path with one or three first candidates per component, so that
    the certificate (not the first candidate sets) has to find the better sites: a decision that
    says no component gains by moving alone elsewhere has no single move (a component with
    whatever is co-located with it) that keeps every rule and scores lower. (Moves that only
    seemed better once hid better ones: one breaking min_sites, one sharing a site and losing
    the reuse of its cluster.)"""
    topology, usage = instance
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("legato.placement.problem.EXHAUSTIVE_SITES", 0)
        patch.setattr("legato.placement.search.budgets.INITIAL_CANDIDATES", first)
        decision = place(spec, SiteIndex(topology), usage)
    if not decision.feasible or "no component gains by moving alone" not in decision.components[0].reasons[-1]:
        return
    assert check_decision(spec, topology, usage, decision) == []
    current = {p.component: p.site for p in decision.components}
    group = {c.name: {c.name} for c in spec.components}
    for c in spec.components:
        for other in c.colocate_with:
            merged = group[c.name] | group[other]
            for name in merged:
                group[name] = merged
    for c in spec.components:
        for sid in sorted(topology.sites):
            moved = decision_of(spec, topology, usage, {**current, **dict.fromkeys(group[c.name], sid)})
            if moved is None or check_decision(spec, topology, usage, moved):
                continue  # breaks a rule
            assert moved.objective >= decision.objective - 1e-3, (c.name, sid, moved.objective, decision.objective)


@SETTINGS
@given(continua(max_sites=4), services(max_components=3))
def test_same_input_same_output(instance, spec):
    topology, usage = instance
    assert place(spec, topology, usage) == place(spec, topology, usage)


@SETTINGS
@given(continua(max_sites=4), services(max_components=3))
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
    monkeypatch.setattr("legato.placement.search.budgets.MAX_CANDIDATES", 10_000)
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
    assert not decision.feasible and decision.proof == "optimal"  # proven: no placement exists
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
