"""First placement engine: filter, score, and a bounded branch-and-bound over sites.

Components are placed in graph order (user-facing first, then along links) so that each link's
latency is checked as soon as both ends are placed; the search backtracks when a choice leaves a
neighbour without a feasible site, which a per-component filter-and-score would not."""

from __future__ import annotations

from dataclasses import dataclass, field

from legato.model import (
    Candidate,
    Component,
    ComponentPlacement,
    PlacementDecision,
    ServiceSpec,
    Site,
    SitePlan,
    Topology,
)
from legato.placement.sites import ClusterUsage, plan_site

NODE_BUDGET = 20_000
NO_REUSE_PENALTY = 0.5


@dataclass
class _Search:
    spec: ServiceSpec
    topology: Topology
    usage: ClusterUsage
    order: list[Component]
    candidates: dict[str, list[tuple[float, str, dict[str, float]]]]
    best: tuple[float, dict[str, str]] | None = None
    nodes: int = 0
    link_failures: dict[str, int] = field(default_factory=dict)


def _graph_order(spec: ServiceSpec) -> list[Component]:
    entries = [spec.entry_component(a) for a in spec.user_areas]
    seeds = list(dict.fromkeys(entries + [c.name for c in spec.components]))
    neighbours: dict[str, list[str]] = {c.name: [] for c in spec.components}
    for link in spec.links:
        neighbours[link.source].append(link.target)
        neighbours[link.target].append(link.source)
    order: list[str] = []
    for seed in seeds:
        queue = [seed]
        while queue:
            name = queue.pop(0)
            if name not in order:
                order.append(name)
                queue.extend(n for n in neighbours[name] if n not in order)
    return [spec.component(n) for n in order]


def _static_check(spec: ServiceSpec, comp: Component, site: Site, topo: Topology, usage: ClusterUsage):
    """Reasons a site can never host this component, whatever the others do; or its base score."""
    policy = spec.policy
    if policy.allowed_providers is not None and site.provider not in policy.allowed_providers:
        return None, f"provider {site.provider} not allowed by policy"
    if policy.allowed_countries is not None and site.country not in policy.allowed_countries:
        return None, f"country {site.country} not allowed by policy (sovereignty)"
    ruled_out = comp.placement.rejects(site.id, str(site.tier), site.country)
    if ruled_out:
        return None, ruled_out
    missing = set(comp.features) - site.features
    if missing:
        return None, f"lacks features {sorted(missing)}"
    if comp.total_gpu and not any(h.gpu >= comp.gpu for h in site.hosts):
        return None, f"no host with {comp.gpu} GPU(s)"
    user_latency = 0.0
    for area in spec.user_areas:
        if spec.entry_component(area) != comp.name:
            continue
        ms = topo.area_latency(area.area, site.id)
        if ms > area.max_latency_ms:
            return None, f"latency to users in {area.area} {ms:g} ms > {area.max_latency_ms:g} ms"
        user_latency += ms
    plan, why = plan_site(site, [comp], usage, policy.prefer_existing_clusters)
    if plan is None:
        return None, why
    breakdown = {
        "latency": round(user_latency / 10 * policy.weight_latency, 4),
        "cost": round(site.cost_per_vcpu_hour * comp.total_cpu * 10 * policy.weight_cost, 4),
        "energy": round(site.carbon_g_per_kwh / 100 * comp.total_cpu * 0.1 * policy.weight_energy, 4),
        "reuse": 0.0 if plan.action == "reuse" else NO_REUSE_PENALTY,
    }
    return breakdown, ""


