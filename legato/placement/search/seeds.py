"""Candidate sites beyond each unit's own best: seeds for the joint moves a unit's base score
cannot see, and a quick feasible solution to prune with.

A unit's stream (`problem.py`) yields its sites in increasing base score, blind to where its
neighbours go. A chain of tightly linked units may do best together in a city none of them would
pick alone, a unit with few possible sites pins its neighbours near them, and under a binding
budget (weight_cost 0) the score is blind to cost. Each seed here adds the sites such a move
needs, so the branch-and-bound can find it: a greedy pass (`seed_greedy`), the neighbourhoods of
a restricted unit (`seed_restricted`), the sites a tight group could share whole (`seed_together`)
or without its user-facing end (`seed_parts`), each end of a tight link around the other's best
sites (`seed_tight`), and the best sites by score plus the budget's price (`seed_priced`). Between
rounds, a neighbour's best sites and the solution's sites are shared (`share_sites`,
`share_solution`), and a link no candidate pair satisfies gets sites around its ends (`add_near`).
Seeds only add candidates: no bound or proof relies on them."""

from __future__ import annotations

from legato.placement import rules
from legato.placement.problem import Edge
from legato.placement.search import budgets
from legato.placement.search.couplings import evaluate
from legato.placement.search.neighbourhood import best_move
from legato.placement.search.state import TIGHT_MS, SearchState

GREEDY_CAP = 300
"""Sites a seeding walk (`best_move`) screens around a neighbour's site before it stops: a metro
area of the bench's 10,000-site continua holds a few hundred sites, so one walk covers the
neighbourhood a tight link allows, and a dozen seeding walks stay well under the cost of one
round's DP."""

RESTRICTED = 16
"""A unit with at most this many possible sites (all of them known: its stream is exhausted) pins
its neighbours: each neighbour gets its best sites around each of them. Few enough that walking
around every one is cheap, enough to cover a component held to one city's sites by its rules."""

TIGHT_SOURCES, TIGHT_WALKS = 3, 32
"""Across a tight link, each end is sought around the other end's best few sites: 32 walks in all,
shared by the tight links, and at least 3 per end, so a service with one tight link walks around
16 sites per end and one with many still walks around the best 3 of each."""

TOGETHER, TOGETHER_BUDGET = 4, 300
"""A tight group (or a part of one) gets its 4 best sites to share whole, from a stream over the
index that examines at most 300 sites: a chain settles in one of a few metro areas, and the
single moves of the certificate then spread it over the sites of that metro where that pays."""

SHARE_TOP = 16
"""Each unit is offered its neighbours' 16 best candidates (sharing a site makes their link free;
transitively, a group of linked units can move together). More would grow every unit's set toward
the cap in the first round; the certificate widens further where it cannot prove a unit's site."""

NEAR_SOURCES = 32
"""For a link no candidate pair satisfies, each end gets its best sites around each of the other
end's 32 best candidates: enough that a link of a few ms finds partners around sites that are not
the other end's very best, few enough to bound the walks (each up to GREEDY_CAP sites)."""


def greedy(search: SearchState) -> tuple[float, list[int]] | None:
    """Units in BFS order, each on its best candidate compatible with those already placed."""
    prob = search.prob
    units = prob.units
    assign = [-1] * len(units)
    placed: dict[int, list[int]] = {}
    cost = 0.0
    for u in search.order:
        best: tuple[float, int] | None = None
        for i in units[u].state.candidates:
            score = units[u].state.base[i]
            ok = True
            for v, e in prob.neighbours[u]:
                j = assign[v]
                if j < 0:
                    continue
                ms = prob.latency(i, j)
                if not rules.link_kept(i, j, ms, e.max_latency_ms, e.bandwidth_mbps,
                                       rules.kept_apart(prob.anti, u, v), search.bandwidth):
                    ok = False
                    break
                score += e.weight * ms
            if not ok:
                continue
            if prob.max_cost is not None and not rules.within_budget(cost + prob.index.info[i].cost * units[u].cpu,
                                                                     prob.max_cost, slack=0.0):
                continue
            if placed.get(i) and not search.group(i, tuple(sorted(placed[i] + [u])))[0]:
                continue
            if best is None or (score, i) < best:
                best = (score, i)
        if best is None:
            return None
        assign[u] = best[1]
        placed.setdefault(best[1], []).append(u)
        cost += prob.index.info[best[1]].cost * units[u].cpu
    score, violation = evaluate(search, assign)
    return None if violation else (score, assign)


