"""The joint search: exact tree DP inside a branch-and-bound, over candidate sets that grow until
no component could gain by moving alone to a site outside them, and that hold every site that
fits when the continuum is small.

1. **Candidates.** On a small continuum (and for a component given its own list of sites) every
   site that fits is a candidate from the start. Otherwise each unit starts with its best few
   sites by base score (the index's ordered streams, which skip the sites no placement can give
   it: `Problem._out_of_reach`), the best few by base score plus the link price of their
   distance to the users it is chained to (its *anchor*), the best sites for each group of three
   or more units joined by tight links to share (a chain can move to another city together) and
   for such a group without its user-facing end (`seed_parts`), the sites of a greedy pass (each
   unit, in graph order, on its best site given those already placed, searched nearest-first
   around a placed neighbour), and its neighbours' best sites (sharing a site makes a link
   free). Under a binding max_cost, its best sites by score plus the budget's price join too.
2. **Relaxation, solved exactly.** Take a spanning forest of the unit graph (user-facing units
   as roots). Without the constraints that couple units beyond a tree edge — shared capacity at a
   site, joint bandwidth of a site pair, max cost, anti-affinity, min_sites, links off the tree —
   the problem is a min-sum labelling of a tree, which dynamic programming solves exactly in
   O(Σ_edges |K_a|·|K_b|) (much less in practice: each child's sites are scanned in increasing
   subtree score and the scan stops once no farther one can win).
3. **Branch-and-bound on the couplings.** If the relaxed optimum violates a coupling, branch on
   a unit that can mend it: "not at this site" / "exactly at this site" (a unit fixed at a site
   also shrinks the room and the reuse chances of the others there). A violation names every
   unit that could mend it (for min_sites: every unit sharing a site), so a node is dropped only
   when its bound cannot beat the incumbent or no completion of it can be feasible (floors of
   cost and of sites spanned prune those early). Best-first on the DP bound, so the first
   feasible solution whose true score equals its bound is optimal over the candidates.
4. **Certificate, or more candidates, or more nodes.** A unit is *certified* when no site outside
   its set could improve the solution by moving that unit alone: either its stream's frontier (a
   lower bound on every unseen site's base score) plus the least its links could cost elsewhere
   is already above its current share of the score, or the sites near its costliest neighbour,
   walked nearest-first, run out of improving ones before latency alone rules the rest out (a
   site improves only if the whole placement with the unit there keeps every rule and scores
   lower). Improving sites found that way join the candidates; uncertified units get twice as many; a
   branch-and-bound that ran out of nodes gets twice as many; and the search runs again, until
   the work budget (DP cells, so the same input always gets the same answer) is spent. When
   nothing is feasible, the units of the failing link get the sites within its latency of their
   neighbour's best sites, a unit tightly linked to one whose every possible site is known gets
   all the sites within reach (`close`), and arc consistency over those units may prove that no
   placement exists (`refute`).
5. **What is proven.** `Outcome.proof`: "optimal" when the branch-and-bound finished and the
   candidate sets it searched hold every placement that could be better (every site that fits is
   one, or no placement with a unit elsewhere can score below the solution);
   "optimal-among-candidates" when it finished over candidate sets that do not; "best-found"
   when the budget ran out."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from dataclasses import dataclass, field

from legato.placement import rules, scores
from legato.placement.continuum import count_near, sites_by_latency, sites_near
from legato.placement.problem import Edge, Problem

INITIAL_CANDIDATES = 12
MAX_CANDIDATES = 128
ROUNDS = 5
STALL_ROUNDS = 2  # from this round on, stop when the last widening did not improve the solution
REGION_CAP = 300
BIG_REGION_CAP = 1200
SHARE_TOP = 16
GREEDY_CAP = 300
SCAN_CAP = 3000  # sites a nearest-first walk may look at (most by cost alone) before it gives up
RESTRICTED = 16  # a unit with at most this many possible sites pins its neighbours near them
TIGHT_MS, TIGHT_SOURCES = 15.0, 3  # links this tight seed each end around the other's best few sites
TIGHT_WALKS = 32  # walks for that, shared by the tight links (at least TIGHT_SOURCES per end)
TOGETHER, TOGETHER_BUDGET = 4, 300  # best sites for a group joined by tight links, all on one (sites examined)
NODE_BUDGET = 400  # nodes of the first round; a round that runs out doubles it for the next
WORK_BUDGET = 2_000_000  # DP cells over the whole search (about 3 s here): deterministic, unlike a clock
CLOSE_CAP = 3000  # sites a closure may look at (see `Search.close`)
PRICE_STEPS = 8
NEAR_SOURCES = 32
TOLERANCE = 1e-9


@dataclass
class Violation:
    kind: str  # capacity | link | bandwidth | anti-affinity | cost | spread | score
    units: list[int]
    site: int | None
    message: str


@dataclass
class Outcome:
    assign: list[int] | None = None
    objective: float = float("inf")
    lower_bound: float = float("-inf")
    proven: bool = False  # the branch-and-bound finished: optimal (or nothing feasible) over the candidate sets
    exact: bool = False  # the candidate sets hold every placement that could be better (see `optimise`)
    certified: bool = False  # no unit gains by moving alone to a site outside its candidates (1-opt)
    refuted: str = ""  # why no placement exists, when a bound proves it without searching
    nodes: int = 0
    rounds: int = 0
    conflicts: Counter = field(default_factory=Counter)

    @property
    def proof(self) -> str:
        """What was proven: "optimal" (over the whole continuum; with no assignment: that none
        exists), "optimal-among-candidates", or "best-found" (the search budget ran out first)."""
        if not self.proven:
            return "best-found"
        return "optimal" if self.exact else "optimal-among-candidates"


class Search:
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
        self._bw: dict[int, float] = {}  # site pair, packed like Problem's latency cache
        self._offered: dict[int, set[int]] = {}
        self.capped: list[int] = []  # units at their candidate cap that could not be certified
        self._certified: set[tuple[int, tuple[int, ...]]] = set()  # (unit, solution) certified by a walk
        self._too_far: set[tuple[int, int]] = set()  # (edge, unit) the edge's reach is too wide to close
        self.conflicts: Counter = Counter()

    def nearest(self, i: int) -> float:
        return self.prob.nearest(i)

    # --- shared helpers ---------------------------------------------------------------------------

    def bandwidth(self, i: int, j: int) -> float:
        n = self.prob.n_sites
        key = i * n + j if i < j else j * n + i
        bw = self._bw.get(key)
        if bw is None:
            bw = self._bw[key] = self.prob.bandwidth(i, j)
        return bw

    def group(self, i: int, units: tuple[int, ...]) -> tuple[bool, bool]:
        """(fits, reuses a cluster) for these units together at site i."""
        if len(units) == 1:
            reuse = self.prob.units[units[0]].reuse.get(i)  # a candidate: planned alone already
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
        base = unit.base.get(i)
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
        if unit.reuse[i] and not reuse:
            base += scores.new_cluster_penalty(len(unit.components))
        return base

    # --- the relaxation: exact DP over the spanning forest ---------------------------------------

    def dp(self, fixed: dict[int, int], forbidden: frozenset[tuple[int, int]],
           price: float = 0.0) -> tuple[float, list[int]] | None:
        """The relaxation's optimum with these fixings (each site's cost per hour priced at `price`
        on top of the score: the Lagrangian of max_cost), or None if it has no solution."""
        prob = self.prob
        infos = prob.index.info
        units = prob.units
        latency, bandwidth = prob.latency, self.bandwidth
        lat_cache, bw_cache, n_sites = prob._latency, self._bw, prob.n_sites
        within_latency, has_bandwidth = rules.within_latency, rules.has_bandwidth  # the rules, bound for the loop
        fixed_at: dict[int, tuple[int, ...]] = {}
        for u, i in fixed.items():
            fixed_at[i] = tuple(sorted(fixed_at.get(i, ()) + (u,)))
        value: list[dict[int, float]] = [{} for _ in units]
        ranked: list[list[tuple[float, int]]] = [[] for _ in units]
        pick: list[dict[int, int]] = [{} for _ in units]  # child's site for each of its parent's sites
        conflicts = self.conflicts
        for u in reversed(self.order):
            domain = [fixed[u]] if u in fixed else [i for i in units[u].candidates if (u, i) not in forbidden]
            vals = value[u]
            children = self.links_down[u]
            self.work += len(domain) * (1 + len(children))
            base = units[u].base
            priced = price * units[u].cpu
            for i in domain:
                others = fixed_at.get(i)
                if others is None or others == (u,):
                    total = base[i]
                else:
                    total = self.base_at(u, i, fixed_at)
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
                        if not within_latency(ms, limit):
                            continue
                        bw = bw_cache.get(key)
                        if bw is None:
                            bw = bandwidth(i, j)
                        if not has_bandwidth(bw, need):
                            continue
                        cand = val + w * ms
                        if cand < best:
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
        for r in self.roots:
            val, i = ranked[r][0]
            total += val
            assign[r] = i
        for u in self.order:
            for v, _ in self.children[u]:
                assign[v] = pick[v][assign[u]]
        return total, assign

    def conflict_detail(self, label: str) -> str:
        """The closest any candidate pair of the edge came to its latency limit (for reports)."""
        prob = self.prob
        for e in prob.edges:
            if e.label() == label:
                a, b = prob.units[e.a].candidates, prob.units[e.b].candidates
                pairs = [(prob.latency(i, j), i, j) for i in a[:64] for j in b[:64]]
                if pairs:
                    ms, i, j = min(pairs)
                    if not rules.within_latency(ms, e.max_latency_ms):
                        return (f"{label}: nearest candidate pair {prob.index.ids[i]}/{prob.index.ids[j]} is {ms:g} "
                                f"ms apart > {e.max_latency_ms:g} ms")
                return f"{label}: no candidate pair within {e.max_latency_ms:g} ms with {e.bandwidth_mbps:g} Mbps"
        return label

    # --- the true score and the couplings ----------------------------------------------------------

    def evaluate(self, assign: list[int]) -> tuple[float, Violation | None]:
        prob = self.prob
        units = prob.units
        at: dict[int, list[int]] = {}
        for u, i in enumerate(assign):
            at.setdefault(i, []).append(u)
        total = 0.0
        for i, here in at.items():
            fits, reuse = self.group(i, tuple(here))
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
            if not rules.has_bandwidth(self.bandwidth(*key), need):
                a, b = (prob.index.ids[k] for k in key)
                return float("inf"), Violation("bandwidth", pair_units[key], None,
                                               f"links between {a} and {b} need {need:g} Mbps > "
                                               f"{self.bandwidth(*key):g} Mbps")
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

    def _discrepancy(self, assign: list[int], fixed: dict[int, int]) -> Violation | None:
        """Why the true score exceeds the DP bound where a free unit could change it: a link off the
        tree, or a lost reuse. What only fixed units cause is the same in every solution of the
        node (a lost reuse among fixed units is in the DP already), so without such a discrepancy
        the node's DP optimum is its best solution."""
        prob = self.prob
        for e in self.extra:
            if assign[e.a] != assign[e.b] and (e.a not in fixed or e.b not in fixed):
                return Violation("score", [e.b, e.a], None, "link off the spanning tree")
        at: dict[int, list[int]] = {}
        for u, i in enumerate(assign):
            at.setdefault(i, []).append(u)
        for i, here in at.items():
            if (len(here) > 1 and any(u not in fixed for u in here) and not self.group(i, tuple(here))[1]
                    and any(prob.units[u].reuse[i] for u in here)):
                return Violation("score", list(reversed(here)), i, "reuse lost when sharing a site")
        return None

    # --- branch-and-bound --------------------------------------------------------------------------

    def solve(self, incumbent: tuple[float, list[int]] | None, node_budget: int) -> Outcome:
        """Branch-and-bound over the candidate sets: best-first on the DP bound, depth-first until a
        first solution is known. Branching on "unit u at site s" / "u not at s" splits a node's
        solutions in two, and `evaluate` names every unit that could mend a violation, so a node is
        dropped only when its bound cannot beat the incumbent or no completion of it can be
        feasible. `proven` when no node is left within `node_budget` nodes (and the work budget)."""
        prob = self.prob
        out = Outcome()
        if incumbent is not None:
            out.objective, out.assign = incumbent
        floors = tuple(self.cost_floor(u, {}, frozenset()) for u in range(len(prob.units))) \
            if prob.max_cost is not None else None
        root = self.dp({}, frozenset()) if self.may_hold({}, floors) else None
        if root is None:
            out.lower_bound = float("inf")
            out.proven = True
            return out
        price = offset = 0.0
        if prob.max_cost is not None and not rules.within_budget(self.cost_of(root[1]), prob.max_cost, slack=0.0):
            # Lagrangian relaxation of max_cost: price each cost per hour into the DP; the priced
            # optimum minus price × budget is still a lower bound, and a much tighter one
            priced, price = self.within_budget()
            self.price = price
            if priced is not None and priced[0] < out.objective:
                out.objective, out.assign = priced
            offset = price * prob.max_cost
            root = self.dp({}, frozenset(), price) if price else root
            if root is None:
                out.lower_bound = float("inf")
                out.proven = True
                return out
        seq = 0
        heap = [(root[0] - offset, seq, {}, frozenset(), root[1], floors)]
        diving = out.assign is None  # until a solution is known, depth-first: fix, fix, ... to find one
        while heap and out.nodes < node_budget and self.work < WORK_BUDGET:
            if diving and out.assign is not None:
                diving = False
                heapq.heapify(heap)
            bound, _, fixed, forbidden, assign, floors = heap.pop() if diving else heapq.heappop(heap)
            if bound >= out.objective - TOLERANCE * max(1.0, abs(out.objective)):
                if diving:
                    continue
                heap.clear()
                break
            out.nodes += 1
            score, violation = self.evaluate(assign)
            if violation is None:
                if score < out.objective:
                    out.objective, out.assign = score, assign
                if score <= bound + TOLERANCE * max(1.0, abs(score)):
                    continue
                violation = self._discrepancy(assign, fixed)
                if violation is None and price:  # the priced bound is below the score: fix the dearest unit
                    infos, units = prob.index.info, prob.units
                    dearest = sorted((u for u in range(len(units)) if u not in fixed),
                                     key=lambda u: (-infos[assign[u]].cost * units[u].cpu, u))
                    violation = Violation("score", dearest, None, "priced cost") if dearest else None
                if violation is None:
                    continue  # the node's best solution is this one (see `_discrepancy`)
            else:
                self.conflicts[violation.message.split(":")[0] if violation.kind == "link" else violation.kind] += 1
            free = [u for u in violation.units if u not in fixed]
            if not free:
                continue  # every completion of this node breaks the same rule (see `evaluate`)
            u = free[0]
            site = assign[u]
            branches = [(fixed, forbidden | {(u, site)}), ({**fixed, u: site}, forbidden)]
            if violation.kind in ("cost", "spread"):
                branches.reverse()  # diving takes the last first: leaving the site is what mends these
            for child_fixed, child_forbidden in branches:
                child_floors = None if floors is None else (
                    floors[:u] + (self.cost_floor(u, child_fixed, child_forbidden),) + floors[u + 1:])
                if not self.may_hold(child_fixed, child_floors):
                    continue
                child = self.dp(child_fixed, child_forbidden, price)
                if child is not None and child[0] - offset < out.objective:
                    seq += 1
                    entry = (child[0] - offset, seq, child_fixed, child_forbidden, child[1], child_floors)
                    if diving:
                        heap.append(entry)
                    else:
                        heapq.heappush(heap, entry)
        out.proven = not heap
        out.lower_bound = min(min(h[0] for h in heap), out.objective) if heap else out.objective
        return out

    def cost_floor(self, u: int, fixed: dict[int, int], forbidden: frozenset[tuple[int, int]]) -> float:
        """The least cost per hour unit u can have in a node: at its fixed site, or at its cheapest
        candidate not forbidden (infinite when none is left)."""
        unit, infos = self.prob.units[u], self.prob.index.info
        if u in fixed:
            return infos[fixed[u]].cost * unit.cpu
        return min((infos[i].cost for i in unit.candidates if (u, i) not in forbidden), default=float("inf")) * unit.cpu

    def may_hold(self, fixed: dict[int, int], floors: tuple[float, ...] | None) -> bool:
        """False when no completion of a node can meet max_cost (the units' cost floors already
        exceed it) or min_sites (the fixed units' sites plus one new site per free unit fall short)."""
        prob = self.prob
        if floors is not None and not rules.within_budget(sum(floors), prob.max_cost):
            return False
        return prob.min_sites <= 1 or rules.spans_enough(len(set(fixed.values())) + len(prob.units) - len(fixed),
                                                         prob.min_sites)

    def cost_of(self, assign: list[int]) -> float:
        infos, units = self.prob.index.info, self.prob.units
        return sum(infos[i].cost * units[u].cpu for u, i in enumerate(assign))

    def within_budget(self) -> tuple[tuple[float, list[int]] | None, float]:
        """The smallest price of cost that brings the relaxed optimum within max_cost (doubling,
        then bisection), and the best feasible solution met on the way."""
        budget = self.prob.max_cost
        best: tuple[float, list[int]] | None = None

        def attempt(price: float) -> bool | None:
            nonlocal best
            got = self.dp({}, frozenset(), price)
            if got is None:
                return None
            if not rules.within_budget(self.cost_of(got[1]), budget):
                return False
            score, violation = self.evaluate(got[1])
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

    # --- a quick feasible solution to prune with ---------------------------------------------------

    def greedy(self) -> tuple[float, list[int]] | None:
        """Units in BFS order, each on its best candidate compatible with those already placed."""
        prob = self.prob
        units = prob.units
        assign = [-1] * len(units)
        placed: dict[int, list[int]] = {}
        cost = 0.0
        for u in self.order:
            best: tuple[float, int] | None = None
            for i in units[u].candidates:
                score = units[u].base[i]
                ok = True
                for v, e in prob.neighbours[u]:
                    j = assign[v]
                    if j < 0:
                        continue
                    ms = prob.latency(i, j)
                    if not rules.link_kept(i, j, ms, e.max_latency_ms, e.bandwidth_mbps,
                                           rules.kept_apart(prob.anti, u, v), self.bandwidth):
                        ok = False
                        break
                    score += e.weight * ms
                if not ok:
                    continue
                if prob.max_cost is not None and not rules.within_budget(cost + prob.index.info[i].cost * units[u].cpu,
                                                                         prob.max_cost, slack=0.0):
                    continue
                if placed.get(i) and not self.group(i, tuple(sorted(placed[i] + [u])))[0]:
                    continue
                if best is None or (score, i) < best:
                    best = (score, i)
            if best is None:
                return None
            assign[u] = best[1]
            placed.setdefault(best[1], []).append(u)
            cost += prob.index.info[best[1]].cost * units[u].cpu
        score, violation = self.evaluate(assign)
        return None if violation else (score, assign)

    def best_move(self, u: int, placed: dict[int, int], bar: float, cap: int, apart: bool = False,
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
        prob = self.prob
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
                                       self.bandwidth):
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
                if not self.group(i, tuple(sorted(there + [u])))[0]:
                    return None
            return base

        found: list[tuple[float, int]] = []
        if improves is None:  # (certifying, the bar stays the score to beat: the candidates are the search's)
            for i in unit.candidates:
                got = score_at(i, unit.base[i], True)
                if got is not None:
                    found.append((got, i))
            found.sort()
        if not links:
            return found, False
        best = min(bar, found[0][0]) if found else bar
        v, e, k = max(links, key=lambda t: (t[1].weight, -t[1].max_latency_ms, -t[0]))
        floor_links = sum(e2.weight * self.nearest(k2) for v2, e2, k2 in links if v2 != v)
        floor = prob.frontier(unit) + floor_links  # every site outside the candidates scores at least this
        looked = 0
        allowed, partial, bucket_of = unit.buckets, unit.partial, prob.index.bucket_of
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
            if j in unit.base:
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

    def seed_greedy(self) -> None:
        """Per-component filter-and-score, as a seed: units in BFS order, each on its best site given
        the units already placed (`best_move`). Its sites join the candidates, so the joint search
        starts from a solution at least as good as this greedy one."""
        placed: dict[int, int] = {}
        for u in self.order:
            found, _ = self.best_move(u, placed, float("inf"), GREEDY_CAP)
            if not found:
                return
            placed[u] = found[0][1]

    def seed_restricted(self) -> None:
        """A unit with only a few possible sites (all known) pins its neighbours near them: each
        neighbour gets its best sites around each of those few (`best_move` with that site fixed)."""
        prob = self.prob
        for e in prob.edges:
            for src, dst in ((e.a, e.b), (e.b, e.a)):
                source, unit = prob.units[src], prob.units[dst]
                if not source.exhausted or len(source.candidates) > RESTRICTED or unit.exhausted:
                    continue
                for i in sorted(source.candidates, key=lambda k: (source.base[k], k)):
                    self.best_move(dst, {src: i}, float("inf"), GREEDY_CAP)

    def tight_groups(self) -> list[list[int]]:
        """The units joined by tight links (at most TIGHT_MS): each group sits in one metro."""
        prob = self.prob
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

    def seed_together(self, price: float = 0.0) -> None:
        """A group of units joined by tight links sits in one metro, and on one site their links
        cost nothing: each group of three or more (two or more when priced) gets the best sites
        that could host it whole, its members' scores summed (plus `price` per unit of cost: see
        `seed_priced`) and searched through the index like one unit's, as candidates of every
        member. A chain can then settle in a city none of its parts would pick alone; the
        certificate's single moves spread it over that metro where that pays. When a spread rule
        keeps the group off a single site (anti-affinity inside it, or min_sites), each member
        also gets its best sites of its own around each of those: the metro, apart. (An unpriced
        pair is left to `seed_tight`: each end around the other's best sites.)"""
        prob = self.prob
        for group in self.tight_groups():
            if len(group) < (2 if price else 3):
                continue
            whole = prob.merged([c for u in group for c in prob.units[u].components], -1, tuple(group))
            whole.cost_weight += price * whole.cpu
            prob.open_stream(whole, TOGETHER_BUDGET)
            prob.take(whole, TOGETHER)
            apart = prob.min_sites > len(prob.units) - len(group) + 1 or any(
                rules.kept_apart(prob.anti, a, b) for a in group for b in group)
            for i in whole.candidates:
                for u in group:
                    prob.add_candidate(prob.units[u], i)
                    if apart:
                        self.best_move(u, {v: i for v in group if v != u}, float("inf"), GREEDY_CAP, apart=True)

    def seed_parts(self) -> None:
        """A tight chain whose user-facing end needs what the rest cannot have (SR-IOV near the
        users, a GPU and NVMe behind them) has no good site to share whole, and each part's best
        sites alone are far apart: the rest of the group, without that end, gets the best sites it
        could share (searched like one unit's, so only sites that end could reach or share), and
        the end its best site around each. The chain can then follow a measured low-latency link
        to a cheap site in another city, none of its parts' own first choice."""
        prob = self.prob
        for group in self.tight_groups():
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
                for i in part.candidates:
                    for u in rest:
                        prob.add_candidate(prob.units[u], i)
                    self.best_move(x, {u: i for u in rest}, float("inf"), GREEDY_CAP)

    def seed_priced(self, price: float) -> None:
        """Under a binding max_cost_per_hour the branch-and-bound prices each unit of cost (the
        Lagrangian `price`), but the candidates were chosen by score alone (with weight_cost 0,
        blind to cost): each unit, and each group of units joined by tight links, gets its best
        few sites by score plus that price as well."""
        prob = self.prob
        for unit in prob.units:
            if unit.exhausted:
                continue
            priced = prob.merged(unit.components, unit.index)
            priced.cost_weight += price * priced.cpu
            prob.open_stream(priced, TOGETHER_BUDGET)
            prob.take(priced, INITIAL_CANDIDATES)
            for i in priced.candidates:
                prob.add_candidate(unit, i)
        self.seed_together(price)

    def seed_tight(self) -> None:
        """Across a tight link, each end gets its best sites around the other end's best few: a
        chain can then settle where its dearest part is cheap, not only where its first part is.
        Only sources the other end can reach are walked around: sharing the site, or a site close
        enough, and not so far from the other end's users that a site within the link's latency
        would be too far from them (a heuristic, as latencies need not add up: seeds only)."""
        prob = self.prob
        area_ms = prob.index.area_ms
        tight = [e for e in prob.edges if e.max_latency_ms <= TIGHT_MS]
        per_end = max(TIGHT_SOURCES, TIGHT_WALKS // max(1, 2 * len(tight)))  # a fixed budget of walks
        for e in tight:
            for src, dst in ((e.a, e.b), (e.b, e.a)):
                source, unit = prob.units[src], prob.units[dst]
                reachable = [i for i in source.candidates
                             if (self.nearest(i) <= e.max_latency_ms or prob.screen(unit, i)[1] is None)
                             and all(area_ms[a][i] <= ms + e.max_latency_ms for a, ms, _ in unit.areas)]
                apart = rules.kept_apart(prob.anti, src, dst)
                for i in sorted(reachable, key=lambda k: (source.base[k], k))[:per_end]:
                    if not any(rules.within_latency(prob.latency(i, j), e.max_latency_ms) and not (apart and i == j)
                               for j in unit.candidates):
                        self.best_move(dst, {src: i}, float("inf"), GREEDY_CAP)  # no partner yet: find one

    # --- candidate sets ------------------------------------------------------------------------

    def uncertified(self, assign: list[int]) -> tuple[list[int], bool]:
        """Units that might improve by moving alone to a site outside their candidates (to widen),
        and whether improving sites were found and added (the search must run again).

        Moving unit u from site i to an unexamined site j costs at least base(j) plus, per
        neighbour at site k, weight × nearest(k) (k itself is always a candidate of u when it can
        host u, so j != k). It is an improvement only if that is below u's current share of the
        score (plus the reuse penalty its leaving lifts from the units left at i, if they can then
        reuse a cluster). So u is certified when its stream's frontier is already too high; or when
        the sites close enough to one neighbour to possibly improve have all been examined
        (`best_move`, capped), a site counting only if the whole placement with u there improves."""
        prob = self.prob
        units = prob.units
        at: dict[int, list[int]] = {}
        for u, i in enumerate(assign):
            at.setdefault(i, []).append(u)
        widen, added = [], False
        self.capped = []
        total = self.evaluate(assign)[0]
        for u, unit in enumerate(units):
            if unit.exhausted:
                continue
            capped = len(unit.candidates) >= MAX_CANDIDATES or unit.spent
            i = assign[u]
            here = at[i]
            reuse = self.group(i, tuple(here))[1]
            current = prob.base_score(unit, i, reuse)
            rest = tuple(o for o in here if o != u)
            if rest and not reuse and self.group(i, rest)[1]:  # without u, the others would reuse a cluster
                current += scores.new_cluster_penalty(sum(len(units[o].components) for o in rest))
            floor = []
            for v, e in prob.neighbours[u]:
                k = assign[v]
                prob.add_candidate(unit, k)
                current += e.weight * prob.latency(i, k)
                floor.append((v, e, k, e.weight * self.nearest(k)))
            frontier = prob.frontier(unit)
            links_floor = sum(f[3] for f in floor)
            if frontier + links_floor >= current - 1e-9:
                continue
            key = (u, tuple(assign))
            if key in self._certified:
                continue  # same solution, same walk: certified already
            others = {v: j for v, j in enumerate(assign) if v != u}
            before = len(unit.candidates)

            def improves(j: int, u: int = u) -> bool:
                score, violation = self.evaluate([j if v == u else k for v, k in enumerate(assign)])
                return violation is None and score < total - TOLERANCE * max(1.0, total)

            _, complete = self.best_move(u, others, current - 1e-9, BIG_REGION_CAP if capped else REGION_CAP,
                                         improves=improves)
            added |= len(unit.candidates) > before
            if complete and len(unit.candidates) == before:
                self._certified.add(key)
            if not complete:
                (self.capped if capped else widen).append(u)
        return widen, added

    def share_sites(self) -> bool:
        """A neighbour's best candidate sites are candidates too, transitively: sharing a site makes
        a link free, and a group of linked units can then move together. So is, whatever its rank,
        every candidate of a neighbour from which all other sites are farther than their link
        allows: the neighbour can use it only if this unit shares it. True if any was added."""
        prob = self.prob
        added = False
        changed = True
        while changed:
            changed = False
            for e in prob.edges:
                for src, dst in ((e.a, e.b), (e.b, e.a)):
                    unit = prob.units[dst]
                    offered = self._offered.setdefault(dst, set())
                    source = prob.units[src]
                    ranked = sorted(source.candidates, key=lambda k: (source.base[k], k))
                    alone = [i for i in ranked[SHARE_TOP:] if self.nearest(i) > e.max_latency_ms]
                    for i in ranked[:SHARE_TOP] + alone:
                        if len(unit.candidates) >= MAX_CANDIDATES:
                            break
                        if i not in offered:
                            offered.add(i)
                            if i not in unit.base and prob.add_candidate(unit, i):
                                changed = added = True
        return added

    def add_near(self, e: Edge) -> bool:
        """For a link no candidate pair satisfies: each end gets its best sites around each of the
        other end's best candidates (`best_move` with that one placed)."""
        prob = self.prob
        before = sum(len(u.candidates) for u in prob.units)
        for src, dst in ((e.a, e.b), (e.b, e.a)):
            source = prob.units[src]
            for i in sorted(source.candidates, key=lambda k: (source.base[k], k))[:NEAR_SOURCES]:
                self.best_move(dst, {src: i}, float("inf"), GREEDY_CAP)
        return sum(len(u.candidates) for u in prob.units) > before

    def close(self) -> bool:
        """A unit linked to one whose every possible site is a candidate (exhausted) can only be
        within the link's latency of one of those sites: when they are few (a tight link, and
        CLOSE_CAP sites at most), each that can host it becomes a candidate and the unit counts as
        exhausted too, and so on along the links. This is what lets a search that finds nothing
        feasible prove it (`refute`). True if any unit was closed."""
        prob = self.prob
        continuum, ids, pos = prob.index.continuum, prob.index.ids, prob.index.pos
        closed = False
        while True:
            changed = False
            for e in prob.edges:
                if e.max_latency_ms > TIGHT_MS:
                    continue
                for src, dst in ((e.a, e.b), (e.b, e.a)):
                    source, unit = prob.units[src], prob.units[dst]
                    if not source.exhausted or unit.exhausted or (id(e), dst) in self._too_far:
                        continue
                    sources = [ids[i] for i in source.candidates]
                    looked = 0
                    for sid in sources:
                        looked += count_near(continuum, sid, e.max_latency_ms)
                        if looked > CLOSE_CAP:
                            break
                    if looked > CLOSE_CAP:
                        self._too_far.add((id(e), dst))  # the source's sites are all known: it stays so
                        continue
                    may_host = prob.may_host(unit)
                    for sid in sources:
                        for near in sites_near(continuum, sid, e.max_latency_ms, may_host):
                            prob.add_candidate(unit, pos[near])
                    unit.exhausted = True
                    unit.closed_by = e.label()
                    changed = closed = True
            if not changed:
                return closed

    def refute(self) -> str:
        """Why no placement exists, if the links between units whose every possible site is known
        (exhausted) already rule out every site of one of them, whatever the others do: arc
        consistency over those units, a site staying only while each linked unit keeps a site that
        meets the link with it (latency, bandwidth, anti-affinity when shared). "" if it does not."""
        prob = self.prob
        known = {u for u, unit in enumerate(prob.units) if unit.exhausted}
        sites = {u: set(prob.units[u].candidates) for u in known}
        arcs = [(u, v, e) for e in prob.edges for u, v in ((e.a, e.b), (e.b, e.a)) if u in known and v in known]

        def meets(u: int, i: int, v: int, j: int, e: Edge) -> bool:
            return rules.link_kept(i, j, prob.latency(i, j), e.max_latency_ms, e.bandwidth_mbps,
                                   rules.kept_apart(prob.anti, u, v), self.bandwidth)

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

    def outside_bound(self) -> float:
        """A lower bound on the score of any placement with some unit outside its candidates: that
        unit's frontier plus every other unit's least base score (links only add to it)."""
        prob = self.prob
        lows = []
        for unit in prob.units:
            low = min(unit.base.values())
            lows.append(low if unit.exhausted else min(low, prob.frontier(unit)))
        total = sum(lows)
        return min((prob.frontier(unit) + total - lows[k] for k, unit in enumerate(prob.units)
                    if not unit.exhausted), default=float("inf"))

    def share_solution(self, assign: list[int]) -> bool:
        """Every site the solution uses becomes a candidate of every unit that fits there, so that
        a group of units can move together onto a neighbour's site. True if any was added."""
        prob = self.prob
        added = False
        for unit in prob.units:
            for i in sorted(set(assign)):
                if i not in unit.base:
                    added |= prob.add_candidate(unit, i)
        return added


def optimise(prob: Problem) -> tuple[Search, Outcome]:
    """Search, then widen what the search could not settle, round after round: more candidates
    where a unit might gain by moving alone (or where nothing is feasible), more nodes where the
    branch-and-bound ran out, until the solution is proven and certified or the work budget is
    spent.

    On a small continuum (and for a component given its own list of sites) every site that fits
    is a candidate from the start, so a proven search is optimal over the whole continuum. On a
    large one the outcome is `exact` too when the candidate sets provably hold every better
    placement: every unit's stream was exhausted (or closed, see `Search.close`), or no placement
    moving any unit outside its candidates can score below the solution (`outside_bound`)."""
    search = Search(prob)

    def holds_every_better(out: Outcome) -> bool:
        """The search finished, and no placement outside the candidate sets can do better."""
        return out.proven and (all(unit.exhausted for unit in prob.units) or (
            out.assign is not None and search.outside_bound() >= out.objective - TOLERANCE * max(1.0, out.objective)))

    for unit in prob.units:
        prob.open_stream(unit)
        whole = isinstance(unit.stream, deque)  # every site already screened: all that fit are candidates
        prob.take(unit, len(unit.stream) if whole else INITIAL_CANDIDATES)
        if not unit.candidates:
            return search, Outcome(proven=unit.exhausted, exact=unit.exhausted)
    if prob.max_cost is not None:
        floor = sum(prob.cost_floor(unit) for unit in prob.units)
        if not rules.within_budget(floor, prob.max_cost):
            return search, Outcome(proven=True, exact=True, refuted=(
                f"no placement within max_cost_per_hour {prob.max_cost:g}: the cheapest sites that could host "
                f"each component already cost {floor:.3f}/h"))
    if not all(unit.exhausted for unit in prob.units):
        for unit in prob.units:
            prob.take_anchored(unit, INITIAL_CANDIDATES)
        search.seed_restricted()
        search.seed_together()
        search.seed_parts()
        search.seed_tight()
        search.seed_greedy()
        search.share_sites()
    best: Outcome | None = None
    previous: float | None = None
    nodes = NODE_BUDGET
    priced = False
    for rounds in itertools.count(1):
        incumbent = (best.objective, best.assign) if best and best.assign else search.greedy()
        out = search.solve(incumbent, nodes)
        out.rounds = rounds
        out.conflicts = search.conflicts
        # judged on the candidate sets this solve searched: the widening below adds sites that no
        # solve has seen yet when the last round stops (judged again at the end if it added none)
        searched = [len(unit.candidates) for unit in prob.units]
        out.exact = holds_every_better(out)
        best = out
        if search.work >= WORK_BUDGET:
            break
        changed = not out.proven  # the same candidates with more nodes may settle it
        if not out.proven:
            nodes *= 2
        seeded = bool(search.price) and not priced  # the budget binds: candidates by price too, once
        if seeded:
            search.seed_priced(search.price)
            priced = changed = True
        if out.assign is None:  # nothing feasible among the candidates: more of them, near the conflicts
            if out.proven and all(unit.exhausted for unit in prob.units):
                break  # nothing feasible anywhere
            grow = [u for u in range(len(prob.units)) if not prob.units[u].exhausted]
            for label in [c for c, _ in search.conflicts.most_common()]:
                for e in prob.edges:
                    if label.startswith(e.label()):
                        changed |= search.add_near(e)
            closed = search.close()
            if closed and any(not unit.candidates for unit in prob.units):
                out.proven = out.exact = True  # a closed unit has no site within reach: nothing feasible anywhere
                break
            out.refuted = search.refute()
            if out.refuted:
                out.proven = out.exact = True
                break
            changed |= closed
        else:
            grow, added = search.uncertified(out.assign)
            added |= search.share_solution(out.assign)
            changed |= added
            if not grow and not added:
                out.certified = not search.capped
                if not changed:
                    break  # proven and certified
            elif (out.proven and not seeded and previous is not None and out.objective >= previous - 1e-9
                  and rounds >= STALL_ROUNDS):
                break  # widening stopped paying: keep the solution, uncertified
            previous = out.objective
        for u in grow:
            unit = prob.units[u]
            more = min(len(unit.candidates), MAX_CANDIDATES - len(unit.candidates))
            changed |= prob.take(unit, more) > 0
            changed |= prob.take_anchored(unit, max(1, more // 2)) > 0
        changed |= search.share_sites()
        if not changed or (out.proven and rounds >= ROUNDS):
            break  # every stream exhausted or at its cap, or rounds enough: the solution stands
    if not best.exact and searched == [len(unit.candidates) for unit in prob.units]:
        best.exact = holds_every_better(best)  # the last widening only raised frontiers: the same sets
    return search, best
