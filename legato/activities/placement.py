"""Placement reads the continuum and its free room from the inventory, then decides (pure)."""

import asyncio

from temporalio import activity

from legato.activities.base import ActivityGroup
from legato.activities.contracts import PlaceRequest
from legato.model import PlacementDecision
from legato.placement import place


class PlacementActivities(ActivityGroup):
    @activity.defn(name="placement.place")
    async def place(self, request: PlaceRequest) -> PlacementDecision:
        topology = await self.record(self.inventory.topology)
        usage = await self.record(self.inventory.cluster_usage)
        for site in request.exclude_sites:
            topology.sites.pop(site, None)
        return await asyncio.to_thread(place, request.spec, topology, usage)
