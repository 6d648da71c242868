"""What every technique of the search shares: the spanning forest of the unit graph, the caches
of site pairs and site groups, and the counters that bound the work.

The techniques themselves are modules of functions over one `SearchState`: the relaxation
(`relaxation.py`), the true score and the couplings (`couplings.py`), the branch-and-bound
(`branch.py`), the seeds (`seeds.py`) and the nearest-first walk they use (`neighbourhood.py`),
the certificate and the proofs of infeasibility (`certify.py`), and the rounds that drive them
(`rounds.py`). A unit's own search state (its candidate sites, its stream) is on the unit
(`problem.UnitSites`); this class holds what is about several units at once."""

from __future__ import annotations

from collections import Counter

from legato.placement import rules, scores
from legato.placement.problem import Edge, Problem

TIGHT_MS = 15.0
"""A link allowing at most this many milliseconds is *tight*: its two ends sit in one metro area
(15 ms is a few hundred km of fibre plus both access delays). The seeds treat units joined by
tight links as a group that moves together, and the closure (`certify.close`) lists every site
within a tight link's reach, which is a small neighbourhood only for such links."""

TOLERANCE = 1e-9
"""Relative slack on scores: a bound or a move must beat a score by more than this to count, so
that rounding in sums of floats never makes the search chase, or claim, a gain that is not there."""

GAIN = 1e-9
"""The same, absolute, where a unit's own share of the score is compared (its frontier against
its current share, one round's objective against the last): a gain smaller than this is rounding."""


class SearchState:
    """One search over one `Problem`: the unit graph's spanning forest (user-facing units as
    roots, breadth-first, so the tree keeps the links nearest the users), what the DP reads of each
    tree edge, the links off the tree, the caches, and the counters (DP cells done, conflicts
    met, the Lagrangian price of a binding max_cost)."""

    def __init__(self, prob: Problem):
        self.prob = prob
        self.work = 0  # DP cells computed so far (what the work budget counts)
        self.price = 0.0  # the last solve's price of a unit of cost (Lagrangian of a binding max_cost)
        units = prob.units
        n = len(units)
        # spanning forest, BFS from user-facing units
        seeds = sorted(range(n), key=lambda u: (not units[u].areas, u))
        self.parent: list[int | None] = [None] * n
        self.children: list[list[tuple[int, Edge]]] = [[] for _ in range(n)]
        self.order: list[int] = []
        self.roots: list[int] = []
        seen: set[int] = set()
        tree: set[int] = set()
        for seed in seeds:
            if seed in seen:
                continue
            self.roots.append(seed)
            seen.add(seed)
            queue = [seed]
            while queue:
                u = queue.pop(0)
                self.order.append(u)
                for v, e in prob.neighbours[u]:
                    if v not in seen:
                        seen.add(v)
                        self.parent[v] = u
                        self.children[u].append((v, e))
                        tree.add(id(e))
                        queue.append(v)
        self.extra = [e for e in prob.edges if id(e) not in tree]
        # what the DP reads of each tree edge, per parent: (child, anti-affinity, ms, Mbps, weight, label)
        self.links_down = [[(v, rules.kept_apart(prob.anti, u, v), e.max_latency_ms, e.bandwidth_mbps, e.weight,
                             e.label()) for v, e in self.children[u]] for u in range(n)]
        self._group: dict[tuple[int, tuple[int, ...]], tuple[bool, bool]] = {}
        self.bw_cache: dict[int, float] = {}  # site pair, packed like Problem's latency cache
        self.offered: dict[int, set[int]] = {}  # unit -> sites a neighbour offered it (`seeds.share_sites`)
        self.capped: list[int] = []  # units at their candidate cap that could not be certified
        self.certified: set[tuple[int, tuple[int, ...]]] = set()  # (unit, solution) certified by a walk
        self.too_far: set[tuple[int, int]] = set()  # (edge, unit) the edge's reach is too wide to close
        self.conflicts: Counter = Counter()

    def nearest(self, i: int) -> float:
        """A lower bound on the latency from site i to any other site."""
        return self.prob.nearest(i)

    def bandwidth(self, i: int, j: int) -> float:
        """The bandwidth still free between two sites, memoised per pair (the DP reads the cache
        directly, keyed the same way)."""
        n = self.prob.n_sites
        key = i * n + j if i < j else j * n + i
        bw = self.bw_cache.get(key)
        if bw is None:
            bw = self.bw_cache[key] = self.prob.bandwidth(i, j)
        return bw

    def group(self, i: int, units: tuple[int, ...]) -> tuple[bool, bool]:
        """(fits, reuses a cluster) for these units together at site i."""
        if len(units) == 1:
            reuse = self.prob.units[units[0]].state.reuse.get(i)  # a candidate: planned alone already
            if reuse is not None:
                return True, reuse
        key = (i, units)
        got = self._group.get(key)
        if got is None:
            prob = self.prob
            names = [n for u in units for n in prob.units[u].names]
            replicas = sorted((r for u in units for r in prob.units[u].replicas),
                              key=lambda r: (r.gpu, len(r.features), r.cpu, r.memory_mb), reverse=True)
            plan, _ = prob.index.planner(i).plan(names, replicas, prob.usage, prob.prefer)
            got = self._group[key] = (plan is not None, plan is not None and plan.action == "reuse")
        return got

    def base_at(self, u: int, i: int, fixed_at: dict[int, tuple[int, ...]]) -> float | None:
        """The unit's base score at i given the units fixed there (None: it cannot join them)."""
        unit = self.prob.units[u]
        base = unit.state.base.get(i)
        if base is None:
            return None
        others = fixed_at.get(i)
        if not others or others == (u,):
            return base
        anti = self.prob.anti
        for o in others:
            if rules.kept_apart(anti, o, u):
                return None
        fits, reuse = self.group(i, tuple(sorted(set(others) | {u})))
        if not fits:
            return None
        if unit.state.reuse[i] and not reuse:
            base += scores.new_cluster_penalty(len(unit.components))
        return base
