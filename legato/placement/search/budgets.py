"""The search's budgets: how many candidate sites a unit starts with and may grow to, and how much
work a whole search may do. Every part of the search reads them here at the moment it needs them
(`budgets.X`, not a copy imported by name), so one assignment changes them everywhere: the tests
use that to cut a search short or to make every site a candidate.

The walks' own caps (how many sites one nearest-first walk may screen) are with the walks:
`seeds.py`, `certify.py`, `neighbourhood.py`; the node budget with the branch-and-bound
(`branch.py`); the rounds with the rounds (`rounds.py`)."""

from __future__ import annotations

INITIAL_CANDIDATES = 12
"""Sites a unit starts with from its stream in increasing base score (and as many again from the
stream ordered by its anchor's users): enough that the best joint placement is usually among them
(a component's first dozen sites usually hold its part of the joint optimum), few enough that the
first DP (|K|² cells per tree edge) stays cheap. A unit that cannot be certified gets twice as
many the next round, so a low start costs rounds, not answers."""

MAX_CANDIDATES = 128
"""The most candidate sites a unit gets by widening: the DP's cost per tree edge grows with the
product of its ends' sets (128² = 16,384 cells), and a unit at the cap that still cannot be
certified is reported as such (`capped`: the proof says "optimal among the candidates")."""

WORK_BUDGET = 2_000_000
"""DP cells over the whole search (about 3 s on the bench machine): the search stops there with
the best solution found. Counting work instead of reading a clock keeps the engine deterministic:
the same input gets the same decision on any machine, under any load."""
