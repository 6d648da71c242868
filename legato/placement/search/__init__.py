"""The joint search: exact tree DP inside a branch-and-bound, over candidate sets that grow until
no component could gain by moving alone to a site outside them, and that hold every site that
fits when the continuum is small.

Each step is a module of functions over one `SearchState` (`state.py`: the spanning forest, the
caches and the counters every step shares).

1. **Candidates** (`problem.py` for a unit's own streams, `seeds.py` for the rest). On a small
   continuum (and for a component given its own list of sites) every site that fits is a
   candidate from the start. Otherwise each unit starts with its best few
   sites by base score (the index's ordered streams, which skip the sites no placement can give
   it: `Problem._out_of_reach`), the best few by base score plus the link price of their
   distance to the users it is chained to (its *anchor*), the best sites for each group of three
   or more units joined by tight links to share (a chain can move to another city together) and
   for such a group without its user-facing end (`seed_parts`), the sites of a greedy pass (each
   unit, in graph order, on its best site given those already placed, searched nearest-first
   around a placed neighbour), and its neighbours' best sites (sharing a site makes a link
   free). Under a binding max_cost, its best sites by score plus the budget's price join too.
2. **Relaxation, solved exactly** (`relaxation.py`). Take a spanning forest of the unit graph
   (user-facing units as roots). Without the constraints that couple units beyond a tree edge — shared capacity at a
   site, joint bandwidth of a site pair, max cost, anti-affinity, min_sites, links off the tree —
   the problem is a min-sum labelling of a tree, which dynamic programming solves exactly in
   O(Σ_edges |K_a|·|K_b|) (much less in practice: each child's sites are scanned in increasing
   subtree score and the scan stops once no farther one can win).
3. **Branch-and-bound on the couplings** (`branch.py`; the true score and the couplings it
   checks are in `couplings.py`, the rules themselves in `placement/rules.py`). If the relaxed
   optimum violates a coupling, branch on a unit that can mend it: "not at this site" /
   "exactly at this site" (a unit fixed at a site also shrinks the room and the reuse chances of
   the others there). A violation names every
   unit that could mend it (for min_sites: every unit sharing a site), so a node is dropped only
   when its bound cannot beat the incumbent or no completion of it can be feasible (floors of
   cost and of sites spanned prune those early). Best-first on the DP bound, so the first
   feasible solution whose true score equals its bound is optimal over the candidates.
4. **Certificate, or more candidates, or more nodes** (`certify.py`, with the nearest-first walk
   of `neighbourhood.py`; the rounds in `rounds.py`). A unit is *certified* when no site outside
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

from legato.placement.search.branch import Outcome
from legato.placement.search.rounds import optimise
from legato.placement.search.state import SearchState

__all__ = ["Outcome", "SearchState", "optimise"]
