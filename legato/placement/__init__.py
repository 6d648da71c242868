"""Placement: pure functions (no Temporal, no I/O). `place` is the one entry point the
workflows use; `place_component` moves one component. Their input is any `Continuum` (a loaded
`Topology` is one) or a prebuilt `SiteIndex` over one; `check_decision` verifies a decision
independently of the engine."""

from legato.placement.check import check_decision
from legato.placement.continuum import Continuum, GeoContinuum
from legato.placement.engine import place, place_component
from legato.placement.index import SiteIndex
from legato.placement.sites import ClusterUsage, plan_growth, plan_site, replicas_of, select_hosts

__all__ = [
    "ClusterUsage",
    "Continuum",
    "GeoContinuum",
    "SiteIndex",
    "check_decision",
    "place",
    "place_component",
    "plan_growth",
    "plan_site",
    "replicas_of",
    "select_hosts",
]
