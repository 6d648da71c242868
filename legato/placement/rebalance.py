"""Re-optimising running services: for each, the single move that gains the most (pure).

One move per service per run: moves are executed one at a time, make-before-break, and each is
re-checked against the continuum of its own moment; proposing several moves of one service from
one snapshot would let them invalidate each other."""

from __future__ import annotations

from dataclasses import dataclass

from legato.model import ServiceSpec, Topology
from legato.model.proposals import MoveOption
from legato.placement.engine import search_move
from legato.placement.index import SiteIndex, as_index
from legato.placement.sites import ClusterUsage


@dataclass(frozen=True)
class Running:
    spec: ServiceSpec
    sites: dict[str, str]  # component -> site it runs at


def best_move(service: Running, index: SiteIndex, usage: ClusterUsage, min_gain: float) -> MoveOption | None:
    """The move of one component that lowers its score by at least `min_gain` (relative), or
    that takes it off a site it may no longer use; the largest such gain."""
    spec, best = service.spec, None
    for comp in spec.components:
        if comp.name not in service.sites:
            continue
        found = search_move(spec, comp.name, index, usage, service.sites)
        if found.plan is None or found.score is None:
            continue
        here = service.sites[comp.name]
        if found.current_score is None:
            gain = 1.0
            reason = f"{here} breaks a rule now ({found.current_reason}); {found.plan.site} scores {found.score:.3f}"
        else:
            now = found.current_score
            gain = (now - found.score) / now if now > 0 else 0.0
            reason = (f"{comp.name} scores {now:.3f} at {here} and {found.score:.3f} at {found.plan.site} "
                      f"({gain:.0%} better)")
        if gain + 1e-12 < min_gain or (best is not None and gain <= best.gain):
            continue
        best = MoveOption(service_id=spec.id, tenant=spec.tenant, component=comp.name, from_site=here,
                          to_site=found.plan.site, current_score=found.current_score, new_score=found.score,
                          gain=round(gain, 6), reason=reason)
    return best


def propose(services: list[Running], topology: Topology | SiteIndex, usage: ClusterUsage,
            min_gain: float) -> list[MoveOption]:
    """The best move of every service that has one worth making, largest gain first."""
    index = as_index(topology)
    options = [o for s in services if (o := best_move(s, index, usage, min_gain)) is not None]
    return by_gain(options)


def by_gain(options: list[MoveOption]) -> list[MoveOption]:
    """Largest gain first; ties in service order, so runs are reproducible."""
    return sorted(options, key=lambda o: (-o.gain, o.service_id))
