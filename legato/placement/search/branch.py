"""Branch-and-bound on the couplings, over the candidate sets, with the DP as its bound.

If the relaxed optimum breaks a coupling, branch on a unit that can mend it: "not at this site" /
"exactly at this site" (a unit fixed at a site also shrinks the room and the reuse chances of the
others there). A violation names every unit that could mend it (for min_sites: every unit
sharing a site), so a node is dropped only when its bound cannot beat the incumbent or no
completion of it can be feasible (floors of cost and of sites spanned prune those early).
Best-first on the DP bound, so the first feasible solution whose true score equals its bound is
optimal over the candidates."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from legato.placement import rules
from legato.placement.search import budgets
from legato.placement.search.couplings import Violation, discrepancy, evaluate
from legato.placement.search.relaxation import budget_price, cost_of, dp
from legato.placement.search.state import TOLERANCE, SearchState

NODE_BUDGET = 400
"""Nodes the branch-and-bound may open in the first round; a round that runs out doubles it for
the next. Most services settle in a few dozen nodes; a spread rule or a binding budget can need
thousands, and those get them round by round, within the work budget, while easy ones never pay
for them."""


@dataclass
class Outcome:
    assign: list[int] | None = None
    objective: float = float("inf")
    lower_bound: float = float("-inf")
    proven: bool = False  # the branch-and-bound finished: optimal (or nothing feasible) over the candidate sets
    exact: bool = False  # the candidate sets hold every placement that could be better (see `rounds.optimise`)
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


def solve(search: SearchState, incumbent: tuple[float, list[int]] | None, node_budget: int) -> Outcome:
    """Branch-and-bound over the candidate sets: best-first on the DP bound, depth-first until a
    first solution is known. Branching on "unit u at site s" / "u not at s" splits a node's
    solutions in two, and `evaluate` names every unit that could mend a violation, so a node is
    dropped only when its bound cannot beat the incumbent or no completion of it can be
    feasible. `proven` when no node is left within `node_budget` nodes (and the work budget)."""
    prob = search.prob
    out = Outcome()
    if incumbent is not None:
        out.objective, out.assign = incumbent
    floors = tuple(cost_floor(search, u, {}, frozenset()) for u in range(len(prob.units))) \
        if prob.max_cost is not None else None
    root = dp(search, {}, frozenset()) if may_hold(search, {}, floors) else None
    if root is None:
        out.lower_bound = float("inf")
        out.proven = True
        return out
    price = offset = 0.0
    if prob.max_cost is not None and not rules.within_budget(cost_of(search, root[1]), prob.max_cost, slack=0.0):
        # Lagrangian relaxation of max_cost: price each cost per hour into the DP; the priced
        # optimum minus price × budget is still a lower bound, and a much tighter one
        priced, price = budget_price(search)
        search.price = price
        if priced is not None and priced[0] < out.objective:
            out.objective, out.assign = priced
        offset = price * prob.max_cost
        root = dp(search, {}, frozenset(), price) if price else root
        if root is None:
            out.lower_bound = float("inf")
            out.proven = True
            return out
    seq = 0
    heap = [(root[0] - offset, seq, {}, frozenset(), root[1], floors)]
    diving = out.assign is None  # until a solution is known, depth-first: fix, fix, ... to find one
    while heap and out.nodes < node_budget and search.work < budgets.WORK_BUDGET:
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
        score, violation = evaluate(search, assign)
        if violation is None:
            if score < out.objective:
                out.objective, out.assign = score, assign
            if score <= bound + TOLERANCE * max(1.0, abs(score)):
                continue
            violation = discrepancy(search, assign, fixed)
            if violation is None and price:  # the priced bound is below the score: fix the dearest unit
                infos, units = prob.index.info, prob.units
                dearest = sorted((u for u in range(len(units)) if u not in fixed),
                                 key=lambda u: (-infos[assign[u]].cost * units[u].cpu, u))
                violation = Violation("score", dearest, None, "priced cost") if dearest else None
            if violation is None:
                continue  # the node's best solution is this one (see `discrepancy`)
        else:
            search.conflicts[violation.message.split(":")[0] if violation.kind == "link" else violation.kind] += 1
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
                floors[:u] + (cost_floor(search, u, child_fixed, child_forbidden),) + floors[u + 1:])
            if not may_hold(search, child_fixed, child_floors):
                continue
            child = dp(search, child_fixed, child_forbidden, price)
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


def cost_floor(search: SearchState, u: int, fixed: dict[int, int], forbidden: frozenset[tuple[int, int]]) -> float:
    """The least cost per hour unit u can have in a node: at its fixed site, or at its cheapest
    candidate not forbidden (infinite when none is left)."""
    unit, infos = search.prob.units[u], search.prob.index.info
    if u in fixed:
        return infos[fixed[u]].cost * unit.cpu
    return min((infos[i].cost for i in unit.state.candidates if (u, i) not in forbidden),
               default=float("inf")) * unit.cpu


def may_hold(search: SearchState, fixed: dict[int, int], floors: tuple[float, ...] | None) -> bool:
    """False when no completion of a node can meet max_cost (the units' cost floors already
    exceed it) or min_sites (the fixed units' sites plus one new site per free unit fall short)."""
    prob = search.prob
    if floors is not None and not rules.within_budget(sum(floors), prob.max_cost):
        return False
    return prob.min_sites <= 1 or rules.spans_enough(len(set(fixed.values())) + len(prob.units) - len(fixed),
                                                     prob.min_sites)
