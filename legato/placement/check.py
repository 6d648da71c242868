"""An independent check of a placement decision against every hard constraint.

It shares no code with the engine's search or capacity planning (`sites.py`): it reads the spec,
the continuum and the cluster usage, and verifies the decision as an auditor would, with its own
exhaustive packing search for capacity. Tests and the benchmark run it on every decision."""

from __future__ import annotations

from legato.model import PlacementDecision, ServiceSpec, Topology
from legato.placement.continuum import Continuum

PACKING_BUDGET = 200_000
"""Steps the checker's exhaustive packing search may take for one site before it reports the packing
as not verified (a problem, never a silent pass): far more than any site of the tests and benches
needs, and a bound on an auditor that must never hang."""


def objective_of(spec: ServiceSpec, continuum: Continuum | Topology, decision: PlacementDecision) -> float:
    """The objective of a decision, recomputed from the score definitions."""
    policy = spec.policy
    site_of = {p.component: p.site for p in decision.components}
    action = {c: plan.action for plan in decision.sites for c in plan.components}
    total = 0.0
    for comp in spec.components:
        site = continuum.sites[site_of[comp.name]]
        user_ms = sum(continuum.area_latency(a.area, site.id) for a in spec.user_areas
                      if (a.component or spec.components[0].name) == comp.name)
        total += user_ms / 10 * policy.weight_latency
        total += site.cost_per_vcpu_hour * comp.cpu * comp.replicas * 10 * policy.weight_cost
        total += site.carbon_g_per_kwh / 100 * comp.cpu * comp.replicas * 0.1 * policy.weight_energy
        total += 0.0 if action.get(comp.name) == "reuse" else 0.5
    for link in spec.links:
        total += continuum.latency(site_of[link.source], site_of[link.target]) / 10 * policy.weight_latency
    return total


def check_decision(
    spec: ServiceSpec, continuum: Continuum | Topology, usage, decision: PlacementDecision,
) -> list[str]:
    """`usage`: what is requested on each cluster, either `{cluster: (cpu, memory_mb, gpu)}` or the
    engine's `Usage` (per node, unplaced per cluster, and bandwidth held per site pair); read here
    through its fields only."""
    """Every hard constraint the decision violates, one line each (empty: it satisfies them all)."""
    problems: list[str] = []
    if not decision.feasible:
        return ["decision is not feasible"]
    comps = {c.name: c for c in spec.components}
    placed = [p.component for p in decision.components]
    if sorted(placed) != sorted(comps):
        problems.append(f"components placed {sorted(placed)} != spec's {sorted(comps)}")
        return problems
    site_of = {p.component: p.site for p in decision.components}
    for name, site_id in site_of.items():
        if site_id not in continuum.sites:
            problems.append(f"{name}: unknown site {site_id}")
    if problems:
        return problems
    policy = spec.policy

    # policy and per-component rules
    for name, site_id in site_of.items():
        site, comp = continuum.sites[site_id], comps[name]
        if policy.allowed_providers is not None and site.provider not in policy.allowed_providers:
            problems.append(f"{name}: provider {site.provider} not allowed")
        if policy.allowed_countries is not None and site.country not in policy.allowed_countries:
            problems.append(f"{name}: country {site.country} not allowed (sovereignty)")
        rules = comp.placement
        if rules.sites is not None and site_id not in rules.sites:
            problems.append(f"{name}: site {site_id} not among its sites")
        if site_id in rules.avoid_sites:
            problems.append(f"{name}: site {site_id} is avoided")
        if rules.tiers is not None and str(site.tier) not in rules.tiers:
            problems.append(f"{name}: tier {site.tier} not allowed")
        if rules.countries is not None and site.country not in rules.countries:
            problems.append(f"{name}: country {site.country} not in its countries")
        for other in comp.colocate_with:
            if site_of[other] != site_id:
                problems.append(f"{name}: not co-located with {other}")
        for other in comp.anti_affinity:
            if site_of[other] == site_id:
                problems.append(f"{name}: shares {site_id} with {other} (anti-affinity)")

    # latency and bandwidth
    for i, area in enumerate(spec.user_areas):
        entry = area.component or spec.components[0].name
        ms = continuum.area_latency(area.area, site_of[entry])
        if ms > area.max_latency_ms + 1e-9:
            problems.append(f"user_areas[{i}] {area.area}: {ms:g} ms > {area.max_latency_ms:g} ms")
    pair_bw: dict[frozenset, float] = {}
    for i, link in enumerate(spec.links):
        a, b = site_of[link.source], site_of[link.target]
        ms = continuum.latency(a, b)
        if ms > link.max_latency_ms + 1e-9:
            problems.append(f"links[{i}] {link.source}->{link.target}: {ms:g} ms > {link.max_latency_ms:g} ms")
        if a != b:
            key = frozenset((a, b))
            pair_bw[key] = pair_bw.get(key, 0.0) + link.bandwidth_mbps
    held = getattr(usage, "links", {})
    for key, need in pair_bw.items():
        a, b = sorted(key)
        left = continuum.bandwidth(a, b) - held.get((a, b), 0.0)
        if need > left + 1e-9:
            problems.append(f"links between {a} and {b}: {need:g} Mbps > {left:g} Mbps left")

    if policy.max_cost_per_hour is not None:
        cost = sum(continuum.sites[site_of[n]].cost_per_vcpu_hour * c.cpu * c.replicas for n, c in comps.items())
        if cost > policy.max_cost_per_hour + 1e-9:
            problems.append(f"cost {cost:g}/h > max_cost_per_hour {policy.max_cost_per_hour:g}")
    if len(set(site_of.values())) < policy.min_sites:
        problems.append(f"spans {len(set(site_of.values()))} site(s) < min_sites {policy.min_sites}")

    # site plans and capacity
    plans = {}
    for plan in decision.sites:
        if plan.site in plans:
            problems.append(f"two site plans for {plan.site}")
        plans[plan.site] = plan
    used_hosts: set[str] = set()
    for site_id in sorted(set(site_of.values())):
        plan = plans.get(site_id)
        here = sorted(n for n, s in site_of.items() if s == site_id)
        if plan is None:
            problems.append(f"no site plan for {site_id}")
            continue
        if sorted(plan.components) != here:
            problems.append(f"site plan {site_id} lists {sorted(plan.components)}, placed there: {here}")
        for p in decision.components:
            if p.site == site_id and p.cluster != plan.cluster:
                problems.append(f"{p.component}: cluster {p.cluster} != its site plan's {plan.cluster}")
        problems += _check_capacity(continuum.sites[site_id], plan, [comps[n] for n in here], usage, used_hosts)
    for site_id in plans:
        if site_id not in set(site_of.values()):
            problems.append(f"site plan for {site_id}, where nothing is placed")

    if decision.objective is not None:
        recomputed = objective_of(spec, continuum, decision)
        if abs(recomputed - decision.objective) > 1e-3 * max(1.0, abs(recomputed)):
            problems.append(f"objective {decision.objective} != recomputed {recomputed:.4f}")
    return problems


