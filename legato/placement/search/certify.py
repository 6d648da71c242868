"""What the search proves about the sites it did not search, and how it widens where it cannot.

A unit is *certified* when no site outside its candidate set could improve the solution by moving
that unit alone: either its stream's frontier (a lower bound on every unseen site's base score)
plus the least its links could cost elsewhere is already above its current share of the score,
or the sites near its costliest neighbour, walked nearest-first, run out of improving ones before
latency alone rules the rest out (`uncertified`, which adds the improving sites it finds). The
whole solution is proven over the continuum when no placement moving any unit outside its
candidates can score below it (`outside_bound`). When nothing is feasible, a unit tightly linked
to one whose every possible site is known gets all the sites within reach (`close`), and arc
consistency over such units may prove that no placement exists (`refute`)."""

from __future__ import annotations

from collections import deque

from legato.placement import rules, scores
from legato.placement.continuum import count_near, sites_near
from legato.placement.problem import Edge
from legato.placement.search import budgets
from legato.placement.search.couplings import evaluate
from legato.placement.search.neighbourhood import best_move
from legato.placement.search.state import GAIN, TIGHT_MS, TOLERANCE, SearchState

REGION_CAP, BIG_REGION_CAP = 300, 1200
"""Sites a certifying walk screens around a unit's costliest neighbour before it gives up: 300, a
metro area, for a unit that can still be widened by its stream (the next round gives it more
candidates anyway); 1,200 for a unit at its candidate cap, for which the walk is the only way left
to find a better site or prove there is none."""

CLOSE_CAP = 3000
"""Sites a closure may list (the sites within a tight link's reach of every site the other end can
take, counted before they are listed): beyond, the link's reach is a region rather than a
neighbourhood, and listing it would cost more than the search it would settle."""


def uncertified(search: SearchState, assign: list[int]) -> tuple[list[int], bool]:
    """Units that might improve by moving alone to a site outside their candidates (to widen),
    and whether improving sites were found and added (the search must run again).

    Moving unit u from site i to an unexamined site j costs at least base(j) plus, per
    neighbour at site k, weight × nearest(k) (k itself is always a candidate of u when it can
    host u, so j != k). It is an improvement only if that is below u's current share of the
    score (plus the reuse penalty its leaving lifts from the units left at i, if they can then
    reuse a cluster). So u is certified when its stream's frontier is already too high; or when
    the sites close enough to one neighbour to possibly improve have all been examined
    (`best_move`, capped), a site counting only if the whole placement with u there improves."""
    prob = search.prob
    units = prob.units
    at: dict[int, list[int]] = {}
    for u, i in enumerate(assign):
        at.setdefault(i, []).append(u)
    widen, added = [], False
    search.capped = []
    total = evaluate(search, assign)[0]
    for u, unit in enumerate(units):
        if unit.state.exhausted:
            continue
        capped = len(unit.state.candidates) >= budgets.MAX_CANDIDATES or unit.state.spent
        i = assign[u]
        here = at[i]
        reuse = search.group(i, tuple(here))[1]
        current = prob.base_score(unit, i, reuse)
        rest = tuple(o for o in here if o != u)
        if rest and not reuse and search.group(i, rest)[1]:  # without u, the others would reuse a cluster
            current += scores.new_cluster_penalty(sum(len(units[o].components) for o in rest))
        floor = []
        for v, e in prob.neighbours[u]:
            k = assign[v]
            prob.add_candidate(unit, k)
            current += e.weight * prob.latency(i, k)
            floor.append((v, e, k, e.weight * search.nearest(k)))
        frontier = prob.frontier(unit)
        links_floor = sum(f[3] for f in floor)
        if frontier + links_floor >= current - GAIN:
            continue
        key = (u, tuple(assign))
        if key in search.certified:
            continue  # same solution, same walk: certified already
        others = {v: j for v, j in enumerate(assign) if v != u}
        before = len(unit.state.candidates)

        def improves(j: int, u: int = u) -> bool:
            score, violation = evaluate(search, [j if v == u else k for v, k in enumerate(assign)])
            return violation is None and score < total - TOLERANCE * max(1.0, total)

        _, complete = best_move(search, u, others, current - GAIN, BIG_REGION_CAP if capped else REGION_CAP,
                                     improves=improves)
        added |= len(unit.state.candidates) > before
        if complete and len(unit.state.candidates) == before:
            search.certified.add(key)
        if not complete:
            (search.capped if capped else widen).append(u)
    return widen, added


