"""A unit's best sites near a placed neighbour, found by walking the continuum nearest first.

Both the seeds and the certificate ask the same question: where could unit u go, given where some
other units are, that scores below a bar? The answer is among its candidates or around its
costliest placed neighbour: a site's score is at least its base score plus that link's weight
times its latency, so the walk (the continuum's ordered range query, `sites_by_latency`) stops
once the latency alone rules the rest out, looking at a neighbourhood, not the continuum."""

from __future__ import annotations

from legato.placement import rules
from legato.placement.continuum import sites_by_latency
from legato.placement.search.state import SearchState

SCAN_CAP = 3000
"""Sites a nearest-first walk may pass over (most ruled out by their cost and carbon alone, before
any latency is computed) before it gives up and says it is incomplete: ten times a metro area's
sites on the bench's largest continua, so a walk that hits it is searching a region, not a
neighbourhood, and the unit is better widened by its stream."""


def best_move(search: SearchState, u: int, placed: dict[int, int], bar: float, cap: int, apart: bool = False,
              improves=None) -> tuple[list[tuple[float, int]], bool]:
    """Sites where unit `u` scores below `bar` given the units in `placed` (unit -> site), best
    first, looking at its candidates and then at the sites around its most expensive placed
    neighbour, nearest first, until the latency alone rules out the rest: (sites, complete).
    `complete` is False when `cap` sites were looked at before that (or there is no neighbour).
    `apart`: only sites none of the placed units holds. `improves(site)`, when certifying with
    every other unit placed: whether the whole placement with u there keeps every rule and
    scores lower (what this unit's own checks do not see: min_sites, max cost, joint bandwidth,
    the reuse lost by sharing a site); only such a site lowers the bar the walk must beat, so a
    site that only seems better never hides one that is. The candidates are then left out:
    they are the search's own."""
    prob = search.prob
    unit = prob.units[u]
    ids, pos = prob.index.ids, prob.index.pos
    links = [(v, e, placed[v]) for v, e in prob.neighbours[u] if v in placed]
    others: dict[int, list[int]] = {}
    for v, j in placed.items():
        if v != u:
            others.setdefault(j, []).append(v)

    def score_at(i: int, base: float, cached: bool) -> float | None:
        for v, e, k in links:
            ms = prob.latency(i, k) if cached else prob.index.latency(ids[i], ids[k])
            if not rules.link_kept(i, k, ms, e.max_latency_ms, e.bandwidth_mbps, rules.kept_apart(prob.anti, u, v),
                                   search.bandwidth):
                return None
            base += e.weight * ms
        if base >= bar:
            return None
        there = others.get(i)
        if there:
            if apart:
                return None
            for v in there:
                if rules.kept_apart(prob.anti, u, v):
                    return None
            if not search.group(i, tuple(sorted(there + [u])))[0]:
                return None
        return base

    found: list[tuple[float, int]] = []
    if improves is None:  # (certifying, the bar stays the score to beat: the candidates are the search's)
        for i in unit.state.candidates:
            got = score_at(i, unit.state.base[i], True)
            if got is not None:
                found.append((got, i))
        found.sort()
    if not links:
        return found, False
    best = min(bar, found[0][0]) if found else bar
    v, e, k = max(links, key=lambda t: (t[1].weight, -t[1].max_latency_ms, -t[0]))
    floor_links = sum(e2.weight * search.nearest(k2) for v2, e2, k2 in links if v2 != v)
    floor = prob.frontier(unit) + floor_links  # every site outside the candidates scores at least this
    looked = 0
    allowed, partial, bucket_of = unit.state.buckets, unit.state.partial, prob.index.bucket_of
    infos, cw, kw = prob.index.info, unit.cost_weight, unit.carbon_weight
    bar_now = [best]

    scanned = [0]

    def worth(sid: str) -> bool:  # before any latency is computed: its bucket, and cost and carbon leave room
        scanned[0] += 1
        i = pos[sid]
        if allowed is not None and id(bucket_of[i]) not in allowed and i not in partial:
            return False
        info = infos[i]
        return cw * info.cost + kw * info.carbon + floor_links < bar_now[0]

    weight = e.weight

    def useful_ms() -> float:
        if scanned[0] > SCAN_CAP:
            return -1.0  # scanned enough: stop the walk (incomplete)
        return (bar_now[0] - floor) / weight if weight > 0 else float("inf")

    def cost_cap(carbon: float, ms: float) -> float:  # the cost from which a group of sites is too dear or too far
        rest = bar_now[0] - kw * carbon - weight * ms - floor_links
        if cw > 0:
            return rest / cw
        return float("inf") if rest > 0 else float("-inf")

    for ms, sid in sites_by_latency(prob.index.continuum, ids[k], e.max_latency_ms, worth, useful_ms, cost_cap):
        if floor + e.weight * ms >= best:
            return sorted(found), True
        if looked >= cap:
            return sorted(found), False
        j = pos[sid]
        if j in unit.state.base:
            continue
        info = infos[j]
        if cw * info.cost + kw * info.carbon + e.weight * ms + floor_links >= best:
            continue  # its cost and carbon alone rule it out
        looked += 1
        _, why, user_ms, reuse = prob.screen(unit, j)
        if why is not None:
            continue
        got = score_at(j, prob.base_score(unit, j, reuse, user_ms), False)
        # only new bests become candidates (certifying: only moves that really improve)
        if got is not None and got < best and (improves is None or improves(j)) and prob.add_candidate(unit, j):
            found.append((got, j))
            best = bar_now[0] = got
    return sorted(found), scanned[0] <= SCAN_CAP