def _link_cost(search: _Search, comp: str, site: str, assigned: dict[str, str]) -> tuple[float | None, str]:
    """Latency score of links between `comp` at `site` and already placed components."""
    spec, topo = search.spec, search.topology
    total = 0.0
    pair_bw: dict[tuple[str, str], float] = {}
    for link in spec.links:
        other = link.target if link.source == comp else link.source if link.target == comp else None
        if other is None or other not in assigned:
            continue
        ms = topo.latency(site, assigned[other])
        if ms > link.max_latency_ms:
            limit = link.max_latency_ms
            return None, f"link {link.source}->{link.target}: {ms:g} ms to {assigned[other]} > {limit:g} ms"
        total += ms
    for link in spec.links:
        a, b = assigned.get(link.source), assigned.get(link.target)
        a = site if link.source == comp else a
        b = site if link.target == comp else b
        if a and b and a != b:
            key = tuple(sorted((a, b)))
            pair_bw[key] = pair_bw.get(key, 0.0) + link.bandwidth_mbps
            if pair_bw[key] > topo.bandwidth(a, b):
                return None, f"links between {a} and {b} need {pair_bw[key]:g} Mbps > {topo.bandwidth(a, b):g} Mbps"
    return total / 10 * spec.policy.weight_latency, ""


def _cost_per_hour(spec: ServiceSpec, topo: Topology, assigned: dict[str, str]) -> float:
    return sum(topo.sites[s].cost_per_vcpu_hour * spec.component(c).total_cpu for c, s in assigned.items())


def _search(search: _Search, depth: int, assigned: dict[str, str], score: float) -> None:
    if search.nodes >= NODE_BUDGET or (search.best and score >= search.best[0]):
        return
    search.nodes += 1
    max_cost = search.spec.policy.max_cost_per_hour
    if max_cost is not None and _cost_per_hour(search.spec, search.topology, assigned) > max_cost:
        return
    if depth == len(search.order):
        search.best = (score, dict(assigned))
        return
    comp = search.order[depth]
    for base, site_id, _ in search.candidates[comp.name]:
        link, why = _link_cost(search, comp.name, site_id, assigned)
        if link is None:
            search.link_failures[why] = search.link_failures.get(why, 0) + 1
            continue
        together = [search.spec.component(c) for c, s in assigned.items() if s == site_id] + [comp]
        plan, _ = plan_site(
            search.topology.sites[site_id], together, search.usage, search.spec.policy.prefer_existing_clusters
        )
        if plan is None:
            continue
        assigned[comp.name] = site_id
        _search(search, depth + 1, assigned, score + base + link)
        del assigned[comp.name]


def place(spec: ServiceSpec, topology: Topology, usage: ClusterUsage) -> PlacementDecision:
    """Place every component of `spec`; deterministic for the same inputs."""
    order = _graph_order(spec)
    candidates: dict[str, list[tuple[float, str, dict[str, float]]]] = {}
    rejected: dict[str, dict[str, str]] = {}
    breakdowns: dict[tuple[str, str], dict[str, float]] = {}
    for comp in order:
        candidates[comp.name], rejected[comp.name] = [], {}
        for site in topology.sites.values():
            breakdown, why = _static_check(spec, comp, site, topology, usage)
            if breakdown is None:
                rejected[comp.name][site.id] = why
                continue
            breakdowns[(comp.name, site.id)] = breakdown
            candidates[comp.name].append((sum(breakdown.values()), site.id, breakdown))
        candidates[comp.name].sort(key=lambda t: (t[0], t[1]))
        if not candidates[comp.name]:
            return PlacementDecision(feasible=False, infeasible_reason=_summarise(comp.name, rejected[comp.name]))

    search = _Search(spec, topology, usage, order, candidates)
    _search(search, 0, {}, 0.0)
    if search.best is None:
        reason = "no combination of sites satisfies the links and shared capacity"
        if search.link_failures:
            worst = max(search.link_failures, key=search.link_failures.get)
            reason += f" (most frequent conflict: {worst})"
        if spec.policy.max_cost_per_hour is not None:
            reason += f" within max_cost_per_hour {spec.policy.max_cost_per_hour:g}"
        return PlacementDecision(feasible=False, infeasible_reason=reason)

    objective, assigned = search.best
    return _decision(spec, topology, usage, assigned, breakdowns, candidates, rejected, objective, search)