def seed_greedy(search: SearchState) -> None:
    """Per-component filter-and-score, as a seed: units in BFS order, each on its best site given
    the units already placed (`best_move`). Its sites join the candidates, so the joint search
    starts from a solution at least as good as this greedy one."""
    placed: dict[int, int] = {}
    for u in search.order:
        found, _ = best_move(search, u, placed, float("inf"), GREEDY_CAP)
        if not found:
            return
        placed[u] = found[0][1]


def seed_restricted(search: SearchState) -> None:
    """A unit with only a few possible sites (all known) pins its neighbours near them: each
    neighbour gets its best sites around each of those few (`best_move` with that site fixed)."""
    prob = search.prob
    for e in prob.edges:
        for src, dst in ((e.a, e.b), (e.b, e.a)):
            source, unit = prob.units[src], prob.units[dst]
            if not source.state.exhausted or len(source.state.candidates) > RESTRICTED or unit.state.exhausted:
                continue
            for i in sorted(source.state.candidates, key=lambda k: (source.state.base[k], k)):
                best_move(search, dst, {src: i}, float("inf"), GREEDY_CAP)


def tight_groups(search: SearchState) -> list[list[int]]:
    """The units joined by tight links (at most TIGHT_MS): each group sits in one metro."""
    prob = search.prob
    group_of = list(range(len(prob.units)))

    def root(u: int) -> int:
        while group_of[u] != u:
            u = group_of[u]
        return u

    for e in prob.edges:
        if e.max_latency_ms <= TIGHT_MS:
            group_of[root(e.b)] = root(e.a)
    groups: dict[int, list[int]] = {}
    for u in range(len(prob.units)):
        groups.setdefault(root(u), []).append(u)
    return [g for g in groups.values() if len(g) > 1]


def seed_together(search: SearchState, price: float = 0.0) -> None:
    """A group of units joined by tight links sits in one metro, and on one site their links
    cost nothing: each group of three or more (two or more when priced) gets the best sites
    that could host it whole, its members' scores summed (plus `price` per unit of cost: see
    `seed_priced`) and searched through the index like one unit's, as candidates of every
    member. A chain can then settle in a city none of its parts would pick alone; the
    certificate's single moves spread it over that metro where that pays. When a spread rule
    keeps the group off a single site (anti-affinity inside it, or min_sites), each member
    also gets its best sites of its own around each of those: the metro, apart. (An unpriced
    pair is left to `seed_tight`: each end around the other's best sites.)"""
    prob = search.prob
    for group in tight_groups(search):
        if len(group) < (2 if price else 3):
            continue
        whole = prob.merged([c for u in group for c in prob.units[u].components], -1, tuple(group))
        whole.cost_weight += price * whole.cpu
        prob.open_stream(whole, TOGETHER_BUDGET)
        prob.take(whole, TOGETHER)
        apart = prob.min_sites > len(prob.units) - len(group) + 1 or any(
            rules.kept_apart(prob.anti, a, b) for a in group for b in group)
        for i in whole.state.candidates:
            for u in group:
                prob.add_candidate(prob.units[u], i)
                if apart:
                    best_move(search, u, {v: i for v in group if v != u}, float("inf"), GREEDY_CAP, apart=True)


def seed_parts(search: SearchState) -> None:
    """A tight chain whose user-facing end needs what the rest cannot have (SR-IOV near the
    users, a GPU and NVMe behind them) has no good site to share whole, and each part's best
    sites alone are far apart: the rest of the group, without that end, gets the best sites it
    could share (searched like one unit's, so only sites that end could reach or share), and
    the end its best site around each. The chain can then follow a measured low-latency link
    to a cheap site in another city, none of its parts' own first choice."""
    prob = search.prob
    for group in tight_groups(search):
        if len(group) < 3:
            continue
        inside = {(e.a, e.b) for e in prob.edges if e.max_latency_ms <= TIGHT_MS and e.a in group}
        for x in group:
            if not prob.units[x].areas or sum(x in pair for pair in inside) != 1:
                continue  # a user-facing end of the group only
            rest = tuple(u for u in group if u != x)
            if any(rules.kept_apart(prob.anti, a, b) for a in rest for b in rest):
                continue
            part = prob.merged([c for u in rest for c in prob.units[u].components], -1, rest)
            prob.open_stream(part, TOGETHER_BUDGET)
            prob.take(part, TOGETHER)
            for i in part.state.candidates:
                for u in rest:
                    prob.add_candidate(prob.units[u], i)
                best_move(search, x, {u: i for u in rest}, float("inf"), GREEDY_CAP)


