"""The true score of a complete placement and the couplings the relaxation leaves out.

The DP (`relaxation.py`) scores each tree edge and each unit alone; a complete placement can still
break what couples units beyond a tree edge: shared capacity at a site, the joint bandwidth of a
site pair, anti-affinity, max_cost_per_hour, min_sites, and the links off the tree. `evaluate`
scores a placement exactly and names, for the first rule it breaks, every unit that could mend
it (the branch-and-bound branches on them); `discrepancy` says why a feasible placement scores
above its DP bound where a free unit could change that."""

from __future__ import annotations

from dataclasses import dataclass

from legato.placement import rules
from legato.placement.search.state import SearchState


@dataclass
class Violation:
    """The first rule a placement breaks: its kind, the units that could mend it (the branch-and-bound
    branches on the first of them not yet fixed), the site where it happens, and the words."""

    kind: str  # capacity | link | bandwidth | anti-affinity | cost | spread | score
    units: list[int]
    site: int | None
    message: str


def evaluate(search: SearchState, assign: list[int]) -> tuple[float, Violation | None]:
    """The placement's score, or infinity and the first rule it breaks (capacity, link latency,
    bandwidth, anti-affinity, cost, spread, in that order), with the units that could mend it."""
    prob = search.prob
    units = prob.units
    at: dict[int, list[int]] = {}
    for u, i in enumerate(assign):
        at.setdefault(i, []).append(u)
    total = 0.0
    for i, here in at.items():
        fits, reuse = search.group(i, tuple(here))
        if not fits:
            biggest = sorted(here, key=lambda u: (-units[u].cpu, u))
            return float("inf"), Violation("capacity", biggest, i, f"shared capacity at {prob.index.ids[i]}")
        for u in here:
            total += prob.base_score(units[u], i, reuse)
    pair_bw: dict[tuple[int, int], float] = {}
    pair_units: dict[tuple[int, int], list[int]] = {}
    for e in prob.edges:
        i, j = assign[e.a], assign[e.b]
        ms = prob.latency(i, j)
        if not rules.within_latency(ms, e.max_latency_ms):
            return float("inf"), Violation("link", [e.b, e.a], j, f"{e.label()}: {ms:g} ms > "
                                           f"{e.max_latency_ms:g} ms")
        total += e.weight * ms
        if i != j:
            key = (min(i, j), max(i, j))
            pair_bw[key] = pair_bw.get(key, 0.0) + e.bandwidth_mbps
            pair_units.setdefault(key, []).extend((e.b, e.a))
    for key, need in pair_bw.items():
        if not rules.has_bandwidth(search.bandwidth(*key), need):
            a, b = (prob.index.ids[k] for k in key)
            return float("inf"), Violation("bandwidth", pair_units[key], None,
                                           f"links between {a} and {b} need {need:g} Mbps > "
                                           f"{search.bandwidth(*key):g} Mbps")
    for a, b in sorted(prob.anti):  # (the pairs kept apart: `rules.kept_apart`)
        if assign[a] == assign[b]:
            return float("inf"), Violation("anti-affinity", [b, a], assign[a],
                                           f"anti-affinity {units[a].label} / {units[b].label}")
    if prob.max_cost is not None:
        cost = sum(prob.index.info[assign[u]].cost * units[u].cpu for u in range(len(units)))
        if not rules.within_budget(cost, prob.max_cost):
            order = sorted(range(len(units)), key=lambda u: -prob.index.info[assign[u]].cost * units[u].cpu)
            return float("inf"), Violation("cost", order, None,
                                           f"cost {cost:.3f}/h > max_cost_per_hour {prob.max_cost:g}")
    if not rules.spans_enough(len(at), prob.min_sites):
        # only a unit sharing its site can add one by moving, and any of them may: all are named
        # (most crowded site first), so the node is dropped only once they are all fixed (none
        # shares: fewer units than min_sites, as co-located components count as one)
        shared = sorted((k for k in at if len(at[k]) > 1), key=lambda k: (-len(at[k]), k))
        return float("inf"), Violation("spread", [u for k in shared for u in reversed(at[k])],
                                       shared[0] if shared else None,
                                       f"spans {len(at)} site(s) < min_sites {prob.min_sites}")
    return total, None


def discrepancy(search: SearchState, assign: list[int], fixed: dict[int, int]) -> Violation | None:
    """Why the true score exceeds the DP bound where a free unit could change it: a link off the
    tree, or a lost reuse. What only fixed units cause is the same in every solution of the
    node (a lost reuse among fixed units is in the DP already), so without such a discrepancy
    the node's DP optimum is its best solution."""
    prob = search.prob
    for e in search.extra:
        if assign[e.a] != assign[e.b] and (e.a not in fixed or e.b not in fixed):
            return Violation("score", [e.b, e.a], None, "link off the spanning tree")
    at: dict[int, list[int]] = {}
    for u, i in enumerate(assign):
        at.setdefault(i, []).append(u)
    for i, here in at.items():
        if (len(here) > 1 and any(u not in fixed for u in here) and not search.group(i, tuple(here))[1]
                and any(prob.units[u].state.reuse[i] for u in here)):
            return Violation("score", list(reversed(here)), i, "reuse lost when sharing a site")
    return None