def _summarise(component: str, reasons: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for why in reasons.values():
        key = why.split(":")[0] if why.startswith("not enough") else why
        counts[key] = counts.get(key, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    return f"component '{component}': no site fits (" + "; ".join(f"{n} site(s): {w}" for w, n in top) + ")"


def _decision(spec, topology, usage, assigned, breakdowns, candidates, rejected, objective, search):
    placements = []
    for comp in spec.components:
        site = assigned[comp.name]
        breakdown = dict(breakdowns[(comp.name, site)])
        others = {c: s for c, s in assigned.items() if c != comp.name}
        link_score, _ = _link_cost(search, comp.name, site, others)
        breakdown["links"] = round(link_score or 0.0, 4)
        chosen_score = sum(breakdown.values())
        rows = [Candidate(site=s, reason=why) for s, why in sorted(rejected[comp.name].items())]
        for base, other_site, _ in candidates[comp.name]:
            if other_site == site:
                continue
            link, why = _link_cost(search, comp.name, other_site, others)
            if link is None:
                rows.append(Candidate(site=other_site, score=round(base, 4), reason=why))
            else:
                rows.append(
                    Candidate(
                        site=other_site,
                        score=round(base + link, 4),
                        reason=f"score {base + link:.3f} worse than chosen {chosen_score:.3f}",
                    )
                )
        site_obj = topology.sites[site]
        placements.append(
            ComponentPlacement(
                component=comp.name,
                site=site,
                score=round(chosen_score, 4),
                score_breakdown=breakdown,
                reasons=[
                    f"{site_obj.tier} site of {site_obj.provider} in {site_obj.country}",
                    f"best weighted score of {len(candidates[comp.name])} feasible site(s)",
                ],
                rejected=rows,
            )
        )
    sites = []
    for site_id in sorted(set(assigned.values())):
        comps = [spec.component(c) for c in assigned if assigned[c] == site_id]
        plan, _ = plan_site(topology.sites[site_id], comps, usage, spec.policy.prefer_existing_clusters)
        sites.append(plan)
        for p in placements:
            if p.site == site_id:
                p.cluster = plan.cluster
                p.reasons.append(f"site plan: {plan.action}" + (f" cluster {plan.cluster}" if plan.cluster else ""))
    return PlacementDecision(feasible=True, components=placements, sites=sites, objective=round(objective, 4))


def place_component(
    spec: ServiceSpec, name: str, topology: Topology, usage: ClusterUsage, current: dict[str, str],
    target_site: str | None = None,
) -> tuple[SitePlan | None, str, list[Candidate]]:
    """Where to move one component, the others staying where they are (`current`: component -> site).
    Never its current site; a named `target_site` is checked, not searched."""
    comp = spec.component(name)
    here = current[name]
    others = {c: s for c, s in current.items() if c != name}
    search = _Search(spec, topology, usage, [comp], {})
    rejected: list[Candidate] = []
    best: tuple[float, str, SitePlan] | None = None
    sites = [target_site] if target_site else sorted(topology.sites)
    for site_id in sites:
        if site_id not in topology.sites:
            return None, f"unknown site '{site_id}'", rejected
        if site_id == here:
            rejected.append(Candidate(site=site_id, reason="current site"))
            continue
        breakdown, why = _static_check(spec, comp, topology.sites[site_id], topology, usage)
        if breakdown is None:
            rejected.append(Candidate(site=site_id, reason=why))
            continue
        link, why = _link_cost(search, name, site_id, others)
        if link is None:
            rejected.append(Candidate(site=site_id, reason=why))
            continue
        plan, why = plan_site(topology.sites[site_id], [comp], usage, spec.policy.prefer_existing_clusters)
        if plan is None:
            rejected.append(Candidate(site=site_id, reason=why))
            continue
        score = sum(breakdown.values()) + link
        if best is None or (score, site_id) < (best[0], best[1]):
            best = (score, site_id, plan)
    if best is None:
        reasons = "; ".join(f"{c.site}: {c.reason}" for c in rejected[:5])
        return None, f"no site can take component '{name}' ({reasons})", rejected
    return best[2], f"{best[1]} scores {best[0]:.3f}", rejected