def seed_priced(search: SearchState, price: float) -> None:
    """Under a binding max_cost_per_hour the branch-and-bound prices each unit of cost (the
    Lagrangian `price`), but the candidates were chosen by score alone (with weight_cost 0,
    blind to cost): each unit, and each group of units joined by tight links, gets its best
    few sites by score plus that price as well."""
    prob = search.prob
    for unit in prob.units:
        if unit.state.exhausted:
            continue
        priced = prob.merged(unit.components, unit.index)
        priced.cost_weight += price * priced.cpu
        prob.open_stream(priced, TOGETHER_BUDGET)
        prob.take(priced, budgets.INITIAL_CANDIDATES)
        for i in priced.state.candidates:
            prob.add_candidate(unit, i)
    seed_together(search, price)


def seed_tight(search: SearchState) -> None:
    """Across a tight link, each end gets its best sites around the other end's best few: a
    chain can then settle where its dearest part is cheap, not only where its first part is.
    Only sources the other end can reach are walked around: sharing the site, or a site close
    enough, and not so far from the other end's users that a site within the link's latency
    would be too far from them (a heuristic, as latencies need not add up: seeds only)."""
    prob = search.prob
    area_ms = prob.index.area_ms
    tight = [e for e in prob.edges if e.max_latency_ms <= TIGHT_MS]
    per_end = max(TIGHT_SOURCES, TIGHT_WALKS // max(1, 2 * len(tight)))  # a fixed budget of walks
    for e in tight:
        for src, dst in ((e.a, e.b), (e.b, e.a)):
            source, unit = prob.units[src], prob.units[dst]
            reachable = [i for i in source.state.candidates
                         if (search.nearest(i) <= e.max_latency_ms or prob.screen(unit, i)[1] is None)
                         and all(area_ms[a][i] <= ms + e.max_latency_ms for a, ms, _ in unit.areas)]
            apart = rules.kept_apart(prob.anti, src, dst)
            for i in sorted(reachable, key=lambda k: (source.state.base[k], k))[:per_end]:
                if not any(rules.within_latency(prob.latency(i, j), e.max_latency_ms) and not (apart and i == j)
                           for j in unit.state.candidates):
                    best_move(search, dst, {src: i}, float("inf"), GREEDY_CAP)  # no partner yet: find one


def share_sites(search: SearchState) -> bool:
    """A neighbour's best candidate sites are candidates too, transitively: sharing a site makes
    a link free, and a group of linked units can then move together. So is, whatever its rank,
    every candidate of a neighbour from which all other sites are farther than their link
    allows: the neighbour can use it only if this unit shares it. True if any was added."""
    prob = search.prob
    added = False
    changed = True
    while changed:
        changed = False
        for e in prob.edges:
            for src, dst in ((e.a, e.b), (e.b, e.a)):
                unit = prob.units[dst]
                offered = search.offered.setdefault(dst, set())
                source = prob.units[src]
                ranked = sorted(source.state.candidates, key=lambda k: (source.state.base[k], k))
                alone = [i for i in ranked[SHARE_TOP:] if search.nearest(i) > e.max_latency_ms]
                for i in ranked[:SHARE_TOP] + alone:
                    if len(unit.state.candidates) >= budgets.MAX_CANDIDATES:
                        break
                    if i not in offered:
                        offered.add(i)
                        if i not in unit.state.base and prob.add_candidate(unit, i):
                            changed = added = True
    return added


def add_near(search: SearchState, e: Edge) -> bool:
    """For a link no candidate pair satisfies: each end gets its best sites around each of the
    other end's best candidates (`best_move` with that one placed)."""
    prob = search.prob
    before = sum(len(u.state.candidates) for u in prob.units)
    for src, dst in ((e.a, e.b), (e.b, e.a)):
        source = prob.units[src]
        for i in sorted(source.state.candidates, key=lambda k: (source.state.base[k], k))[:NEAR_SOURCES]:
            best_move(search, dst, {src: i}, float("inf"), GREEDY_CAP)
    return sum(len(u.state.candidates) for u in prob.units) > before


def share_solution(search: SearchState, assign: list[int]) -> bool:
    """Every site the solution uses becomes a candidate of every unit that fits there, so that
    a group of units can move together onto a neighbour's site. True if any was added."""
    prob = search.prob
    added = False
    for unit in prob.units:
        for i in sorted(set(assign)):
            if i not in unit.state.base:
                added |= prob.add_candidate(unit, i)
    return added
