"""The placement objective: every score term and its coefficient, in one place.

A placement's objective is the sum, over its components, of their score at their site, plus a
term per link; lower is better. Each term is a policy weight times a quantity brought to a common
scale, so that with the default weights (latency 1, cost 1, energy 0.5) a term of 1 means about as
much whichever it is:

    user latency  weight_latency × ms to each user area it serves / MS_PER_POINT
    link latency  weight_latency × ms between the two ends' sites / MS_PER_POINT
    cost          weight_cost × cost per vCPU-hour × vCPU × COST_POINTS
    energy        weight_energy × carbon g/kWh / CARBON_PER_POINT × vCPU × ENERGY_POINTS
    new cluster   NO_REUSE_PENALTY unless its site plan reuses an existing cluster

The engine (`problem.py`, `engine.py`, the search) reads them from here: the per-unit weights of
the search (`per_ms`, `cost_weight`, `carbon_weight`) and the per-component terms a decision
reports (`latency_points`, `cost_points`, `energy_points`). Each is written as the engine has
always computed it, operation for operation, so that scores stay bit-for-bit what they were (two
orders of the same product can differ in the last bit, and a tie broken differently is another
decision). `check.py` recomputes the objective from these definitions on its own, on purpose: an
auditor that shared this module would share its mistakes."""

from __future__ import annotations

MS_PER_POINT = 10
"""10 ms of latency, to users or across a link, weigh one point: the spread between a metro site
(a few ms) and one across Europe (30-40 ms) is then a few points, like the spread in cost."""

COST_POINTS = 10
"""A cost of 0.1 per vCPU-hour per vCPU weighs one point: site prices run from about 0.01 (cloud)
to 0.09 (far edge), so choosing the far edge for a 4-vCPU component costs about 3 points, as much
as 30 ms of latency."""

CARBON_PER_POINT = 100
ENERGY_POINTS = 0.1
"""Carbon intensity per 100 g/kWh, times 0.1 per vCPU: from a low-carbon grid (about 50 g/kWh) to
a coal-heavy one (about 650) is 0.6 points per vCPU, a tie-breaker next to latency and cost
unless the policy weighs energy up."""

ENERGY_POINTS_PER_G = ENERGY_POINTS / CARBON_PER_POINT  # 0.001 exactly as a float: one product, not two

NO_REUSE_PENALTY = 0.5
"""A component whose site plan needs a new cluster (or new nodes) pays half a point over one that
runs on an existing cluster: the deployment takes minutes longer and holds hosts, so between two
otherwise equal sites the one with room on a cluster wins, but 5 ms or a slightly cheaper site
still outweighs it."""


def per_ms(weight_latency: float) -> float:
    """The objective per millisecond of latency (user areas and links alike)."""
    return weight_latency / MS_PER_POINT


def cost_weight(weight_cost: float, cpu: float) -> float:
    """The objective per unit of cost per vCPU-hour, for `cpu` vCPU placed together."""
    return weight_cost * COST_POINTS * cpu


def carbon_weight(weight_energy: float, cpu: float) -> float:
    """The objective per g/kWh of carbon intensity, for `cpu` vCPU placed together."""
    return weight_energy * ENERGY_POINTS_PER_G * cpu


def new_cluster_penalty(components: int) -> float:
    """What `components` components pay together for a site plan that reuses no cluster."""
    return NO_REUSE_PENALTY * components


def site_score(latency_weight: float, user_ms: float, cost_weight: float, cost: float, carbon_weight: float,
               carbon: float, reuses: bool, components: int) -> float:
    """A unit's score at a site on its own (its *base score*): user latency, cost, energy and the
    new-cluster penalty. Links are added by the search, which knows where the other end is."""
    penalty = 0.0 if reuses else NO_REUSE_PENALTY * components  # `new_cluster_penalty`, spared a call
    return latency_weight * user_ms + cost_weight * cost + carbon_weight * carbon + penalty


# --- one component's terms, as a decision reports them (`PlacementDecision` score_breakdown) ------


def latency_points(ms: float, weight_latency: float) -> float:
    """User or link latency of one component (or one link) in points."""
    return ms / MS_PER_POINT * weight_latency


def cost_points(cost_per_vcpu_hour: float, cpu: float, weight_cost: float) -> float:
    return cost_per_vcpu_hour * cpu * COST_POINTS * weight_cost


def energy_points(carbon_g_per_kwh: float, cpu: float, weight_energy: float) -> float:
    return carbon_g_per_kwh / CARBON_PER_POINT * cpu * ENERGY_POINTS * weight_energy


def reuse_points(reuses: bool) -> float:
    return 0.0 if reuses else NO_REUSE_PENALTY


# --- the index's order (`index.py`) -------------------------------------------------------------

VALUE_COST = cost_weight(1.0, 1)
VALUE_CARBON = carbon_weight(0.5, 1)
"""What one vCPU weighs per unit of cost and per g/kWh with the default policy (weight_cost 1,
weight_energy 0.5): the index sorts sites by `VALUE_COST × cost + VALUE_CARBON × carbon` (their
`value`), exact for the default weights and, scaled, a lower bound for any others."""
