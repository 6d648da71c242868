"""Placement reads the continuum and its free room from the inventory, then decides (pure)."""

import asyncio
import time

from temporalio import activity

from legato.activities.base import ActivityGroup
from legato.activities.contracts import PlaceComponent, PlaceRequest, PlanGrowth, SiteChoice
from legato.federation.decide import decide
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.model import PlacementDecision
from legato.placement import place, place_component, plan_growth


class PlacementActivities(ActivityGroup):
    def __init__(self, inventory: Inventory, federation: Federation | None = None):
        super().__init__(inventory)
        self.partners = list(federation.partners.values()) if federation else []

    @activity.defn(name="placement.place")
    async def place(self, request: PlaceRequest) -> PlacementDecision:
        topology = await self.record(self.inventory.topology)
        usage = await self.record(self.inventory.cluster_usage)
        for site in request.exclude_sites:
            topology.sites.pop(site, None)
        start = time.perf_counter()
        if request.federate and self.partners:  # local or partner, per component (placement stays local)
            decision = await asyncio.to_thread(decide, request.spec, topology, usage, self.partners)
        else:
            decision = await asyncio.to_thread(place, request.spec, topology, usage)
        activity.metric_meter().create_histogram_float(
            "legato_placement_seconds", "Placement decision time", "s"
        ).record(time.perf_counter() - start, {"feasible": str(decision.feasible).lower()})
        return decision

    @activity.defn(name="placement.place_component")
    async def place_component(self, req: PlaceComponent) -> SiteChoice:
        """Where a moved component goes, the others staying put."""
        topology = await self.record(self.inventory.topology)
        usage = await self.record(self.inventory.cluster_usage)
        plan, reason, rejected = await asyncio.to_thread(
            place_component, req.spec, req.component, topology, usage, req.current, req.target_site
        )
        return SiteChoice(plan=plan, reason=reason, rejected=rejected)

    @activity.defn(name="placement.plan_growth")
    async def plan_growth(self, req: PlanGrowth) -> SiteChoice:
        """Room for more replicas on the component's cluster, or the hosts to add to make it."""
        topology = await self.record(self.inventory.topology)
        usage = await self.record(self.inventory.cluster_usage)
        extra = req.spec.component(req.component).model_copy(update={"replicas": req.extra_replicas})
        plan, reason = plan_growth(topology.sites[req.site], req.cluster_id, [extra], usage)
        return SiteChoice(plan=plan, reason=reason)
