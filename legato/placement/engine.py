"""The placement engine: graph-aware, policy-driven, near-optimal, and fast on large continua.

`place` decides a site for every component of a service; `place_component` moves one component
with the others staying where they are. Both are pure and deterministic: same input, same output
(the search's budget counts work, not time).

How (details in `search/` and `index.py`, the model in `problem.py`, the rules and scores in
`rules.py` and `scores.py`):
- the continuum is read through an index (`SiteIndex`) so each component looks only at a few
  good sites (its best by score, found by the threshold algorithm over sorted lists; the best near
  its users and its neighbours' sites, found by nearest-first walks), never at all of them (a small
  continuum is examined whole, every site that fits is a candidate, and every rejection explained);
- the service graph's spanning tree is solved exactly by dynamic programming over those sites,
  inside a branch-and-bound that enforces what couples components (shared capacity, joint
  bandwidth, max cost — also priced into the DP, Lagrangian style —, anti-affinity, min_sites,
  links off the tree) and drops a node only when it cannot beat the best solution or has none;
- the candidate sets grow until no component could gain by moving alone to a site not examined,
  and the node budget until the branch-and-bound finishes, within a work budget.

The decision says what was proven (`PlacementDecision.proof`): "optimal" (over every site that
could host each component; infeasible: that no placement exists), "optimal-among-candidates", or
"best-found" (infeasible: "no placement found within the search budget", which proves nothing).
It records, per component, the score breakdown, the reasons, and a bounded list of the rejected
sites (the best alternatives and examples of each static rejection) with the count of sites
rejected for each reason."""

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
from legato.placement import rules, scores
from legato.placement.continuum import Continuum
from legato.placement.index import OrderedSites, SiteIndex, as_index
from legato.placement.problem import Problem, Unit
from legato.placement.search import Outcome, SearchState, optimise
from legato.placement.search.relaxation import conflict_detail
from legato.placement.search.state import GAIN
from legato.placement.sites import ClusterUsage, as_usage, plan_growth

MAX_REJECTED = 20
"""Rejected sites a component's decision lists at most (and a refused move): the best alternatives
and examples of each rule that excluded sites. A decision is stored in the workflow's history and
shown in the API, so it stays bounded whatever the continuum's size; the counts per reason cover
the rest."""

MAX_ALTERNATIVES = 10
"""Of those, the candidate sites that lost on score or on a coupling, when there are statically
rejected sites to show too: half the list each, so an operator sees both why the chosen site won
and what the rules excluded."""

REASON_LINES = 5
"""Rejection reasons (with their site counts) a component's reasons list, most frequent first."""


def place(spec: ServiceSpec, topology: Topology | Continuum | SiteIndex, usage: ClusterUsage) -> PlacementDecision:
    """Place every component of `spec`; deterministic for the same inputs."""
    index = as_index(topology)
    for i, area in enumerate(spec.user_areas):
        if area.area not in index.areas:
            return PlacementDecision(feasible=False,
                                     infeasible_reason=f"user_areas[{i}].area: unknown user area '{area.area}'")
    prob = Problem(spec, index, usage)
    search, out = optimise(prob)
    if out.assign is None:
        # infeasible only when proven; otherwise the search budget ran out before it found one
        proof = "optimal" if out.proof == "optimal" else "best-found"
        for unit in prob.units:
            if not unit.state.candidates:
                return PlacementDecision(feasible=False, infeasible_reason=_no_site(prob, unit), proof=proof)
        return PlacementDecision(feasible=False, infeasible_reason=_no_combination(prob, search, out), proof=proof)
    return _decision(prob, search, out)


def _unit_name(unit: Unit) -> str:
    if len(unit.components) == 1:
        return f"component '{unit.names[0]}'"
    return "co-located components " + "+".join(f"'{n}'" for n in unit.names)


