"""The relaxation, solved exactly: a min-sum labelling of the unit graph's spanning forest.

Without the constraints that couple units beyond a tree edge (shared capacity at a site, joint
bandwidth of a site pair, max cost, anti-affinity, min_sites, links off the tree) placing the
units is a min-sum labelling of a tree, which dynamic programming solves exactly in
O(Σ_edges |K_a|·|K_b|), and much less in practice: each child's sites are scanned in increasing
subtree score and the scan stops once no farther one can win. Its optimum is the lower bound the
branch-and-bound (`branch.py`) prunes with. A binding max_cost is priced into it, Lagrangian
style (`budget_price`): the priced optimum minus price × budget is still a lower bound, and a much
tighter one."""

from __future__ import annotations

from legato.placement import rules
from legato.placement.search.couplings import evaluate
from legato.placement.search.state import SearchState

PRICE_STEPS = 8
"""Steps of each phase of the search for the budget's price: the price is multiplied by 4 up to 8
times (from 1 to 4^7 = 16,384 per unit of cost per hour, beyond any score a cost could outweigh),
then bisected 8 times (the bracket narrowed to 1/256). Each step is one DP. Any price gives a
valid lower bound; these steps only decide how tight it is, and beyond 16,384 the budget is left
to the branch-and-bound alone."""


def dp(search: SearchState, fixed: dict[int, int], forbidden: frozenset[tuple[int, int]],
       price: float = 0.0) -> tuple[float, list[int]] | None:
    """The relaxation's optimum with these fixings (each site's cost per hour priced at `price`
    on top of the score: the Lagrangian of max_cost), or None if it has no solution."""
    prob = search.prob
    infos = prob.index.info
    units = prob.units
    latency, bandwidth = prob.latency, search.bandwidth
    lat_cache, bw_cache, n_sites = prob.latency_cache, search.bw_cache, prob.n_sites
    within_latency, has_bandwidth = rules.within_latency, rules.has_bandwidth  # the rules, bound for the loop
    fixed_at: dict[int, tuple[int, ...]] = {}
    for u, i in fixed.items():
        fixed_at[i] = tuple(sorted(fixed_at.get(i, ()) + (u,)))
    value: list[dict[int, float]] = [{} for _ in units]
    ranked: list[list[tuple[float, int]]] = [[] for _ in units]
    pick: list[dict[int, int]] = [{} for _ in units]  # child's site for each of its parent's sites
    conflicts = search.conflicts
    for u in reversed(search.order):
        domain = [fixed[u]] if u in fixed else [i for i in units[u].state.candidates if (u, i) not in forbidden]
        vals = value[u]
        children = search.links_down[u]
        search.work += len(domain) * (1 + len(children))
        base = units[u].state.base
        priced = price * units[u].cpu
        for i in domain:
            others = fixed_at.get(i)
            if others is None or others == (u,):
                total = base[i]
            else:
                total = search.base_at(u, i, fixed_at)
                if total is None:
                    continue
            if priced:
                total += priced * infos[i].cost
            for v, apart, limit, need, w, label in children:
                best, best_j = float("inf"), -1
                child = value[v]
                if not apart and i in child:
                    best, best_j = child[i], i
                for val, j in ranked[v]:
                    if val >= best:
                        break
                    if j == i:
                        continue
                    key = i * n_sites + j if i < j else j * n_sites + i
                    ms = lat_cache.get(key)
                    if ms is None:
                        ms = latency(i, j)
                    cand = val + w * ms
                    if cand >= best:
                        continue  # no better whatever the rules say: their checks are spared
                    if not within_latency(ms, limit):
                        continue
                    bw = bw_cache.get(key)
                    if bw is None:
                        bw = bandwidth(i, j)
                    if not has_bandwidth(bw, need):
                        continue
                    best, best_j = cand, j
                if best_j < 0:
                    conflicts[label] += 1
                    total = None
                    break
                total += best
                pick[v][i] = best_j
            if total is not None:
                vals[i] = total
        if not vals:
            return None
        ranked[u] = sorted((val, i) for i, val in vals.items())
    assign = [-1] * len(units)
    total = 0.0
    for r in search.roots:
        val, i = ranked[r][0]
        total += val
        assign[r] = i
    for u in search.order:
        for v, _ in search.children[u]:
            assign[v] = pick[v][assign[u]]
    return total, assign


def conflict_detail(search: SearchState, label: str) -> str:
    """The closest any candidate pair of the edge came to its latency limit (for reports)."""
    prob = search.prob
    for e in prob.edges:
        if e.label() == label:
            a, b = prob.units[e.a].state.candidates, prob.units[e.b].state.candidates
            pairs = [(prob.latency(i, j), i, j) for i in a[:64] for j in b[:64]]
            if pairs:
                ms, i, j = min(pairs)
                if not rules.within_latency(ms, e.max_latency_ms):
                    return (f"{label}: nearest candidate pair {prob.index.ids[i]}/{prob.index.ids[j]} is {ms:g} "
                            f"ms apart > {e.max_latency_ms:g} ms")
            return f"{label}: no candidate pair within {e.max_latency_ms:g} ms with {e.bandwidth_mbps:g} Mbps"
    return label


def cost_of(search: SearchState, assign: list[int]) -> float:
    """The placement's cost per hour: what max_cost_per_hour bounds."""
    infos, units = search.prob.index.info, search.prob.units
    return sum(infos[i].cost * units[u].cpu for u, i in enumerate(assign))


def budget_price(search: SearchState) -> tuple[tuple[float, list[int]] | None, float]:
    """The smallest price of cost that brings the relaxed optimum within max_cost (doubling,
    then bisection), and the best feasible solution met on the way."""
    budget = search.prob.max_cost
    best: tuple[float, list[int]] | None = None

    def attempt(price: float) -> bool | None:
        nonlocal best
        got = dp(search, {}, frozenset(), price)
        if got is None:
            return None
        if not rules.within_budget(cost_of(search, got[1]), budget):
            return False
        score, violation = evaluate(search, got[1])
        if violation is None and (best is None or score < best[0]):
            best = (score, got[1])
        return True

    lo, hi = 0.0, 1.0
    for _ in range(PRICE_STEPS):
        ok = attempt(hi)
        if ok is None:
            return best, 0.0
        if ok:
            break
        lo, hi = hi, hi * 4
    else:
        return best, 0.0
    for _ in range(PRICE_STEPS):
        mid = (lo + hi) / 2
        if attempt(mid):
            hi = mid
        else:
            lo = mid
    return best, hi
