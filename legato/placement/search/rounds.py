"""The rounds: search, then widen what the search could not settle, until it is proven and
certified or the work budget is spent."""

from __future__ import annotations

import itertools
from collections import deque

from legato.placement import rules
from legato.placement.problem import Problem
from legato.placement.search import budgets
from legato.placement.search.branch import NODE_BUDGET, Outcome, solve
from legato.placement.search.certify import close, outside_bound, refute, uncertified
from legato.placement.search.seeds import (
    add_near,
    greedy,
    seed_greedy,
    seed_parts,
    seed_priced,
    seed_restricted,
    seed_tight,
    seed_together,
    share_sites,
    share_solution,
)
from legato.placement.search.state import GAIN, TOLERANCE, SearchState

ROUNDS = 5
"""Rounds after which a proven solution stands even if widening could still add candidates: most
decisions settle in two or three; the later rounds of the rest rarely change the solution and
cost the most (the candidate sets have doubled each time)."""

STALL_ROUNDS = 2
"""From this round on, a proven solution that the last widening did not improve stands, uncertified:
the first widening is always worth trying, a second one that found nothing better is a sign the
candidate sets already hold the answer, and the proof then says so honestly."""


def optimise(prob: Problem) -> tuple[SearchState, Outcome]:
    """Search, then widen what the search could not settle, round after round: more candidates
    where a unit might gain by moving alone (or where nothing is feasible), more nodes where the
    branch-and-bound ran out, until the solution is proven and certified or the work budget is
    spent.

    On a small continuum (and for a component given its own list of sites) every site that fits
    is a candidate from the start, so a proven search is optimal over the whole continuum. On a
    large one the outcome is `exact` too when the candidate sets provably hold every better
    placement: every unit's stream was exhausted (or closed, see `certify.close`), or no placement
    moving any unit outside its candidates can score below the solution (`outside_bound`)."""
    search = SearchState(prob)

    def holds_every_better(out: Outcome) -> bool:
        """The search finished, and no placement outside the candidate sets can do better."""
        return out.proven and (all(unit.state.exhausted for unit in prob.units) or (
            out.assign is not None and outside_bound(search) >= out.objective - TOLERANCE * max(1.0, out.objective)))

    for unit in prob.units:
        prob.open_stream(unit)
        whole = isinstance(unit.state.stream, deque)  # every site already screened: all that fit are candidates
        prob.take(unit, len(unit.state.stream) if whole else budgets.INITIAL_CANDIDATES)
        if not unit.state.candidates:
            return search, Outcome(proven=unit.state.exhausted, exact=unit.state.exhausted)
    if prob.max_cost is not None:
        floor = sum(prob.cost_floor(unit) for unit in prob.units)
        if not rules.within_budget(floor, prob.max_cost):
            return search, Outcome(proven=True, exact=True, refuted=(
                f"no placement within max_cost_per_hour {prob.max_cost:g}: the cheapest sites that could host "
                f"each component already cost {floor:.3f}/h"))
    if not all(unit.state.exhausted for unit in prob.units):
        for unit in prob.units:
            prob.take_anchored(unit, budgets.INITIAL_CANDIDATES)
        seed_restricted(search)
        seed_together(search)
        seed_parts(search)
        seed_tight(search)
        seed_greedy(search)
        share_sites(search)
    best: Outcome | None = None
    previous: float | None = None
    nodes = NODE_BUDGET
    priced = False
    for rounds in itertools.count(1):
        incumbent = (best.objective, best.assign) if best and best.assign else greedy(search)
        out = solve(search, incumbent, nodes)
        out.rounds = rounds
        out.conflicts = search.conflicts
        # judged on the candidate sets this solve searched: the widening below adds sites that no
        # solve has seen yet when the last round stops (judged again at the end if it added none)
        searched = [len(unit.state.candidates) for unit in prob.units]
        out.exact = holds_every_better(out)
        best = out
        if search.work >= budgets.WORK_BUDGET:
            break
        changed = not out.proven  # the same candidates with more nodes may settle it
        if not out.proven:
            nodes *= 2
        seeded = bool(search.price) and not priced  # the budget binds: candidates by price too, once
        if seeded:
            seed_priced(search, search.price)
            priced = changed = True
        if out.assign is None:  # nothing feasible among the candidates: more of them, near the conflicts
            if out.proven and all(unit.state.exhausted for unit in prob.units):
                break  # nothing feasible anywhere
            grow = [u for u in range(len(prob.units)) if not prob.units[u].state.exhausted]
            for label in [c for c, _ in search.conflicts.most_common()]:
                for e in prob.edges:
                    if label.startswith(e.label()):
                        changed |= add_near(search, e)
            closed = close(search)
            if closed and any(not unit.state.candidates for unit in prob.units):
                out.proven = out.exact = True  # a closed unit has no site within reach: nothing feasible anywhere
                break
            out.refuted = refute(search)
            if out.refuted:
                out.proven = out.exact = True
                break
            changed |= closed
        else:
            grow, added = uncertified(search, out.assign)
            added |= share_solution(search, out.assign)
            changed |= added
            if not grow and not added:
                out.certified = not search.capped
                if not changed:
                    break  # proven and certified
            elif (out.proven and not seeded and previous is not None and out.objective >= previous - GAIN
                  and rounds >= STALL_ROUNDS):
                break  # widening stopped paying: keep the solution, uncertified
            previous = out.objective
        for u in grow:
            unit = prob.units[u]
            more = min(len(unit.state.candidates), budgets.MAX_CANDIDATES - len(unit.state.candidates))
            changed |= prob.take(unit, more) > 0
            changed |= prob.take_anchored(unit, max(1, more // 2)) > 0
        changed |= share_sites(search)
        if not changed or (out.proven and rounds >= ROUNDS):
            break  # every stream exhausted or at its cap, or rounds enough: the solution stands
    if not best.exact and searched == [len(unit.state.candidates) for unit in prob.units]:
        best.exact = holds_every_better(best)  # the last widening only raised frontiers: the same sets
    return search, best
