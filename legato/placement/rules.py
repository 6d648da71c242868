"""The hard rules of a placement, each once, with why it holds.

Every part of the engine that decides whether a placement (or part of one) is allowed asks these:
the problem's screening of a site (`problem.py`), the search's relaxation, true score, seeds and
certificate (`search/`), and the single move (`engine.search_move`). The search's dynamic
programme binds them to locals in its inner loop; it does not restate them. Capacity is the one
rule decided elsewhere, by the site plan (`sites.SitePlanner.plan`, through `SearchState.group`
in the search): whether replicas fit is a packing, not a comparison.

`check.py` restates every rule on its own, on purpose: it audits the engine's decisions, so it
shares none of this code.

Comparisons are written so that a value exactly at its limit is allowed (a link of 10 ms may join
sites 10 ms apart). Floats summed in different orders differ in the last bits, so the budget, a
sum over components, gets `SLACK`; latencies and bandwidths are compared as they are (each is one
value read from the continuum, not a sum the engine made)."""

from __future__ import annotations

from collections.abc import Callable, Collection

SLACK = 1e-9
"""Rounding allowance on a sum of costs (max_cost_per_hour): far below a cent per hour, far above
the error of summing a few hundred products of floats."""


def within_latency(ms: float, max_ms: float) -> bool:
    """A link's two ends, or a component and a user area it serves, are at most the latency the
    spec allows apart (one way, in milliseconds, as the continuum measures it)."""
    return ms <= max_ms


def has_bandwidth(free_mbps: float, need_mbps: float) -> bool:
    """The bandwidth still free between two sites carries what the links between them need. The
    links of a service between the same two sites add up (one pipe), and what other placements
    hold there is already taken off `free_mbps`. Within one site bandwidth is not a limit."""
    return free_mbps >= need_mbps


def kept_apart(anti: Collection[tuple[int, int]], u: int, v: int) -> bool:
    """Anti-affinity: the two units may not share a site (a replica and its standby, two
    instances that must not fail together). `anti` holds the pairs as (lower, higher) index."""
    return (min(u, v), max(u, v)) in anti


def link_kept(i: int, j: int, ms: float, max_ms: float, need_mbps: float, apart: bool,
              bandwidth: Callable[[int, int], float]) -> bool:
    """One link between units at sites i and j (`ms` apart): within its latency, and then either
    on one site, where it costs nothing unless the two are kept apart (anti-affinity), or across
    two with bandwidth enough. `bandwidth` is asked only for that last case: on a large continuum
    it is computed per pair."""
    if not within_latency(ms, max_ms):
        return False
    if i == j:
        return not apart
    return has_bandwidth(bandwidth(i, j), need_mbps)


def within_budget(cost: float, max_cost: float, slack: float = SLACK) -> bool:
    """max_cost_per_hour: what the service's vCPUs cost per hour at their sites, summed, stays
    within the budget."""
    return cost <= max_cost + slack


def spans_enough(sites: int, min_sites: int) -> bool:
    """min_sites: the service is spread over at least that many sites, so that losing one site
    never takes all of it down."""
    return sites >= min_sites


def all_apart(min_sites: int, units: int) -> bool:
    """min_sites as large as the number of units (a unit is one component, or components that
    must share a site) leaves no two of them on one site: anti-affinity between every pair."""
    return min_sites > 1 and min_sites >= units


def allowed(value: str, allowed_values: Collection[str] | None) -> bool:
    """The policy's allowed providers or countries (sovereignty); None allows any."""
    return allowed_values is None or value in allowed_values


def offers_features(needed: frozenset[str], offered: frozenset[str]) -> bool:
    """Hardware: the site (or a host of it) has every feature the component needs (SR-IOV, NVMe...)."""
    return needed <= offered


def offers_gpus(needed: int, largest: int) -> bool:
    """Hardware: a component's GPUs are on one host, so a site needs a host with that many."""
    return not needed or largest >= needed