def _no_site(prob: Problem, unit: Unit) -> str:
    if unit.state.closed_by:
        return (f"{_unit_name(unit)}: no site that fits is within the latency of {unit.state.closed_by} from any site "
                "the other end can take")
    top = sorted(unit.state.reject_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    detail = "; ".join(f"{n} site(s): {w}" for w, n in top) or "no site examined"
    if not unit.state.exhausted:
        return (f"{_unit_name(unit)}: no site that fits found within the search budget ({unit.state.examined} examined "
                f"of {len(prob.index)}; {detail})")
    return f"{_unit_name(unit)}: no site fits ({detail})"


def _no_combination(prob: Problem, search: SearchState, out: Outcome) -> str:
    if out.refuted:
        return out.refuted
    proven = out.proof == "optimal"
    if proven:
        reason = "no combination of sites satisfies the links and shared capacity"
    else:
        reason = "no placement found within the search budget satisfying the links and shared capacity"
    if out.conflicts:
        worst = sorted(out.conflicts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        reason += f" (most frequent conflict: {conflict_detail(search, worst)})"
    if prob.max_cost is not None:
        reason += f" within max_cost_per_hour {prob.max_cost:g}"
    if prob.min_sites > 1:
        reason += f" across min_sites {prob.min_sites}"
    if not proven:
        reason += (f"; searched up to {max(len(u.state.candidates) for u in prob.units)} site(s) of each component, "
                   f"{out.nodes} node(s) in the last of {out.rounds} round(s)")
    return reason


def _decision(prob: Problem, search: SearchState, out: Outcome) -> PlacementDecision:
    spec, index = prob.spec, prob.index
    assign = out.assign
    site_of = {name: assign[prob.unit_of[name]] for name in prob.unit_of}
    plans: dict[int, SitePlan] = {}
    for i in sorted(set(assign), key=lambda k: index.ids[k]):
        comps = [c for c in spec.components if site_of[c.name] == i]
        names = [c.name for c in comps]
        replicas = sorted((r for u in {prob.unit_of[n] for n in names} for r in prob.units[u].replicas),
                          key=lambda r: (r.gpu, len(r.features), r.cpu, r.memory_mb), reverse=True)
        plan, why = index.planner(i).plan(names, replicas, prob.usage, prob.prefer, with_nodes=True)
        if plan is None:  # the search only returns groups whose plan fits: a bug if it ever happens
            raise RuntimeError(f"placement chose {index.ids[i]} for {names}, which do not fit there: {why}")
        plans[i] = plan
    wl = spec.policy.weight_latency
    link_score: dict[str, float] = {c.name: 0.0 for c in spec.components}
    for link in spec.links:
        ms = prob.latency(site_of[link.source], site_of[link.target])
        link_score[link.source] += scores.latency_points(ms, wl)
        link_score[link.target] += scores.latency_points(ms, wl)
    search_note = _search_note(out)
    placements = []
    for comp in spec.components:
        i = site_of[comp.name]
        unit = prob.units[prob.unit_of[comp.name]]
        info = index.info[i]
        plan = plans[i]
        user_ms = sum(index.area_latency(a.area, info.id) for a in spec.user_areas
                      if spec.entry_component(a) == comp.name)
        breakdown = {
            "latency": round(scores.latency_points(user_ms, wl), 4),
            "cost": round(scores.cost_points(info.cost, comp.total_cpu, spec.policy.weight_cost), 4),
            "energy": round(scores.energy_points(info.carbon, comp.total_cpu, spec.policy.weight_energy), 4),
            "reuse": scores.reuse_points(plan.action == "reuse"),
            "links": round(link_score[comp.name], 4),
        }
        score = round(sum(breakdown.values()), 4)
        feasible = len(unit.state.candidates)
        reasons = [
            f"{info.tier} site of {info.provider} in {info.country}",
            f"best joint score among {feasible} candidate site(s) that fit ({unit.state.examined} examined of "
            f"{len(index)})",
            f"site plan: {plan.action}" + (f" cluster {plan.cluster}" if plan.cluster else ""),
        ]
        reasons += _reject_lines(prob, unit)
        reasons.append(search_note)
        placements.append(ComponentPlacement(
            component=comp.name, site=info.id, cluster=plan.cluster, score=score, score_breakdown=breakdown,
            reasons=reasons, rejected=_rejected(prob, search, unit, assign),
        ))
    return PlacementDecision(feasible=True, components=placements, sites=list(plans.values()),
                             objective=round(out.objective, 4), proof=out.proof)


def _search_note(out: Outcome) -> str:
    """The reasons' words for `PlacementDecision.proof`."""
    if out.proof == "optimal":
        note = "joint search: optimal (proven over the whole continuum: no placement elsewhere scores lower)"
    elif out.proven and out.certified:
        note = "joint search: optimal among the candidates, and no component gains by moving alone elsewhere"
    elif out.proven:
        note = "joint search: optimal among the candidates (candidate sets at their cap)"
    else:
        gap = (out.objective - out.lower_bound) / max(abs(out.objective), 1e-9)
        note = f"joint search: best found within the search budget, within {gap:.1%} of the candidates' lower bound"
    return note + f"; {out.nodes} node(s), {out.rounds} round(s)"


def _reject_lines(prob: Problem, unit: Unit) -> list[str]:
    counts = unit.state.reject_counts
    lines = [f"rejected {n} site(s): {w}" for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines = lines[:REASON_LINES]
    rest = len(prob.index) - unit.state.examined - unit.state.explained
    if rest > 0 and isinstance(unit.state.stream, OrderedSites):
        lines.append(f"{rest} site(s) not examined: each scores at least {prob.frontier(unit):.3f} on its own")
    return lines


def _move_score(prob: Problem, search: SearchState, unit: Unit, j: int, assign: list[int]) -> tuple[float | None, str]:
    """The unit's own score at j with every other unit where it is, or why it cannot go there."""
    u = unit.index
    score = unit.state.base[j]
    for v, e in prob.neighbours[u]:
        k = assign[v]
        ms = prob.latency(j, k)
        if not rules.within_latency(ms, e.max_latency_ms):
            return None, f"{e.label()}: {ms:g} ms to {prob.index.ids[k]} > {e.max_latency_ms:g} ms"
        if j != k and not rules.has_bandwidth(search.bandwidth(j, k), e.bandwidth_mbps):
            return None, (f"{e.label()}: needs {e.bandwidth_mbps:g} Mbps, {search.bandwidth(j, k):g} Mbps to "
                          f"{prob.index.ids[k]}")
        score += e.weight * ms
    others = tuple(sorted(v for v in range(len(assign)) if v != u and assign[v] == j))
    for v in others:
        if rules.kept_apart(prob.anti, u, v):
            return None, f"anti-affinity with {prob.units[v].label} there"
    if others and not search.group(j, tuple(sorted(others + (u,))))[0]:
        return None, "not enough room together with " + ", ".join(prob.units[v].label for v in others)
    return score, ""


def _rejected(prob: Problem, search: SearchState, unit: Unit, assign: list[int]) -> list[Candidate]:
    chosen = assign[unit.index]
    chosen_score, _ = _move_score(prob, search, unit, chosen, assign)
    alternatives = []
    for j in unit.state.candidates:
        if j == chosen:
            continue
        score, why = _move_score(prob, search, unit, j, assign)
        if score is None:
            alternatives.append((1, unit.state.base[j], j, None, why))
        else:
            alternatives.append((0, score, j, round(score, 4),
                                 f"score {score:.3f} worse than chosen {chosen_score:.3f}"))
    alternatives.sort()
    rows = [Candidate(site=prob.index.ids[j], score=s, reason=why) for _, _, j, s, why in alternatives]
    rows = rows[:MAX_ALTERNATIVES] if len(unit.state.rejected) else rows[:MAX_REJECTED]
    statics = sorted(unit.state.rejected.items(), key=lambda kv: prob.index.ids[kv[0]])
    room = MAX_REJECTED - len(rows)
    rows += [Candidate(site=prob.index.ids[i], reason=why) for i, why in statics[:room]]
    return rows


@dataclass
class MoveSearch:
    """Where one component would best go, the others staying put, and how it scores where it is."""

    plan: SitePlan | None
    reason: str
    rejected: list[Candidate] = field(default_factory=list)
    score: float | None = None
    current_score: float | None = None  # None: its current site breaks a rule now (see current_reason)
    current_reason: str = ""


def place_component(
    spec: ServiceSpec, name: str, topology: Topology | Continuum | SiteIndex, usage: ClusterUsage,
    current: dict[str, str], target_site: str | None = None,
) -> tuple[SitePlan | None, str, list[Candidate]]:
    """Where to move one component, the others staying where they are (`current`: component -> site).
    Never its current site; a named `target_site` is checked, not searched."""
    found = search_move(spec, name, topology, usage, current, target_site)
    return found.plan, found.reason, found.rejected


def search_move(
    spec: ServiceSpec, name: str, topology: Topology | Continuum | SiteIndex, usage: ClusterUsage,
    current: dict[str, str], target_site: str | None = None,
) -> MoveSearch:
    """`place_component`, plus the scores the rebalancer compares: the best site over the whole
    continuum (candidates come in increasing score on their own, and the walk stops once that alone
    is no better than the best found — links only add to it) and the component's current site,
    scored the same way (its capacity there is its own, so only the rules are checked)."""
    index = as_index(topology)
    usage = as_usage(usage)
    comp = spec.component(name)
    here = current[name]
    unknown = sorted({a.area for a in spec.user_areas} - set(index.areas))
    if unknown:
        return MoveSearch(None, f"unknown user area(s) {unknown}")
    partners = sorted(set(comp.colocate_with) | {c.name for c in spec.components if name in c.colocate_with})
    if partners:
        return MoveSearch(None, f"component '{name}' is co-located with {partners} (colocate_with): "
                                "it cannot move alone")
    prob = Problem(spec, index, usage, joint=False)
    unit = prob.units[prob.unit_of[name]]
    others = {c: s for c, s in current.items() if c != name and c in prob.unit_of}
    rejected: list[tuple[int, float, str, str]] = []  # (rank, score, site, reason)

    def check(i: int, is_current: bool = False) -> tuple[float | None, str]:
        sid = index.ids[i]
        if sid == here and not is_current:
            return None, "current site"
        key, why, user_ms, reuse = prob.screen(unit, i)
        if is_current and key == unit.capacity_key:
            why, reuse = None, True  # the room it takes there is its own
        if why is not None:
            return None, why
        if is_current:
            score = prob.base_score(unit, i, True, user_ms)
        else:
            fits, reuse = prob.exact(unit, i)
            if not fits:
                return None, unit.state.rejected.get(i, "not enough free capacity")
            score = prob.base_score(unit, i, reuse)
        pair_bw: dict[str, float] = {}
        for link in spec.links:
            ends = (link.source, link.target)
            if name not in ends:
                a, b = others.get(link.source), others.get(link.target)
                if a is not None and b is not None and a != b and sid in (a, b):
                    far = b if a == sid else a
                    pair_bw[far] = pair_bw.get(far, 0.0) + link.bandwidth_mbps
                continue
            other = link.target if link.source == name else link.source
            there = others.get(other)
            if there is None:
                continue
            ms = index.latency(sid, there)
            if not rules.within_latency(ms, link.max_latency_ms):
                return None, f"link {link.source}->{link.target}: {ms:g} ms to {there} > {link.max_latency_ms:g} ms"
            score += scores.latency_points(ms, spec.policy.weight_latency)
            if there != sid:
                pair_bw[there] = pair_bw.get(there, 0.0) + link.bandwidth_mbps
        for far, need in sorted(pair_bw.items()):
            left = prob.bandwidth(i, index.pos[far])
            if not rules.has_bandwidth(left, need):
                return None, f"links between {sid} and {far} need {need:g} Mbps > {left:g} Mbps free"
        for other in sorted(set(comp.anti_affinity) | {c.name for c in spec.components if name in c.anti_affinity}):
            if others.get(other) == sid:
                return None, f"anti-affinity with {other} there"
        if prob.max_cost is not None:
            cost = sum(index.sites[s].cost_per_vcpu_hour * spec.component(c).total_cpu for c, s in others.items())
            cost += index.info[i].cost * comp.total_cpu
            if not rules.within_budget(cost, prob.max_cost):
                return None, f"cost {cost:.3f}/h > max_cost_per_hour {prob.max_cost:g}"
        if not rules.spans_enough(len(set(others.values()) | {sid}), prob.min_sites):
            return None, f"the service would span fewer than min_sites {prob.min_sites} sites"
        return score, ""

    now, now_why = check(index.pos[here], is_current=True) if here in index.pos else (None, f"site {here} is gone")
    best: tuple[float, int] | None = None
    if target_site is not None:
        if target_site not in index.pos:
            return MoveSearch(None, f"unknown site '{target_site}'", current_score=now, current_reason=now_why)
        pool = [index.pos[target_site]]
    else:
        prob.open_stream(unit)
        pool = _walk(prob, unit, lambda: best[0] if best else None)
    def rank(i: int) -> int:
        """Sites the rules allow but that fail come before sites the rules exclude anyway: a
        refusal names what was considered, not what was never a candidate."""
        info = index.info[i]
        ruled = (not rules.allowed(info.provider, prob.allowed_providers)
                 or not rules.allowed(info.country, prob.allowed_countries)
                 or comp.placement.rejects(info.id, info.tier, info.country) is not None)
        return 3 if ruled else 1

    for i in pool:
        score, why = check(i)
        if score is None:
            rejected.append((rank(i), 0.0, index.ids[i], why))
            continue
        rejected.append((0, score, index.ids[i], f"score {score:.3f}"))
        if best is None or (score, index.ids[i]) < (best[0], index.ids[best[1]]):
            best = (score, i)
    statics = [(rank(i), 0.0, index.ids[i], why) for i, why in unit.state.rejected.items()]
    rows = _bounded(rejected + statics, best, index)
    if best is None:
        considered = {site for r, _, site, _ in rejected + statics if r < 3}
        shown = [c for c in rows if c.site in considered][:5]
        excluded = len({site for _, _, site, _ in rejected + statics} - considered)
        reasons = "; ".join(f"{c.site}: {c.reason}" for c in shown) or "no site the rules allow"
        more = f"; {excluded} more site(s) excluded by the policy or its placement rules" if excluded else ""
        return MoveSearch(None, f"no site can take component '{name}' ({reasons}{more})", rows,
                          current_score=now, current_reason=now_why)
    plan = _into_own_cluster(index.site(best[1]), spec, comp, usage)
    if plan is None:
        plan, why = index.planner(best[1]).plan([name], unit.replicas, usage, prob.prefer, with_nodes=True)
    return MoveSearch(plan, f"{index.ids[best[1]]} scores {best[0]:.3f}", rows, best[0], now, now_why)


def _into_own_cluster(site: Site, spec: ServiceSpec, comp: Component, usage: ClusterUsage) -> SitePlan | None:
    """A service that already has a cluster at the target site moves into it, grown if need be,
    rather than creating a second one: freeing a site the service left relies on one per site."""
    for cluster in sorted((c for c in site.clusters if c.service_id == spec.id), key=lambda c: c.id):
        plan, _ = plan_growth(site, cluster.id, [comp], usage)
        if plan is not None:
            return plan
    return None


def _walk(prob: Problem, unit: Unit, best_score):
    """The unit's sites in increasing base score, until none left can beat the best found."""
    stream = unit.state.stream
    while True:
        if isinstance(stream, OrderedSites):
            nxt = next(stream, None)
        else:
            nxt = stream.popleft() if stream else None
        if nxt is None:
            return
        bound, i = nxt
        current = best_score()
        if current is not None and bound > current + GAIN:
            return
        yield i


def _bounded(rows: list[tuple[int, float, str, str]], best: tuple[float, int] | None,
             index: SiteIndex) -> list[Candidate]:
    chosen = index.ids[best[1]] if best else None
    seen: set[str] = set()
    out = []
    for rank, score, site, why in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        if site == chosen or site in seen:
            continue
        seen.add(site)
        if rank == 0:
            why = f"{why} worse than chosen {best[0]:.3f}"
            out.append(Candidate(site=site, score=round(score, 4), reason=why))
        else:
            out.append(Candidate(site=site, reason=why))
        if len(out) >= MAX_REJECTED:
            break
    return out