def outside_bound(search: SearchState) -> float:
    """A lower bound on the score of any placement with some unit outside its candidates: that
    unit's frontier plus every other unit's least base score (links only add to it)."""
    prob = search.prob
    lows = []
    for unit in prob.units:
        low = min(unit.state.base.values())
        lows.append(low if unit.state.exhausted else min(low, prob.frontier(unit)))
    total = sum(lows)
    return min((prob.frontier(unit) + total - lows[k] for k, unit in enumerate(prob.units)
                if not unit.state.exhausted), default=float("inf"))


def close(search: SearchState) -> bool:
    """A unit linked to one whose every possible site is a candidate (exhausted) can only be
    within the link's latency of one of those sites: when they are few (a tight link, and
    CLOSE_CAP sites at most), each that can host it becomes a candidate and the unit counts as
    exhausted too, and so on along the links. This is what lets a search that finds nothing
    feasible prove it (`refute`). True if any unit was closed."""
    prob = search.prob
    continuum, ids, pos = prob.index.continuum, prob.index.ids, prob.index.pos
    closed = False
    while True:
        changed = False
        for e in prob.edges:
            if e.max_latency_ms > TIGHT_MS:
                continue
            for src, dst in ((e.a, e.b), (e.b, e.a)):
                source, unit = prob.units[src], prob.units[dst]
                if not source.state.exhausted or unit.state.exhausted or (id(e), dst) in search.too_far:
                    continue
                sources = [ids[i] for i in source.state.candidates]
                looked = 0
                for sid in sources:
                    looked += count_near(continuum, sid, e.max_latency_ms)
                    if looked > CLOSE_CAP:
                        break
                if looked > CLOSE_CAP:
                    search.too_far.add((id(e), dst))  # the source's sites are all known: it stays so
                    continue
                may_host = prob.may_host(unit)
                for sid in sources:
                    for near in sites_near(continuum, sid, e.max_latency_ms, may_host):
                        prob.add_candidate(unit, pos[near])
                unit.state.exhausted = True
                unit.state.closed_by = e.label()
                changed = closed = True
        if not changed:
            return closed


def refute(search: SearchState) -> str:
    """Why no placement exists, if the links between units whose every possible site is known
    (exhausted) already rule out every site of one of them, whatever the others do: arc
    consistency over those units, a site staying only while each linked unit keeps a site that
    meets the link with it (latency, bandwidth, anti-affinity when shared). "" if it does not."""
    prob = search.prob
    known = {u for u, unit in enumerate(prob.units) if unit.state.exhausted}
    sites = {u: set(prob.units[u].state.candidates) for u in known}
    arcs = [(u, v, e) for e in prob.edges for u, v in ((e.a, e.b), (e.b, e.a)) if u in known and v in known]

    def meets(u: int, i: int, v: int, j: int, e: Edge) -> bool:
        return rules.link_kept(i, j, prob.latency(i, j), e.max_latency_ms, e.bandwidth_mbps,
                               rules.kept_apart(prob.anti, u, v), search.bandwidth)

    queue = deque(arcs)
    while queue:
        u, v, e = queue.popleft()
        keep = {i for i in sites[u] if any(meets(u, i, v, j, e) for j in sites[v])}
        if keep == sites[u]:
            continue
        sites[u] = keep
        if not keep:
            return (f"no combination of sites satisfies {e.label()} ({e.max_latency_ms:g} ms, "
                    f"{e.bandwidth_mbps:g} Mbps): none of the sites {prob.units[u].label} could take meets "
                    f"it with any site {prob.units[v].label} could take")
        queue.extend(arc for arc in arcs if arc[1] == u)
    return ""