def _check_capacity(site, plan, comps, usage, used_hosts: set[str]) -> list[str]:
    problems = []
    hosts = {h.id: h for h in site.hosts}
    if plan.action not in ("reuse", "scale", "create"):
        return [f"{site.id}: unknown action {plan.action}"]
    bins: list[list] = []  # [cpu, mem, gpu, features, the cluster's total room left or None]
    if plan.action in ("reuse", "scale"):
        cluster = next((c for c in site.clusters if c.id == plan.cluster), None)
        if cluster is None or not cluster.shared:
            return [f"{site.id}: {plan.action} of {plan.cluster}, not a shared cluster there"]
        nodes = [hosts[h] for h in cluster.hosts if h in hosts]
        per_node = getattr(usage, "nodes", {}).get(cluster.id, {})
        unplaced = (usage.unplaced if hasattr(usage, "unplaced") else usage).get(cluster.id, (0.0, 0, 0))
        on = [per_node.get(n.id, (0.0, 0, 0)) for n in nodes]
        total = [sum(n.cpu for n in nodes) - sum(u[0] for u in on) - unplaced[0],
                 sum(n.memory_mb for n in nodes) - sum(u[1] for u in on) - unplaced[1],
                 sum(n.gpu for n in nodes) - sum(u[2] for u in on) - unplaced[2]]
        bins += [[n.cpu - u[0], n.memory_mb - u[1], n.gpu - u[2], set(n.features), total]
                 for n, u in zip(nodes, on, strict=True)]
        if plan.action == "reuse" and plan.add_hosts:
            problems.append(f"{site.id}: reuse adds hosts")
    elif plan.cluster is not None:
        problems.append(f"{site.id}: create names cluster {plan.cluster}")
    if plan.action in ("scale", "create") and not plan.add_hosts:
        problems.append(f"{site.id}: {plan.action} without hosts")
    for h in plan.add_hosts:
        host = hosts.get(h)
        if host is None:
            problems.append(f"{site.id}: host {h} is not at this site")
            continue
        if host.state != "free":
            problems.append(f"{site.id}: host {h} is not free ({host.state})")
        if h in used_hosts:
            problems.append(f"host {h} allocated twice")
        used_hosts.add(h)
        bins.append([host.cpu, host.memory_mb, host.gpu, set(host.features), None])
    if problems:
        return problems
    replicas = sorted(((c.cpu, c.memory_mb, c.gpu, set(c.features)) for c in comps for _ in range(c.replicas)),
                      key=lambda r: (r[2], len(r[3]), r[0], r[1]), reverse=True)
    verdict = _pack(replicas, bins)
    if verdict is None:
        problems.append(f"{site.id}: packing not verified within budget")
    elif not verdict:
        problems.append(f"{site.id}: replicas of {[c.name for c in comps]} do not fit the plan's capacity")
    return problems


def _fits(r, b) -> bool:
    if r[0] > b[0] + 1e-9 or r[1] > b[1] or r[2] > b[2] or not r[3] <= b[3]:
        return False
    total = b[4]  # a node of a cluster: the cluster's total room left bounds it too
    return total is None or (r[0] <= total[0] + 1e-9 and r[1] <= total[1] and r[2] <= total[2])


def _take(r, b, sign: int) -> None:
    for target in (b, b[4]) if b[4] is not None else (b,):
        target[0] -= sign * r[0]
        target[1] -= sign * r[1]
        target[2] -= sign * r[2]


def _pack(replicas: list, bins: list) -> bool | None:
    """Depth-first search for an assignment of replicas to bins (True/False; None: budget spent)."""
    budget = [PACKING_BUDGET]

    def go(k: int) -> bool | None:
        if k == len(replicas):
            return True
        budget[0] -= 1
        if budget[0] < 0:
            return None
        r = replicas[k]
        tried = set()
        unknown = False
        for b in bins:
            state = (b[0], b[1], b[2], frozenset(b[3]), None if b[4] is None else id(b[4]))
            if state in tried or not _fits(r, b):
                continue
            tried.add(state)
            _take(r, b, 1)
            got = go(k + 1)
            _take(r, b, -1)
            if got:
                return True
            unknown |= got is None
        return None if unknown else False

    return go(0)
