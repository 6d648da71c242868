"""Placement: pure functions (no Temporal, no I/O). `place` is the one entry point the
workflows use, so a stronger engine can replace the first one behind it."""

from legato.placement.engine import place, place_component
from legato.placement.sites import ClusterUsage, plan_growth, plan_site, select_hosts

__all__ = ["ClusterUsage", "place", "place_component", "plan_growth", "plan_site", "select_hosts"]
