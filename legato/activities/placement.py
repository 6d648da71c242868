"""Placement reads the continuum and its free room from the inventory, then decides (pure)."""

import asyncio
import time

from temporalio import activity

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import PlaceComponent, PlaceRequest, PlanGrowth, SiteChoice
from legato.federation.decide import decide
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.model import PlacementDecision
from legato.placement import place, place_component, plan_growth


class PlacementActivities(ActivityGroup):
    """Decisions read the worker's live copy of the continuum (`LiveContinuum`): refreshed from
    the sites that changed since the last decision, not re-read whole each time."""

    def __init__(self, inventory: Inventory, live: LiveContinuum, federation: Federation | None = None):
        super().__init__(inventory)
        self.live = live
        self.partners = list(federation.partners.values()) if federation else []

    @activity.defn(name="placement.place")
    @maps_adapter_errors  # heartbeats while it waits for the continuum's copy, which decisions share in turn
    async def place(self, request: PlaceRequest) -> PlacementDecision:
        usage = await self.record(self.inventory.cluster_usage)

        def choose() -> PlacementDecision:
            with self.live.use() as (topology, index):
                source = index
                if request.exclude_sites:
                    source = topology.model_copy(update={"sites": {k: v for k, v in topology.sites.items()
                                                                   if k not in request.exclude_sites}})
                if request.federate and self.partners:  # local or partner, per component (placement stays local)
                    return decide(request.spec, source, usage, self.partners)
                return place(request.spec, source, usage)

        start = time.perf_counter()
        decision = await asyncio.to_thread(choose)
        activity.metric_meter().create_histogram_float(
            "legato_placement_seconds", "Placement decision time", "s"
        ).record(time.perf_counter() - start, {"feasible": str(decision.feasible).lower()})
        return decision

    @activity.defn(name="placement.place_component")
    @maps_adapter_errors
    async def place_component(self, req: PlaceComponent) -> SiteChoice:
        """Where a moved component goes, the others staying put."""
        usage = await self.record(self.inventory.cluster_usage)

        def decide():
            with self.live.use() as (_, index):
                return place_component(req.spec, req.component, index, usage, req.current, req.target_site)

        plan, reason, rejected = await asyncio.to_thread(decide)
        return SiteChoice(plan=plan, reason=reason, rejected=rejected)

    @activity.defn(name="placement.plan_growth")
    @maps_adapter_errors
    async def plan_growth(self, req: PlanGrowth) -> SiteChoice:
        """Room for more replicas on the component's cluster, or the hosts to add to make it."""
        usage = await self.record(self.inventory.cluster_usage)
        extra = req.spec.component(req.component).model_copy(update={"replicas": req.extra_replicas})

        def decide():
            with self.live.use() as (topology, _):
                return plan_growth(topology.sites[req.site], req.cluster_id, [extra], usage)

        plan, reason = await asyncio.to_thread(decide)
        return SiteChoice(plan=plan, reason=reason)
